package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpost-authz/outpost/query"
	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/snapshotter"
)

// hardeningCheckpoint writes a valid checkpoint of env holding lifecyclePolicy
// and one fact, and returns its bytes.
func hardeningCheckpoint(t *testing.T, path, env string) []byte {
	t.Helper()
	st := replica.New(replica.Config{Env: env, Compiler: query.Compile})
	now := time.Now().UTC()
	for _, ev := range []replica.Event{
		{Env: env, Seq: 1, Time: now, Kind: replica.KindPolicy, Policy: &replica.PolicySource{Src: lifecyclePolicy, Filename: "main.polar"}},
		{Env: env, Seq: 2, Time: now, Kind: replica.KindBatch, Inserts: []replica.Fact{{Predicate: "has_role",
			Args: []replica.Value{{Type: "User", ID: "u0"}, {Type: "String", ID: "admin"}, {Type: "Repo", ID: "r0"}}}}},
	} {
		if err := st.Apply(ev); err != nil {
			t.Fatal(err)
		}
	}
	v := st.Acquire()
	ex := v.Export()
	v.Release()
	if _, err := snapshotter.WriteFile(path, ex, snapshotter.Header{Env: env, Position: replica.Position{Seq: 2, KafkaOffset: -1}, Created: now}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hardeningRun runs the command in-process and returns its exit code, its
// plain (non-JSON-log) stderr lines and all of stderr.
func hardeningRun(t *testing.T, args ...string) (code int, plain []string, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code = run(ctx, args, env(nil), &out, &errb)
	for _, line := range strings.Split(strings.TrimSpace(errb.String()), "\n") {
		if line != "" && !strings.HasPrefix(line, "{") {
			plain = append(plain, line)
		}
	}
	return code, plain, errb.String()
}

// TestHardeningImportPaths: every unusable --import file stops the node
// with exit 1 and one plain error line that names the file and what is
// wrong with it (no panic, no serving of an empty state).
func TestHardeningImportPaths(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notCkpt := filepath.Join(dir, "notes.txt")
	os.WriteFile(notCkpt, []byte("these are not the facts you are looking for\n"), 0o644)
	empty := filepath.Join(dir, "empty.ckpt")
	os.WriteFile(empty, nil, 0o644)
	other := filepath.Join(dir, "other.ckpt")
	hardeningCheckpoint(t, other, "other")
	good := hardeningCheckpoint(t, filepath.Join(dir, "good.ckpt"), "default")
	truncated := filepath.Join(dir, "truncated.ckpt")
	os.WriteFile(truncated, good[:len(good)/2], 0o644)
	corrupt := filepath.Join(dir, "corrupt.ckpt")
	bad := bytes.Clone(good)
	bad[len(bad)/2] ^= 0xff
	os.WriteFile(corrupt, bad, 0o644)

	for _, c := range []struct {
		name, path string
		want       []string // in the error line
	}{
		{"directory", dir, []string{"is a directory, not a checkpoint file"}},
		{"missing file", filepath.Join(dir, "missing.ckpt"), []string{"missing.ckpt", "no such file"}},
		{"not a checkpoint", notCkpt, []string{"not a checkpoint file"}},
		{"empty file", empty, []string{"empty.ckpt"}},
		{"another environment", other, []string{"another environment", `"other"`, `"default"`}},
		{"truncated", truncated, []string{"truncated"}},
		{"corrupt", corrupt, []string{"corrupt"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, plain, all := hardeningRun(t, "--listen", "127.0.0.1:0", "--directory", t.TempDir(), "--import", c.path)
			if code != 1 || len(plain) != 1 {
				t.Fatalf("exit %d, plain lines %q; stderr:\n%s", code, plain, all)
			}
			line := plain[0]
			if !strings.HasPrefix(line, "outpost: import "+c.path+": ") {
				t.Errorf("error line %q does not start with the operation and the file", line)
			}
			for _, w := range c.want {
				if !strings.Contains(line, w) {
					t.Errorf("error line %q lacks %q", line, w)
				}
			}
			if strings.Contains(all, "panic") || strings.Contains(all, "goroutine ") {
				t.Errorf("stderr shows a panic:\n%s", all)
			}
		})
	}
}

// TestHardeningExportPaths: --export into a missing directory or onto a
// directory fails with one clear line; an export whose download turns out
// damaged fails verification and leaves neither a file under the target
// name nor a temporary file, and an existing file there is untouched.
func TestHardeningExportPaths(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	// a data directory with a checkpoint, for exports without network
	os.MkdirAll(data, 0o755)
	good := hardeningCheckpoint(t, filepath.Join(data, "checkpoint-0000000000000002-0000000000000000.ckpt"), "default")

	for _, c := range []struct {
		name, target, want string
	}{
		{"missing directory", filepath.Join(dir, "nope", "site.ckpt"), "does not exist"},
		{"onto a directory", dir, "is a directory; give a file name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, plain, all := hardeningRun(t, "--directory", data, "--export", c.target)
			if code != 1 || len(plain) != 1 || !strings.HasPrefix(plain[0], "outpost: export: ") || !strings.Contains(plain[0], c.want) {
				t.Fatalf("exit %d, plain lines %q, want one naming %q; stderr:\n%s", code, plain, c.want, all)
			}
		})
	}

	t.Run("damaged download leaves nothing behind", func(t *testing.T) {
		out := t.TempDir()
		target := filepath.Join(out, "site.ckpt")
		old := []byte("the previous export, which must survive")
		os.WriteFile(target, old, 0o644)
		cp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/snapshot") {
				w.Write(good[:len(good)-7]) // cut short, as a dropped connection would
				return
			}
			http.NotFound(w, r)
		}))
		defer cp.Close()
		code, plain, all := hardeningRun(t, "--control-plane-url", cp.URL, "--api-token", "k", "--export", target)
		if code != 1 || len(plain) != 1 || !strings.Contains(plain[0], "verify exported file") {
			t.Fatalf("exit %d, plain lines %q; stderr:\n%s", code, plain, all)
		}
		if b, err := os.ReadFile(target); err != nil || !bytes.Equal(b, old) {
			t.Errorf("the existing file was changed: %q, %v", b, err)
		}
		if names, _ := os.ReadDir(out); len(names) != 1 {
			var list []string
			for _, n := range names {
				list = append(list, n.Name())
			}
			t.Errorf("files left in the directory: %v", list)
		}
	})

	t.Run("export verifies and replaces", func(t *testing.T) {
		target := filepath.Join(t.TempDir(), "site.ckpt")
		if code, plain, all := hardeningRun(t, "--directory", data, "--export", target); code != 0 || len(plain) != 0 {
			t.Fatalf("exit %d, %q:\n%s", code, plain, all)
		}
		if _, _, err := snapshotter.ReadFile(target, replica.Config{Env: "default", Compiler: query.Compile}); err != nil {
			t.Fatal(err)
		}
	})
}
