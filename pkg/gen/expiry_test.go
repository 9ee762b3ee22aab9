package gen_test

import (
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// shortLived is material whose old CA (and so its leaves) lives an hour
// while the new one lives a year: a rotation that started late.
type shortLived struct {
	items []*yaml.RNode
	made  time.Time
}

func makeShortLived(t *testing.T, scope phases.Scope) shortLived {
	t.Helper()
	made := time.Now()
	var items []*yaml.RNode
	add := func(role, leaf string, g phases.Generation, p pki.Pair) {
		cert, err := pki.ParseCerts(p.CertPEM)
		if err != nil {
			t.Fatal(err)
		}
		k := material.KeyPair{Rotation: "r", Role: role, Leaf: leaf, Generation: g, Certs: cert, KeyField: "tls.key"}
		if role == material.RoleCA {
			k.CAID = map[phases.Generation]string{phases.Old: "g1", phases.New: "g2"}[g]
		}
		n, err := material.New(k, p.KeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, n)
	}
	leafReq := pki.LeafRequest{CommonName: "web", DNSNames: []string{"web.app.svc"}, Usages: []string{"server"}, Validity: 24 * time.Hour, Algorithm: "ecdsa-p256"}
	oldCA, err := pki.NewCA(pki.CARequest{CommonName: "r", Validity: time.Hour, Algorithm: "ecdsa-p256"})
	if err != nil {
		t.Fatal(err)
	}
	add(material.RoleCA, "", phases.Old, oldCA)
	oldLeaf, err := pki.Issue(oldCA, leafReq)
	if err != nil {
		t.Fatal(err)
	}
	add(material.RoleLeaf, "web", phases.Old, oldLeaf)
	newSigner := oldCA
	if scope == phases.ScopeCA {
		if newSigner, err = pki.NewCA(pki.CARequest{CommonName: "r", Validity: 8760 * time.Hour, Algorithm: "ecdsa-p256"}); err != nil {
			t.Fatal(err)
		}
		add(material.RoleCA, "", phases.New, newSigner)
	}
	newLeaf, err := pki.Issue(newSigner, leafReq)
	if err != nil {
		t.Fatal(err)
	}
	add(material.RoleLeaf, "web", phases.New, newLeaf)
	return shortLived{items: items, made: made}
}

func (s shortLived) render(t *testing.T, scope phases.Scope, phase phases.Phase, now time.Time) gen.Output {
	t.Helper()
	cfg := yaml.MustParse(`apiVersion: carousel.dev/v1alpha1
kind: CARotation
metadata: {name: r}
spec:
  scope: ` + string(scope) + `
  phase: ` + string(phase) + `
  ca: {}
  leaves:
  - name: web
    secret: {name: web-tls, namespace: app}
    dnsNames: [web.app.svc]
`)
	rot, err := spec.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	items := make([]*yaml.RNode, len(s.items))
	for i, n := range s.items {
		items[i] = n.Copy()
	}
	return gen.Render(gen.Input{Rotation: rot, Config: cfg, Items: items, Now: now})
}

func TestExpiredMaterialInUseSaysExpired(t *testing.T) {
	tests := []struct {
		name     string
		scope    phases.Scope
		phase    phases.Phase
		severity framework.Severity
		want     []string // substrings of one result of that severity
	}{
		{
			name: "serving an expired leaf is an error", scope: phases.ScopeCA, phase: phases.Steady,
			severity: framework.Error, want: []string{`leaf "web" expired on`, "carousel renew"},
		},
		{
			name: "an expired CA at steady is a warning naming a new CA", scope: phases.ScopeCA, phase: phases.Steady,
			severity: framework.Warning, want: []string{`the old CA "r" expired on`, "carousel renew"},
		},
		{
			name: "an expired old CA only still trusted is a warning naming distrust-old", scope: phases.ScopeCA, phase: phases.SignNew,
			severity: framework.Warning, want: []string{`the old CA "r" expired on`, "advance to distrust-old (then cleanup)"},
		},
		{
			name: "signing new leaves with an expired CA is an error", scope: phases.ScopeLeaf, phase: phases.Reissue,
			severity: framework.Error, want: []string{`the old CA "r" expired on`, "serves new leaves it signed", "carousel start --scope ca"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := makeShortLived(t, tt.scope)
			out := m.render(t, tt.scope, tt.phase, m.made.Add(2*time.Hour))
			for _, r := range out.Results {
				if r.Severity != tt.severity {
					continue
				}
				ok := true
				for _, w := range tt.want {
					ok = ok && strings.Contains(r.Message, w)
				}
				if ok {
					if tt.severity == framework.Error && out.Items != nil {
						t.Fatal("an error result must come with no items")
					}
					return
				}
			}
			t.Fatalf("no %s result containing %q in:\n%v", tt.severity, tt.want, out.Results)
		})
	}
}

func TestACAExpiringWithinTheWindowIsAWarning(t *testing.T) {
	// The example's CA outlives its leaves by ten years: at a time within
	// the CA's window its leaves have long expired. The hour-long CA here
	// is within the default 720h window from the start.
	m := makeShortLived(t, phases.ScopeCA)
	out := m.render(t, phases.ScopeCA, phases.Steady, m.made.Add(time.Minute))
	if out.Failed() {
		t.Fatalf("a CA about to expire must not fail the render: %v", out.Results)
	}
	for _, r := range out.Results {
		if r.Severity == framework.Warning && strings.Contains(r.Message, `the old CA "r" expires`) && strings.Contains(r.Message, "start a CA rotation") {
			return
		}
	}
	t.Fatalf("no warning that the CA expires: %v", out.Results)
}

func TestTheSamePhaseBeforeExpiryRendersCleanly(t *testing.T) {
	// The control: the material of the test above, one minute after it
	// was made, renders every phase without an error or an "expired".
	for _, scope := range []phases.Scope{phases.ScopeCA, phases.ScopeLeaf} {
		m := makeShortLived(t, scope)
		seq, _ := phases.Sequence(scope)
		for _, ph := range seq {
			out := m.render(t, scope, ph, m.made.Add(time.Minute))
			if out.Failed() || strings.Contains(out.Results.Error(), "expired") {
				t.Errorf("%s/%s: %v", scope, ph, out.Results)
			}
		}
	}
}

func TestAnExpiredCAThePhaseNoLongerTrustsSaysNothing(t *testing.T) {
	m := makeShortLived(t, phases.ScopeCA)
	for _, ph := range []phases.Phase{phases.DistrustOld, phases.Cleanup} {
		out := m.render(t, phases.ScopeCA, ph, m.made.Add(2*time.Hour))
		if out.Failed() || strings.Contains(out.Results.Error(), "expired") {
			t.Errorf("%s: %v", ph, out.Results)
		}
	}
}
