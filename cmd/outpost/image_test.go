package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestContainerImage builds the Dockerfile's runtime target for
// linux/amd64 with podman (chroot isolation, nothing pulled) from a
// static, stamped binary, as `make image` does, then runs the image's
// outpost in build steps (RUN): it prints the stamped version, runs as the
// unprivileged user (cannot write /) and can write its data directory.
func TestContainerImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a container image with podman; skipped with -short")
	}
	podman, err := exec.LookPath("podman")
	if err != nil {
		t.Fatal("podman is needed to test the Dockerfile: `make tools` installs it (Debian package podman)")
	}
	stamp := "imagetest-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	tag := "localhost/outpost-imagetest:" + stamp
	dir := t.TempDir()
	for _, f := range []string{"Dockerfile", ".dockerignore"} {
		b, err := os.ReadFile(filepath.Join("../..", f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	mkdir(t, dir, "bin/image/data")
	ca, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		ca = []byte("# no CA bundle on the test machine\n")
	}
	os.WriteFile(filepath.Join(dir, "bin/image/ca-certificates.crt"), ca, 0o644)
	gobuild := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+stamp+" -X main.commit=abc1234",
		"-o", filepath.Join(dir, "bin/linux-amd64/outpost"), ".")
	gobuild.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := gobuild.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	build := func(contextDir string, extra ...string) (string, error) {
		args := append([]string{"build", "--isolation=chroot", "--pull=never", "--layers=false", "--format", "docker", "--platform", "linux/amd64"}, extra...)
		out, err := exec.Command(podman, append(args, contextDir)...).CombinedOutput()
		return string(out), err
	}
	out, err := build(dir, "--target", "runtime", "-t", tag)
	t.Cleanup(func() { exec.Command(podman, "rmi", "-f", tag).Run() })
	if err != nil {
		t.Fatalf("podman build: %v\n%s", err, out)
	}
	if strings.Contains(out, "golang") {
		t.Errorf("the runtime target used the build stage:\n%s", out)
	}
	cfg, err := exec.Command(podman, "image", "inspect", "--format",
		"{{.Config.User}}|{{.Config.Entrypoint}}|{{.Architecture}}|{{.Config.Healthcheck.Test}}", tag).CombinedOutput()
	if err != nil {
		t.Fatalf("podman image inspect: %v\n%s", err, cfg)
	}
	if got := strings.TrimSpace(string(cfg)); got != "65532:65532|[/usr/local/bin/outpost]|amd64|[CMD /usr/local/bin/outpost healthcheck]" {
		t.Errorf("image config: %s", got)
	}

	steps := []struct {
		name, run string
		ok        bool
		want      string
	}{
		{"version", `"/usr/local/bin/outpost", "version"`, true, "outpost " + stamp + " (commit abc1234, go"},
		{"not root", `"/usr/local/bin/outpost", "--directory", "/data", "--export", "/probe.ckpt"`, false, "permission denied"},
		{"data writable", `"/usr/local/bin/outpost", "--directory", "/data", "--export", "/data/probe.ckpt"`, false, "no valid checkpoint"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			d := t.TempDir()
			os.WriteFile(filepath.Join(d, "Containerfile"), []byte("FROM "+tag+"\nRUN ["+st.run+"]\n"), 0o644)
			iid := filepath.Join(d, "iid")
			out, err := build(d, "-f", filepath.Join(d, "Containerfile"), "--iidfile", iid)
			if id, rerr := os.ReadFile(iid); rerr == nil { // a step that succeeded made an untagged image
				exec.Command(podman, "rmi", "-f", strings.TrimSpace(string(id))).Run()
			}
			if (err == nil) != st.ok || !strings.Contains(out, st.want) {
				t.Errorf("RUN [%s]: error %v, want success %v and %q in:\n%s", st.run, err, st.ok, st.want, out)
			}
		})
	}
}
