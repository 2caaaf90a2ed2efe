package snapshotter

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/outpost-authz/outpost/replica"
)

// TestLoadLatestSaysWhetherThereIsAnOlderOne: a corrupt checkpoint is
// logged with "trying the previous one" only when there is one.
func TestLoadLatestSaysWhetherThereIsAnOlderOne(t *testing.T) {
	cases := []struct {
		name  string
		files []string
		want  []string
	}{
		{"one corrupt", []string{"checkpoint-0000000000000002-0000000000000001.ckpt"}, []string{"there is no older one"}},
		{"two corrupt", []string{"checkpoint-0000000000000001-0000000000000001.ckpt", "checkpoint-0000000000000002-0000000000000001.ckpt"},
			[]string{"trying the previous one", "there is no older one"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tc.files {
				os.WriteFile(filepath.Join(dir, f), bytes.Repeat([]byte{0}, 64), 0o644)
			}
			s, err := OpenStore(dir, 2)
			if err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			_, _, _, err = s.LoadLatest(replica.Config{Env: "default"}, slog.New(slog.NewTextHandler(&logs, nil)))
			if !errors.Is(err, ErrNoCheckpoint) {
				t.Fatalf("err %v", err)
			}
			lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("logs:\n%s", logs.String())
			}
			for i, w := range tc.want {
				if !strings.Contains(lines[i], w) {
					t.Errorf("line %d %q lacks %q", i, lines[i], w)
				}
			}
		})
	}
}
