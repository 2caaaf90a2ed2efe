package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/outpost-authz/outpost/query"
	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/testenv/datasets"
)

// benchEnv is the environment of the in-process states.
const benchEnv = "bench"

// bench runs the scenarios on one data set size.
type bench struct {
	c     *config
	facts int
	shape datasets.Shape
	dir   string // temporary files of this size, removed by close
	key   string // a read API key; the state holds its token
	state *replica.State
}

func newBench(c *config, facts int) (*bench, error) {
	shape, err := datasets.Describe(datasets.Config{Facts: facts, Seed: c.seed})
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(c.tmpDir, "outpost-bench-")
	if err != nil {
		return nil, err
	}
	return &bench{c: c, facts: facts, shape: shape, dir: dir, key: rand.Text()}, nil
}

func (b *bench) close() { os.RemoveAll(b.dir) }

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.c.log, "%s %dk facts: %s\n", time.Now().Format("15:04:05"), b.facts/1000, fmt.Sprintf(format, args...))
}

// runScenarios runs the configured scenarios in allScenarios order and
// hands each batch of results to add.
func (b *bench) runScenarios(ctx context.Context, add func(...Result)) error {
	type scenario func(context.Context) ([]Result, error)
	run := map[string]scenario{
		"load": b.load, "check": b.check, "http": b.http,
		"checkpoint": b.checkpoint, "writes": b.writes, "ingest": b.ingest, "lag": b.lag,
		"hierarchy": b.hierarchy, "isolation": b.isolation,
	}
	for _, name := range allScenarios {
		if !slices.Contains(b.c.scenarios, name) {
			continue
		}
		start := time.Now()
		b.logf("%s: start (load average %s)", name, loadAvg())
		rs, err := run[name](ctx)
		add(rs...)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		b.logf("%s: done in %.1fs", name, time.Since(start).Seconds())
	}
	return nil
}

func (b *bench) replicaConfig(env string) replica.Config {
	return replica.Config{Env: env, Compiler: query.Compile}
}

// token is the state's token for b.key.
func (b *bench) token() replica.Token {
	sum := sha256.Sum256([]byte(b.key))
	return replica.Token{ID: "bench", SHA256: hex.EncodeToString(sum[:]), Access: "read"}
}

// loaded returns the in-process state of the data set, building it with a
// replica.Loader unless the load scenario already read it from a
// checkpoint.
func (b *bench) loaded() (*replica.State, error) {
	if b.state != nil {
		return b.state, nil
	}
	st, err := b.build()
	b.state = st
	return st, err
}

// build makes a state of the data set with the gitclub policy and b's
// token, as a checkpoint load would.
func (b *bench) build() (*replica.State, error) {
	l := replica.NewLoader(b.replicaConfig(benchEnv))
	if err := l.SetPolicy(replica.PolicySource{Src: datasets.GitclubPolicy, Filename: datasets.PolicyFilename}); err != nil {
		return nil, err
	}
	if err := l.SetTokens([]replica.Token{b.token()}); err != nil {
		return nil, err
	}
	args := make([]uint32, 0, 8)
	err := datasets.Generate(b.shape.Config, func(f replica.Fact) error {
		args = args[:0]
		for _, a := range f.Args {
			args = append(args, l.AddValue(a.Type, a.ID))
		}
		return l.AddFact(f.Predicate, args)
	})
	if err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	return l.Finish(1)
}

// uncachedEngine returns the loaded state and an engine on it without
// the answer cache; with private, a state of its own (b.build) that the
// scenario may change.
func (b *bench) uncachedEngine(private bool) (*replica.State, *query.Engine, error) {
	get := b.loaded
	if private {
		get = b.build
	}
	st, err := get()
	if err != nil {
		return nil, nil, err
	}
	e, err := query.New(st, query.Config{CacheMaxBytes: -1})
	return st, e, err
}

// mixedChecks is the 4,096-question sample (about half allowed) that the
// check, http and checkpoint scenarios cycle through.
func (b *bench) mixedChecks() []query.Check {
	return checks(b.shape.SampleQueries(4096, 3))
}

// issueReadChecks are DESIGN.md §11's comparison workload: 2,000
// "may this user read this issue?" questions, about half allowed.
func (b *bench) issueReadChecks() []query.Check {
	return checks(b.shape.IssueReads(2000, 1))
}

func checks(qs []datasets.Query) []query.Check {
	out := make([]query.Check, len(qs))
	for i, q := range qs {
		out[i] = check(q)
	}
	return out
}

func check(q datasets.Query) query.Check {
	return query.Check{Actor: q.Actor, Action: q.Action, Resource: q.Resource}
}
