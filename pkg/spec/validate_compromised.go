package spec

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/carousel-dev/carousel/pkg/phases"
)

// fingerprint is a SHA-256 fingerprint as carousel prints them
// (pki.Fingerprint): 64 lower-case hex digits.
var fingerprint = regexp.MustCompile(`^[0-9a-f]{64}$`)

// validateCompromised checks spec.compromised, and that the emergency
// route names what it replaces: a scope emergency without a mark would
// pay the route's outage for nothing a safe rotation could not do.
func (s *Spec) validateCompromised(errs *FieldErrors) {
	for i, f := range s.Compromised {
		p := fmt.Sprintf("spec.compromised[%d]", i)
		switch {
		case !fingerprint.MatchString(f):
			errs.add(p, "%q must be a CA certificate's SHA-256 fingerprint, 64 lower-case hex digits (as `carousel start --scope emergency` prints it)", f)
		case slices.Contains(s.Compromised[:i], f):
			errs.add(p, "%q is listed twice", f)
		}
	}
	if len(s.Compromised) > 0 && s.Backend.KeysInCluster() {
		errs.add("spec.compromised", "is not checked with backend cert-manager yet (the CAs are in the cluster, not in the render): replace the CA with cert-manager's own issuer, or use backend material")
	}
	if s.CA.TrustsRoots() && (s.Scope == phases.ScopeEmergency || s.Scope == phases.ScopeRecover) {
		// The trusted set is the shared root: a new intermediate under it
		// distrusts nothing, and one carousel makes alone chains to no root.
		errs.add("spec.scope", "%s is not supported with spec.ca.trust: root: a cluster's intermediate is trusted through the shared root, so replacing it distrusts nothing; have the root's owner sign a new one (csr --ca, sign, import) and rotate with scope ca", s.Scope)
	}
	s.validateRoutes(errs)
	if s.Scope == phases.ScopeEmergency {
		if len(s.Compromised) == 0 {
			errs.add("spec.compromised", "is empty while spec.scope is emergency: the emergency route replaces a compromised CA, which must be marked here (`carousel start --scope emergency` prints the line); without one, rotate with scope ca, which keeps every handshake")
		}
		if s.Runbook != "" && s.Runbook != RunbookNone {
			errs.add("spec.runbook", "%q has no node steps for scope emergency yet: replace a node-level CA with scope ca, or render without the runbook and follow the node steps by hand", s.Runbook)
		}
	}
}

// validateRoutes checks spec.routes: known scopes, each once, and the
// rotation's own scope among them.
func (s *Spec) validateRoutes(errs *FieldErrors) {
	for i, r := range s.Routes {
		p := fmt.Sprintf("spec.routes[%d]", i)
		switch {
		case !slices.Contains(phases.Scopes, r):
			errs.add(p, "%q is not a scope (want one of %s)", r, scopeList())
		case slices.Contains(s.Routes[:i], r):
			errs.add(p, "%q is listed twice", r)
		}
	}
	if len(s.Routes) > 0 && s.Scope != "" && !slices.Contains(s.Routes, s.Scope) {
		errs.add("spec.scope", "%s is not among spec.routes (%s): the system behind this rotation is not known to support it (the preset's comment says why)", s.Scope, joinScopes(s.Routes))
	}
}

func scopeList() string { return joinScopes(phases.Scopes) }

func joinScopes(scopes []phases.Scope) string {
	out := make([]string, len(scopes))
	for i, s := range scopes {
		out[i] = string(s)
	}
	return strings.Join(out, ", ")
}
