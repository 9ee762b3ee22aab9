package fn

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
)

// TestWarningsReachKustomizeBuildsStderr: kustomize keeps a function's
// results out of what it prints, so a warning only in the results is read
// by nobody; the function writes each to stderr, which the real kustomize
// passes through, and the output stays the same.
func TestWarningsReachKustomizeBuildsStderr(t *testing.T) {
	dir := examplePackage(t, phases.Steady)
	quiet := testkit.KustomizeDir(t, dir)
	// Every certificate in use is within a window of 200,000 hours.
	f := filepath.Join(dir, "carousel.yaml")
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f, bytes.Replace(b, []byte("spec:\n"), []byte("spec:\n  expiryWarning: 200000h\n"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testkit.Tool(t, "kustomize"), "build", "--enable-alpha-plugins", "--enable-exec", dir)
	cmd.Env = append(os.Environ(), NowEnv+"=2027-01-01T00:00:00Z")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kustomize build: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), `warning: KeyPair cluster-ca-ca-old certificate: the old CA "kubernetes" expires`) {
		t.Fatalf("kustomize build's stderr must carry the expiry warning, got:\n%s", stderr.String())
	}
	if !bytes.Equal(stdout.Bytes(), quiet) {
		t.Fatal("a warning changed the rendered output")
	}
}
