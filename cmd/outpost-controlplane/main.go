// Command outpost-controlplane runs Outpost's reference control plane
// (testenv/controlplane) for one environment: the Oso-compatible write API
// and Check API, the node feeds (/v1/envs/{env}/events, /snapshot,
// /status), and publishing to Kafka and/or NATS JetStream. It prints its URL
// and broker addresses and runs until SIGINT or SIGTERM.
//
//	outpost-controlplane -key demo-key:write [-listen 127.0.0.1:8081] [-data DIR] [-env demo]
//	    [-retain N] [-kafka HOST:PORT,...] [-nats nats://HOST:PORT] [-embed-kafka] [-embed-nats]
//	    [-kafka-listen HOST:PORT] [-nats-listen HOST:PORT]
//	    [-seed-gitclub N] [-v]
//
// Every flag has an environment variable (shown in -help); flags win.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	natssource "github.com/outpost-authz/outpost/ingest/nats"
	"github.com/outpost-authz/outpost/query/httpapi"
	"github.com/outpost-authz/outpost/testenv/brokers"
	"github.com/outpost-authz/outpost/testenv/controlplane"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the parsed flags.
type options struct {
	listen, dataDir, env, tenant string
	keys                         keyList
	retain, checkpointEvery      int
	kafka, kafkaTopic            string
	nats, natsStream             string
	embedKafka, embedNATS        bool
	kafkaListen, natsListen      string
	seedGitclub, factsLimit      int
	disableClear, verbose        bool
	security                     pubSecurity
}

// keyList collects -key KEY:ACCESS flags.
type keyList map[string]string

func (k keyList) String() string { return fmt.Sprintf("%d keys", len(k)) }

func (k keyList) Set(s string) error {
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		key, access, ok := strings.Cut(item, ":")
		if !ok {
			access = controlplane.AccessWrite
		}
		if key == "" || (access != controlplane.AccessRead && access != controlplane.AccessWrite) {
			return errors.New("want KEY:read or KEY:write")
		}
		k[key] = access
	}
	return nil
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func envInt(name string, def int) int {
	if v, ok := os.LookupEnv(name); ok {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return def
}

func envBool(name string) bool {
	b, _ := strconv.ParseBool(os.Getenv(name))
	return b
}

func parse(args []string, stderr io.Writer) (*options, error) {
	o := &options{keys: keyList{}}
	fs := flag.NewFlagSet("outpost-controlplane", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.listen, "listen", env("OUTPOST_CP_LISTEN", "127.0.0.1:8081"), "listen `address` (OUTPOST_CP_LISTEN)")
	fs.StringVar(&o.dataDir, "data", env("OUTPOST_CP_DATA_DIR", "./.outpost-controlplane"), "data `dir`ectory for the event log and checkpoints (OUTPOST_CP_DATA_DIR)")
	fs.StringVar(&o.env, "env", env("OUTPOST_CP_ENV", "demo"), "environment `name` (OUTPOST_CP_ENV)")
	fs.StringVar(&o.tenant, "tenant", env("OUTPOST_CP_TENANT", ""), "tenant recorded in snapshots (OUTPOST_CP_TENANT)")
	fs.Var(o.keys, "key", "API key as `KEY:ACCESS` (read or write); repeatable or comma-separated (OUTPOST_CP_KEYS)")
	fs.IntVar(&o.retain, "retain", envInt("OUTPOST_CP_RETAIN", 0), "events the feed keeps available; 0 keeps all (OUTPOST_CP_RETAIN)")
	fs.IntVar(&o.checkpointEvery, "checkpoint-every", envInt("OUTPOST_CP_CHECKPOINT_EVERY", 0), "events between own checkpoints; 0 default, negative off (OUTPOST_CP_CHECKPOINT_EVERY)")
	fs.StringVar(&o.kafka, "kafka", env("OUTPOST_KAFKA_BROKERS", ""), "publish to Kafka `brokers` host:port,... (OUTPOST_KAFKA_BROKERS)")
	fs.StringVar(&o.kafkaTopic, "kafka-topic", env("OUTPOST_KAFKA_TOPIC", ""), "Kafka `topic` (default outpost.<env>.events) (OUTPOST_KAFKA_TOPIC)")
	fs.StringVar(&o.nats, "nats", env("OUTPOST_NATS_URL", ""), "publish to NATS JetStream at `url` (OUTPOST_NATS_URL)")
	fs.StringVar(&o.natsStream, "nats-stream", env("OUTPOST_NATS_STREAM", ""), "JetStream `stream` (default OUTPOST_<ENV>) (OUTPOST_NATS_STREAM)")
	fs.BoolVar(&o.embedKafka, "embed-kafka", envBool("OUTPOST_CP_EMBED_KAFKA"), "run an in-process Kafka broker (kfake) and publish to it (OUTPOST_CP_EMBED_KAFKA)")
	fs.BoolVar(&o.embedNATS, "embed-nats", envBool("OUTPOST_CP_EMBED_NATS"), "run an embedded NATS server and publish to it (OUTPOST_CP_EMBED_NATS)")
	fs.StringVar(&o.kafkaListen, "kafka-listen", env("OUTPOST_CP_KAFKA_LISTEN", ""), "listen `address` of the embedded Kafka broker; implies -embed-kafka (default 127.0.0.1 and a random port) (OUTPOST_CP_KAFKA_LISTEN)")
	fs.StringVar(&o.natsListen, "nats-listen", env("OUTPOST_CP_NATS_LISTEN", ""), "listen `address` of the embedded NATS server; implies -embed-nats (default 127.0.0.1 and a random port) (OUTPOST_CP_NATS_LISTEN)")
	fs.IntVar(&o.seedGitclub, "seed-gitclub", envInt("OUTPOST_CP_SEED_GITCLUB", 0), "on first start, load the gitclub policy and `N` facts (OUTPOST_CP_SEED_GITCLUB)")
	fs.BoolVar(&o.disableClear, "disable-clear-data", envBool("OUTPOST_CP_DISABLE_CLEAR_DATA"), "answer POST /api/clear_data with 403")
	fs.IntVar(&o.factsLimit, "facts-limit", envInt("OUTPOST_CP_FACTS_LIMIT", 0), "answer GET /api/facts with 400 when it matches more than `N` facts, like a developer plan's cap; 0 off (OUTPOST_CP_FACTS_LIMIT)")
	fs.BoolVar(&o.verbose, "v", envBool("OUTPOST_CP_VERBOSE"), "log debug lines")
	o.security.register(fs)
	if v, ok := os.LookupEnv("OUTPOST_CP_KEYS"); ok {
		if err := o.keys.Set(v); err != nil {
			return nil, fmt.Errorf("OUTPOST_CP_KEYS: %w", err)
		}
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.embedKafka = o.embedKafka || o.kafkaListen != ""
	o.embedNATS = o.embedNATS || o.natsListen != ""
	if len(o.keys) == 0 {
		return nil, errors.New("no API keys: pass -key KEY:write (and KEY:read keys for nodes)")
	}
	if o.embedKafka && o.kafka != "" || o.embedNATS && o.nats != "" {
		return nil, errors.New("-embed-kafka/-embed-nats and -kafka/-nats are exclusive")
	}
	return o, nil
}

// run starts the control plane and returns the exit status when ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "outpost-controlplane: %v\n", err)
		return 2
	}
	level := slog.LevelInfo
	if o.verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := serve(ctx, o, logger, stdout); err != nil {
		fmt.Fprintf(stderr, "outpost-controlplane: %v\n", err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, o *options, logger *slog.Logger, stdout io.Writer) error {
	cfg := controlplane.Config{
		Env: o.env, Tenant: o.tenant, DataDir: o.dataDir, Keys: o.keys, Retain: o.retain,
		CheckpointEvery: o.checkpointEvery, DisableClearData: o.disableClear, Logger: logger,
		FactsLimit: o.factsLimit,
	}
	if o.embedNATS {
		n, err := brokers.StartNATS(brokers.NATSConfig{Addr: o.natsListen})
		if err != nil {
			return fmt.Errorf("start embedded nats: %w", err)
		}
		defer n.Close()
		o.nats = n.URL()
	}
	if o.embedKafka {
		k, err := brokers.StartKafka(brokers.KafkaConfig{Addr: o.kafkaListen})
		if err != nil {
			return fmt.Errorf("start embedded kafka: %w", err)
		}
		defer k.Close()
		o.kafka = k.Addr()
	}
	if o.kafka != "" {
		cfg.Kafka = &controlplane.KafkaConfig{Brokers: strings.Split(o.kafka, ","), Topic: o.kafkaTopic}
	}
	if o.nats != "" {
		cfg.NATS = &controlplane.NATSConfig{URL: o.nats, Stream: o.natsStream}
	}
	if err := o.security.apply(&cfg); err != nil {
		return err
	}
	srv, err := controlplane.New(cfg)
	if err != nil {
		return err
	}
	defer srv.Close()

	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	url := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, "controlplane %s env=%s log_id=%s seq=%d data=%s\n", url, o.env, srv.LogID(), srv.Seq(), o.dataDir)
	if cfg.Kafka != nil {
		topic := cfg.Kafka.Topic
		if topic == "" {
			topic = controlplane.DefaultTopic(o.env)
		}
		fmt.Fprintf(stdout, "kafka %s topic=%s\n", o.kafka, topic)
	}
	if cfg.NATS != nil {
		stream := cfg.NATS.Stream
		if stream == "" {
			stream = controlplane.DefaultStream(o.env)
		}
		fmt.Fprintf(stdout, "nats %s stream=%s subject=%s\n", natssource.RedactURL(o.nats), stream, controlplane.Subject(o.env))
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	hs := httpapi.NewHTTPServer(ln.Addr().String(), srv.Handler())
	hs.BaseContext = func(net.Listener) context.Context { return runCtx }
	hs.WriteTimeout = 0 // long-polls wait up to 60 s and snapshots stream
	g, gctx := errgroup.WithContext(runCtx)
	g.Go(func() error {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	})
	g.Go(func() error { return srv.Run(gctx) })
	g.Go(func() error {
		<-gctx.Done()
		cancel() // end long-polls
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		if err := hs.Shutdown(sctx); err != nil {
			hs.Close()
		}
		return nil
	})
	if o.seedGitclub > 0 {
		g.Go(func() error { return seed(gctx, srv, url, o, logger, stdout) })
	}
	err = g.Wait()
	logger.Info("control plane stopped", "seq", srv.Seq())
	return err
}

// seed loads the gitclub data set through the write API when the
// environment has no policy yet (first start).
func seed(ctx context.Context, srv *controlplane.Server, url string, o *options, logger *slog.Logger, stdout io.Writer) error {
	v := srv.State().Acquire()
	src, _ := v.Policy()
	v.Release()
	if src.Src != "" {
		logger.Info("not seeding: the environment already has a policy")
		return nil
	}
	var key string
	for k, a := range o.keys {
		if a == controlplane.AccessWrite {
			key = k
			break
		}
	}
	if key == "" {
		return errors.New("-seed-gitclub needs a key with write access")
	}
	start := time.Now()
	seq, err := controlplane.NewClient(url, key).SeedGitclub(o.seedGitclub)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	fmt.Fprintf(stdout, "seeded gitclub: %d facts, seq %d, in %v\n", o.seedGitclub, seq, time.Since(start).Round(time.Millisecond))
	return nil
}
