package rotate

import (
	"crypto/x509"
	"fmt"
	"slices"

	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// checkEmergency holds `start --scope emergency` to what the route is for:
// replacing the current CA because it is compromised. The mark is the
// reviewer's to add (spec.compromised, by hand, in the same pull request
// as the material), so start refuses until it is there and prints the
// line: carousel never decides on its own that a key is compromised.
func checkEmergency(rot *spec.CARotation, scope phases.Scope, current *x509.Certificate) error {
	if scope != phases.ScopeEmergency {
		return nil
	}
	fp := pki.Fingerprint(current)
	if slices.Contains(rot.Spec.Compromised, fp) {
		return nil
	}
	return fmt.Errorf("the emergency route replaces a CA marked compromised, and the current CA %q is not: if its key is compromised, add its fingerprint under spec:\n\n  compromised:\n  - %s\n\nthen run start again. Without a compromise, rotate with scope ca (`carousel start --scope ca`), which keeps every handshake", current.Subject.CommonName, fp)
}
