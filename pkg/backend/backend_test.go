package backend

import (
	"strings"
	"testing"

	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/spec"
)

func rotation(b spec.Backend, phase phases.Phase, cm *spec.CertManager) *spec.CARotation {
	r := &spec.CARotation{}
	r.Metadata.Name = "mesh"
	r.Spec.Backend = b
	r.Spec.Phase = phase
	r.Spec.CertManager = cm
	return r
}

func TestEveryBackendIsChosenByItsName(t *testing.T) {
	for _, b := range []spec.Backend{spec.BackendMaterial, spec.BackendCertManager} {
		if got := For(rotation(b, phases.Steady, nil)).Name(); got != b {
			t.Errorf("For(%q) is backend %q", b, got)
		}
	}
	if got := For(rotation("", phases.Steady, nil)).Name(); got != spec.BackendMaterial {
		t.Errorf("an empty spec.backend is backend %q, want the default %q", got, spec.BackendMaterial)
	}
}

func TestAnEditOfThePhaseAlonePromotesNothing(t *testing.T) {
	gens := func(old, new int) *spec.CertManager {
		return &spec.CertManager{Generations: spec.CMGenerations{Old: old, New: new}}
	}
	tests := []struct {
		name      string
		base, cur *spec.CARotation
		changed   []string
		refused   string
	}{
		{"material, no material changed", rotation("", phases.Cleanup, nil), rotation("", phases.Steady, nil), nil, "by hand: nothing was promoted"},
		{"material, the material promoted", rotation("", phases.Cleanup, nil), rotation("", phases.Steady, nil), []string{"material/ca-new.yaml"}, ""},
		{"cert-manager, the generations kept", rotation(spec.BackendCertManager, phases.Cleanup, gens(1, 2)), rotation(spec.BackendCertManager, phases.Steady, gens(1, 2)), nil, "still names generation 1 in use"},
		{"cert-manager, the rotation finished", rotation(spec.BackendCertManager, phases.Cleanup, gens(1, 2)), rotation(spec.BackendCertManager, phases.Steady, gens(2, 0)), nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := For(tt.base).Unpromoted(tt.base, tt.cur, tt.changed)
			if tt.refused == "" && got != "" || tt.refused != "" && !strings.Contains(got, tt.refused) {
				t.Fatalf("Unpromoted = %q, want %q", got, tt.refused)
			}
		})
	}
}
