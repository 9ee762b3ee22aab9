// Package examples tests the bundled examples the way the pipelines that
// use them do: rendered by the real kustomize (or flux), decrypted by the
// real sops, and applied to a real kube-apiserver.
package examples

import (
	"os"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/apiserver"
	"github.com/carousel-dev/carousel/internal/testkit"
)

// The top-level tests run in parallel and share one API server: each
// touches only its own objects (the examples' rotations, or flux-system and
// Flux's CRD).
//
// TestMain stops the package's API server (one per test binary, shared by
// all its tests) once the tests are done.
func TestMain(m *testing.M) {
	code := m.Run()
	apiserver.Stop()
	os.Exit(code)
}

// acceptedByServer applies rendered objects to the shared API server with a
// server-side dry run, after creating their namespaces for real (no
// controller creates them). Encrypted Secrets are decrypted first, as the
// GitOps tool would.
func acceptedByServer(t *testing.T, what string, objs []*yaml.RNode) {
	t.Helper()
	s := apiserver.Start(t)
	var ns, rest []*yaml.RNode
	for _, n := range objs {
		n = testkit.Decrypt(t, n)
		if n.GetKind() == "Namespace" {
			ns = append(ns, n)
		} else {
			rest = append(rest, n)
		}
	}
	if len(ns) > 0 {
		s.KubectlIn(t, []byte(testkit.String(ns)), "apply", "--server-side", "--field-manager=accepted", "-f", "-")
	}
	if _, stderr, err := s.KubectlInErr([]byte(testkit.String(rest)), "apply", "--server-side", "--dry-run=server", "--force-conflicts", "--field-manager=accepted", "-f", "-"); err != nil {
		t.Fatalf("%s: the API server refuses it: %v\n%s", what, err, stderr)
	}
}
