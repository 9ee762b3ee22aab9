package gen_test

import (
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
		{phases.Steady, map[string]bool{"cluster-ca-old": true}},
		{phases.TrustNew, map[string]bool{"cluster-ca-old": true, "cluster-ca-new": true}},
		{phases.SignNew, map[string]bool{"cluster-ca-old": true, "cluster-ca-new": true}},
		{phases.DistrustOld, map[string]bool{"cluster-ca-old": false, "cluster-ca-new": true}},
		{phases.Cleanup, map[string]bool{"cluster-ca-new": true}},
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
			for _, name := range []string{"cluster-ca-old", "cluster-ca-new"} {
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
