package gen_test

import (
	"encoding/base64"
	"path/filepath"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/spec"
)

func example(t testing.TB) *testkit.Package {
	return testkit.Load(t, filepath.Join(testkit.Root(t), "examples", "cluster-ca"))
}

// render renders the example with extra input items and an optional clock.
func render(t *testing.T, phase phases.Phase, now time.Time, extra ...string) gen.Output {
	t.Helper()
	return renderWith(t, phase, now, func(*yaml.RNode) {}, extra...)
}

func trustedFingerprints(t *testing.T, b64 string) []string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := pki.ParseCerts(raw)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range certs {
		out = append(out, pki.Fingerprint(c))
	}
	return out
}

func warnings(out gen.Output) []string {
	var w []string
	for _, r := range out.Results {
		if r.Severity == framework.Warning {
			w = append(w, r.String())
		}
	}
	return w
}

// renderWith renders like render, with the CARotation edited by edit first.
func renderWith(t *testing.T, phase phases.Phase, now time.Time, edit func(cfg *yaml.RNode), extra ...string) gen.Output {
	t.Helper()
	pkg := example(t)
	cfg := pkg.WithPhase(t, phase)
	edit(cfg)
	rot, err := spec.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	items := pkg.CopyItems()
	for _, e := range extra {
		items = append(items, yaml.MustParse(e))
	}
	return gen.Render(gen.Input{Rotation: rot, Config: cfg, Items: items, Now: now})
}
