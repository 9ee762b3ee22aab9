// Package examples tests the bundled examples the way the pipelines that
// use them do: rendered by the real kustomize (or flux), decrypted by the
// real sops, and applied to a real kube-apiserver.
package examples

import (
	"os"
	"testing"

	"github.com/carousel-dev/carousel/internal/apiserver"
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
