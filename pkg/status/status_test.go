package status

import (
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// A leaf Secret still holding the previous phase's leaf generation is a
// rotation not applied yet, not another tool's certificate: at sign-new the
// live Secret holds trust-new's leaf (signed by the old CA), which the
// sign-new render no longer mentions, yet it is one of the material's leaf
// generations. A certificate of another rotation in the same place is
// blocked.
func TestALeafSecretOnePhaseBehindIsProgressingNotBlocked(t *testing.T) {
	pkg := testkit.Load(t, filepath.Join(testkit.Root(t), "examples", "cluster-ca"))
	behind, signNew := pkg.Render(t, phases.TrustNew), pkg.Render(t, phases.SignNew)
	known := knownFingerprints(signNew)
	foreignPEM := base64.StdEncoding.EncodeToString(pki.EncodeCerts(foreign(t).Leaf))
	checked := 0
	for _, m := range signNew.Managed {
		if !strings.HasPrefix(m.Carries, "leaf:") || m.Kind != "Secret" {
			continue
		}
		for _, prev := range behind.Managed {
			if prev.Kind != m.Kind || prev.Namespace != m.Namespace || prev.Name != m.Name {
				continue
			}
			checked++
			id := objectID{m.Kind, m.Namespace, m.Name}.key()
			t.Run(m.Namespace+"/"+m.Name+" holding trust-new's leaf is progressing", func(t *testing.T) {
				snap := &snapshot{objects: map[string]*yaml.RNode{id: prev.Object.Copy()}}
				got := objectStatus(snap, m.Object, known)
				if got.State != Progressing {
					t.Fatalf("got %s (%s), want %s", got.State, got.Detail, Progressing)
				}
			})
			t.Run(m.Namespace+"/"+m.Name+" holding another rotation's leaf is blocked", func(t *testing.T) {
				live := prev.Object.Copy()
				if err := live.PipeE(yaml.Lookup("data"), yaml.SetField("tls.crt", yaml.NewStringRNode(foreignPEM))); err != nil {
					t.Fatal(err)
				}
				snap := &snapshot{objects: map[string]*yaml.RNode{id: live}}
				got := objectStatus(snap, m.Object, known)
				if got.State != Blocked || !strings.Contains(got.Detail, "not this rotation's") {
					t.Fatalf("got %s (%s), want %s (not this rotation's)", got.State, got.Detail, Blocked)
				}
			})
		}
	}
	if checked == 0 {
		t.Fatal("the example has no leaf Secret in both trust-new and sign-new: the test checks nothing")
	}
}
