package gen

import (
	"fmt"
	"slices"

	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
)

// checkCompromised refuses a phase whose trusted set, or whose signer,
// is a CA marked compromised (spec.compromised): such a CA is never
// trusted again, whatever brought the phase back (a rollback, a hand edit,
// another scope over the same material). The one exception is where the
// emergency route starts: its steady phase is what the cluster runs when
// the compromise is found, and replace is the way out, which the warning
// names (docs/phases.md, "Emergency: a compromised CA").
func (r *renderer) checkCompromised() {
	marked := r.rot.Spec.Compromised
	if len(marked) == 0 {
		return
	}
	certs := slices.Concat(r.trust.certs, r.published.certs)
	if s, ok := r.set.CA[r.state.Signer]; ok {
		certs = append(certs, s.Cert())
	}
	seen := map[string]bool{}
	for _, c := range certs {
		fp := pki.Fingerprint(c)
		if seen[fp] || !slices.Contains(marked, fp) {
			continue
		}
		seen[fp] = true
		if r.rot.Spec.Scope == phases.ScopeEmergency && r.state.Phase == phases.Steady {
			r.warnAt(r.in.Config, "spec.compromised", "the CA %q (sha256 %s) is marked compromised and is still trusted at steady: advance to replace now (`carousel advance`); every pair of steady and replace pods fails until it has rolled out (`carousel plan`)", c.Subject.CommonName, fp)
			continue
		}
		r.configError("spec.phase", fmt.Errorf("phase %s trusts the CA %q (sha256 %s), which spec.compromised marks compromised: no phase may trust it again. Replace it with the emergency route (`carousel start --scope emergency` at steady), or move on to a phase that no longer trusts it", r.rot.Spec.Phase, c.Subject.CommonName, fp))
	}
}
