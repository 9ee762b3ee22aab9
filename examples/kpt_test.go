package examples

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

// kpt runs the real kpt in dir with bin/ first on PATH (the Kptfile runs
// `carousel` from PATH; kpt resolves exec paths from the current directory).
func kpt(t *testing.T, dir string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(testkit.Tool(t, "kpt"), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+filepath.Join(testkit.Root(t), "bin")+":"+os.Getenv("PATH"), "CAROUSEL_NOW=2027-01-01T00:00:00Z")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func TestKptRendersAndEvaluatesEveryPhase(t *testing.T) {
	t.Parallel()
	for _, phase := range []phases.Phase{phases.Steady, phases.TrustNew, phases.SignNew, phases.DistrustOld, phases.Cleanup} {
		dir := t.TempDir()
		if err := os.CopyFS(dir, os.DirFS(filepath.Join(testkit.Root(t), "examples", "kpt"))); err != nil {
			t.Fatal(err)
		}
		testkit.SetPhase(t, dir, phase)
		for _, args := range [][]string{
			{"fn", "render", "--allow-exec", "-o", "stdout", "."},
			{"fn", "eval", ".", "--exec", "carousel", "--fn-config", "carousel.yaml", "-o", "stdout"},
		} {
			out, stderr, err := kpt(t, dir, args...)
			if err != nil {
				t.Fatalf("%s: kpt %s: %v\n%s", phase, strings.Join(args[:2], " "), err, stderr)
			}
			for _, want := range []string{"name: api-tls", "name: app-trust"} {
				if !strings.Contains(out, want) {
					t.Errorf("%s: kpt %s output lacks %q", phase, args[1], want)
				}
			}
			// Before the rotation (steady over never-rotated material)
			// nothing rolls; every later phase annotates its consumers.
			if annotated := strings.Contains(out, "carousel.dev/app-tls: "); annotated != (phase != phases.Steady) {
				t.Errorf("%s: kpt %s output carries the restart annotation: %v, want %v", phase, args[1], annotated, phase != phases.Steady)
			}
			if strings.Contains(out, "kind: KeyPair") {
				t.Errorf("%s: kpt %s output carries material", phase, args[1])
			}
		}
		// render -o stdout leaves the package as it was: the material stays.
		if _, err := os.Stat(filepath.Join(dir, "material", "ca-old.yaml")); err != nil {
			t.Fatalf("%s: the package lost its material", phase)
		}
	}
}

func TestKptFailsWhenThePackageBreaks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(testkit.Root(t), "examples", "kpt"))); err != nil {
		t.Fatal(err)
	}
	testkit.SetPhase(t, dir, "promote")
	_, stderr, err := kpt(t, dir, "fn", "render", "--allow-exec", "-o", "stdout", ".")
	if err == nil || !strings.Contains(stderr, "spec.phase") {
		t.Fatalf("a bad phase must fail the render naming spec.phase: %v\n%s", err, stderr)
	}
}
