package gen_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// TestTrustedAnnotationsFollowTrust pins the prune protection a GitOps
// controller reads: a CA generation Secret carries spec.ca.trustedAnnotations
// exactly while its CA is trusted, so the old CA is protected through
// sign-new, loses the protection in distrust-old, and can be pruned when
// cleanup stops rendering it.
func TestTrustedAnnotationsFollowTrust(t *testing.T) {
	const prune = "kustomize.toolkit.fluxcd.io/prune"
	tests := []struct {
		phase phases.Phase
		// want maps each generation Secret rendered to whether it is protected.
		want map[string]bool
	}{
		{phases.Steady, map[string]bool{"cluster-ca-g1": true}},
		{phases.TrustNew, map[string]bool{"cluster-ca-g1": true, "cluster-ca-g2": true}},
		{phases.SignNew, map[string]bool{"cluster-ca-g1": true, "cluster-ca-g2": true}},
		{phases.DistrustOld, map[string]bool{"cluster-ca-g1": false, "cluster-ca-g2": true}},
		{phases.Cleanup, map[string]bool{"cluster-ca-g2": true}},
	}
	pkg := example(t)
	for _, tt := range tests {
		t.Run(string(tt.phase), func(t *testing.T) {
			cfg := pkg.WithPhase(t, tt.phase)
			rot, err := spec.Load(cfg)
			if err != nil {
				t.Fatal(err)
			}
			rot.Spec.CA.TrustedAnnotations = map[string]string{prune: "disabled"}
			out := gen.Render(gen.Input{Rotation: rot, Config: cfg, Items: pkg.CopyItems(), Now: testkit.Now})
			if out.Failed() {
				t.Fatal(out.Results)
			}
			for _, name := range []string{"cluster-ca-g1", "cluster-ca-g2"} {
				s := testkit.Find(out.Items, "Secret", "kube-system", name)
				protected, rendered := tt.want[name]
				if (s != nil) != rendered {
					t.Fatalf("%s rendered: %v, want %v", name, s != nil, rendered)
				}
				if s == nil {
					continue
				}
				if got := s.GetAnnotations()[prune] == "disabled"; got != protected {
					t.Errorf("%s prune-protected: %v, want %v", name, got, protected)
				}
			}
			if a := testkit.Find(out.Items, "Secret", "kube-system", "cluster-ca").GetAnnotations(); a[prune] != "" {
				t.Error("the signing CA Secret is rendered in every phase and needs no protection, but got it")
			}
		})
	}
}

func TestTrustedAnnotationsNeedTheCASecret(t *testing.T) {
	cfg := example(t).WithPhase(t, phases.Steady)
	rot, err := spec.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rot.Spec.CA.Secret = nil
	rot.Spec.CA.TrustedAnnotations = map[string]string{"a": "b"}
	err = rot.Validate()
	if err == nil {
		t.Fatal("trustedAnnotations without spec.ca.secret was accepted")
	}
	if fe, ok := err.(spec.FieldErrors); !ok || len(fe) != 1 || fe[0].Path != "spec.ca.trustedAnnotations" {
		t.Fatalf("want one error at spec.ca.trustedAnnotations, got %v", err)
	}
}

// TestGenerationSecretsAreNamedAfterTheCAsID pins where a generation
// Secret's name comes from: the CA's recorded ID, never its role, and for
// material from before IDs were recorded, the role it had then (the name
// its Secret already has, so upgrading carousel renames nothing).
func TestGenerationSecretsAreNamedAfterTheCAsID(t *testing.T) {
	tests := []struct {
		name string
		// ids sets the recorded ID of the old and new CA ("" removes it).
		oldID, newID string
		want         []string
		err          string
	}{
		{"recorded IDs name the Secrets", "g1", "g2", []string{"cluster-ca-g1", "cluster-ca-g2"}, ""},
		{"any recorded ID, whatever the role", "g7", "g12", []string{"cluster-ca-g7", "cluster-ca-g12"}, ""},
		{"material without IDs keeps the names of its roles", "", "", []string{"cluster-ca-old", "cluster-ca-new"}, ""},
		{"a legacy CA promoted keeps the name it had as new", "new", "g1", []string{"cluster-ca-new", "cluster-ca-g1"}, ""},
		{"two CAs with one ID are refused at the new CA's annotation", "g1", "g1", nil, "metadata.annotations.carousel.dev/ca-id"},
		{"an ID that cannot end a name is refused", "g1", "G_2", nil, "must be a DNS label"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkg := example(t)
			cfg := pkg.WithPhase(t, phases.TrustNew)
			rot, err := spec.Load(cfg)
			if err != nil {
				t.Fatal(err)
			}
			items := pkg.CopyItems()
			for _, n := range items {
				anns := n.GetAnnotations()
				if n.GetKind() != "KeyPair" || anns["carousel.dev/role"] != "ca" {
					continue
				}
				id := map[string]string{"old": tt.oldID, "new": tt.newID}[anns["carousel.dev/generation"]]
				if id == "" {
					delete(anns, "carousel.dev/ca-id")
				} else {
					anns["carousel.dev/ca-id"] = id
				}
				if err := n.SetAnnotations(anns); err != nil {
					t.Fatal(err)
				}
			}
			out := gen.Render(gen.Input{Rotation: rot, Config: cfg, Items: items, Now: testkit.Now})
			if tt.err != "" {
				if !out.Failed() || !strings.Contains(out.Results.Error(), tt.err) {
					t.Fatalf("want an error naming %q, got %v", tt.err, out.Results)
				}
				return
			}
			if out.Failed() {
				t.Fatal(out.Results)
			}
			var got []string
			for _, n := range out.Items {
				if n.GetKind() == "Secret" && n.GetNamespace() == "kube-system" && strings.HasPrefix(n.GetName(), "cluster-ca-") {
					got = append(got, n.GetName())
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("generation Secrets %v, want %v", got, tt.want)
			}
		})
	}
}
