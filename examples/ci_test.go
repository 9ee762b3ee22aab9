package examples

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/carousel-dev/carousel/internal/testkit"
)

// TestCIWorkflowsPassActionlint lints the example GitHub Actions workflows
// with the real actionlint, and checks it does catch a broken copy (so a
// pass means the files were linted, not skipped).
func TestCIWorkflowsPassActionlint(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testkit.Root(t), "examples/ci/*.yaml"))
	if err != nil || len(files) < 3 {
		t.Fatalf("want the PR-check, Flux render and renew workflows in examples/ci, got %v (%v)", files, err)
	}
	lint := testkit.Tool(t, "actionlint")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if out, err := exec.Command(lint, "-no-color", f).CombinedOutput(); err != nil {
				t.Fatalf("actionlint %s: %v\n%s", f, err, out)
			}
			broken := filepath.Join(t.TempDir(), filepath.Base(f))
			b := bytes.Replace(mustRead(t, f), []byte("runs-on:"), []byte("runs_on:"), 1)
			if err := os.WriteFile(broken, b, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := exec.Command(lint, "-no-color", broken).Run(); err == nil {
				t.Fatal("actionlint accepted a workflow without runs-on")
			}
		})
	}
}
