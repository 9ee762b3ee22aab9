package fn

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carousel-dev/carousel/pkg/phases"
)

// unreachableKubeconfig is a kubeconfig that loads but whose server does
// not answer: nothing listens on port 1 of loopback.
func unreachableKubeconfig(t *testing.T) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "kubeconfig")
	const kc = `apiVersion: v1
kind: Config
clusters:
- name: gone
  cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: t}
contexts:
- name: gone
  context: {cluster: gone, user: u}
current-context: gone
`
	if err := os.WriteFile(f, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestAdvanceFailsClosedWhenTheGateCannotLook: a live gate that could not
// look is never a pass. Each way the cluster can be missing exits 1 and
// writes nothing, run as often as one likes (it once advanced and exited 0
// with a note on stderr, so two runs moved a package two phases).
func TestAdvanceFailsClosedWhenTheGateCannotLook(t *testing.T) {
	tests := []struct {
		name string
		args []string
		says string
	}{
		{"no cluster configured at all", nil, "no cluster configured"},
		{"a kubeconfig that does not exist", []string{"--kubeconfig", "/nonexistent/kubeconfig"}, "the live gate could not be checked"},
		{"a cluster that does not answer", []string{"--kubeconfig", unreachableKubeconfig(t)}, "the live gate could not be checked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := examplePackage(t, phases.Steady)
			file := filepath.Join(dir, "carousel.yaml")
			before, _ := os.ReadFile(file)
			body := filepath.Join(t.TempDir(), "pr.md")
			for run := 1; run <= 2; run++ {
				r := offline.Run(t, append([]string{"advance", file, "--out", body}, tt.args...)...)
				if r.Code != 1 || !strings.Contains(r.Out, tt.says) || !strings.Contains(r.Out, "--no-cluster") {
					t.Fatalf("run %d: want exit 1 saying %q and naming --no-cluster, got %d:\n%s", run, tt.says, r.Code, r.Out)
				}
				if after, _ := os.ReadFile(file); !bytes.Equal(before, after) {
					t.Fatalf("run %d: a refused advance changed the spec:\n%s", run, after)
				}
				if _, err := os.Stat(body); !os.IsNotExist(err) {
					t.Fatalf("run %d: a refused advance wrote the pull-request body (%v)", run, err)
				}
			}
		})
	}
}

// TestAdvanceWithoutAClusterIsAnExplicitChoiceThePullRequestRecords: with
// --no-cluster the move is made and its body opens by saying the live gate
// was not checked; a rollback needs no gate and says nothing of it.
func TestAdvanceWithoutAClusterIsAnExplicitChoiceThePullRequestRecords(t *testing.T) {
	dir := examplePackage(t, phases.SignNew)
	file := filepath.Join(dir, "carousel.yaml")
	out := offline.Must(t, "advance", file, "--no-cluster").Stdout
	if !strings.Contains(out, "> **Not checked before this pull request was written:**") || !strings.Contains(out, "The live gate was not checked") {
		t.Fatalf("the body must say the live gate was not checked:\n%s", out)
	}
	r := offline.Run(t, "advance", file, "--to", "sign-new")
	if r.Err != nil {
		t.Fatalf("a rollback is never gated, cluster or not: %v\n%s", r.Err, r.Out)
	}
	if strings.Contains(r.Stdout, "Not checked") {
		t.Fatalf("a rollback checks no gate, so it has none to report:\n%s", r.Stdout)
	}
}

// TestAdvanceWritesNothingWhenThePullRequestBodyCannotBeWritten: the body
// is written before the spec, so a body that cannot be written leaves
// spec.phase as it was and a rerun moves one step, not two.
func TestAdvanceWritesNothingWhenThePullRequestBodyCannotBeWritten(t *testing.T) {
	dir := examplePackage(t, phases.Steady)
	file := filepath.Join(dir, "carousel.yaml")
	before, _ := os.ReadFile(file)
	// A path under a regular file: no directory can be made there.
	blocker := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(blocker, "pr.md")
	r := offline.Run(t, "advance", file, "--no-cluster", "--out", bad)
	if r.Code != 1 || !strings.Contains(r.Out, "spec.phase is unchanged") {
		t.Fatalf("want exit 1 saying spec.phase is unchanged, got %d:\n%s", r.Code, r.Out)
	}
	if after, _ := os.ReadFile(file); !bytes.Equal(before, after) {
		t.Fatalf("advance changed the spec although the body was not written:\n%s", after)
	}
	good := filepath.Join(t.TempDir(), "pr.md")
	offline.Must(t, "advance", file, "--no-cluster", "--out", good)
	if after, _ := os.ReadFile(file); !bytes.Contains(after, []byte("  phase: trust-new\n  step: objects\n")) {
		t.Fatalf("the rerun must move exactly one step, to trust-new/objects:\n%s", after)
	}
}

// TestThePullRequestBodyCarriesThePlansWarnings: a warning only in the
// function's results reaches nobody; the body a reviewer reads lists it.
func TestThePullRequestBodyCarriesThePlansWarnings(t *testing.T) {
	dir := examplePackage(t, phases.Steady)
	file := filepath.Join(dir, "carousel.yaml")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	// Every certificate in use is within a window of 200,000 hours.
	if err := os.WriteFile(file, bytes.Replace(b, []byte("spec:\n"), []byte("spec:\n  expiryWarning: 200000h\n"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	out := offline.Must(t, "advance", file, "--no-cluster").Stdout
	warnings, _, _ := strings.Cut(out, "### Gate")
	if _, w, ok := strings.Cut(warnings, "### Warnings\n"); !ok || !strings.Contains(w, `the old CA "kubernetes" expires`) {
		t.Fatalf("the body must list the expiry warning under Warnings, before the gate:\n%s", out)
	}
}
