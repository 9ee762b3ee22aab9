package status

import (
	"testing"

	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// The leaf order check runs in the phases an issuerRef flip lands in, and
// only there: elsewhere cert-manager rewrites a leaf only to renew it.
func TestSignerFlipsInThePhasesAnIssuerRefFlipLandsIn(t *testing.T) {
	want := map[phases.Phase]bool{
		phases.Steady:      false, // the next phase signs with the same CA
		phases.TrustNew:    true,  // a rollback from sign-new flips back to the old signer
		phases.SignNew:     true,  // the flip forward
		phases.DistrustOld: false,
		phases.Cleanup:     false,
	}
	for phase, flips := range want {
		t.Run(string(phase), func(t *testing.T) {
			rot := &spec.CARotation{Spec: spec.Spec{Scope: phases.ScopeCA, Phase: phase}}
			got, err := signerFlips(rot)
			if err != nil {
				t.Fatal(err)
			}
			if got != flips {
				t.Fatalf("signerFlips at %s = %v, want %v", phase, got, flips)
			}
		})
	}
}
