package gen_test

import (
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// A restart rule consuming "ca" rolls its workloads when the signing CA
// changes (sign-new), which a "trust" rule does not see: the trusted set is
// the same on both sides of sign-new. osm-controller reads osm-ca-bundle
// through the API, so only such a rule restarts it onto the new CA.
func TestARuleConsumingTheCARollsAtSignNewWhereATrustRuleDoesNot(t *testing.T) {
	pkg := testkit.Load(t, filepath.Join(testkit.Root(t), "examples", "osm"))
	hash := func(consumes string, phase phases.Phase) string {
		cfg := pkg.WithPhase(t, phase)
		doc := strings.ReplaceAll(cfg.MustString(), "consumes: [ca]", "consumes: ["+consumes+"]")
		n := yaml.MustParse(doc)
		rot, err := spec.Load(n)
		if err != nil {
			t.Fatal(err)
		}
		out := gen.Render(gen.Input{Rotation: rot, Config: n, Items: pkg.CopyItems()})
		for _, r := range out.Results {
			if r.Severity == "error" {
				t.Fatal(r)
			}
		}
		for _, r := range out.Restarts {
			if r.Namespace == "osm-system" && r.Name == "osm-controller" {
				return r.Hash
			}
		}
		t.Fatalf("%s: osm-controller is not restarted (consumes %s)", phase, consumes)
		return ""
	}
	if hash("ca", phases.TrustNew) == hash("ca", phases.SignNew) {
		t.Fatal("consumes [ca]: osm-controller's restart hash is the same in trust-new and sign-new; it would keep signing with the old CA")
	}
	if hash("trust", phases.TrustNew) != hash("trust", phases.SignNew) {
		t.Fatal("consumes [trust] changed at sign-new: then this test does not show what ca adds")
	}
}
