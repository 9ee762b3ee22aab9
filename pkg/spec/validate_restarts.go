package spec

import (
	"fmt"
	"net"
	"slices"
	"strings"
)

// validateRestarts checks the restart rules: each selects something, and
// consumes what the rotation changes.
func (s *Spec) validateRestarts(errs *FieldErrors, leafNames map[string]bool) {
	rolled := s.Kinds().RolledKinds()
	for i, rs := range s.Restarts {
		p := fmt.Sprintf("spec.restarts[%d]", i)
		if rs.Kind != "" && !slices.Contains(rolled, rs.Kind) {
			errs.add(p+".kind", "%q is not a workload kind (want one of %s, or declare it in spec.workloadKinds)", rs.Kind, strings.Join(rolled, ", "))
		}
		if rs.Name == "" && len(rs.Selector) == 0 && rs.Namespace == "" && rs.Kind == "" &&
			rs.PodSelector == nil && len(rs.PodAnnotations) == 0 && !rs.NamespaceConditions() {
			errs.add(p, "name a workload or give a kind, namespace, selector, podSelector, podAnnotations, namespaceSelector or namespaceAnnotations: an empty rule would roll everything")
		}
		checkLabelSelector(errs, p+".podSelector", rs.PodSelector)
		checkLabelSelector(errs, p+".namespaceSelector", rs.NamespaceSelector)
		if rs.Wave < 0 {
			errs.add(p+".wave", "must not be negative")
		}
		for j, c := range rs.Consumes {
			switch {
			case c == Trust, c == SigningCA:
			case c == InClusterConfig:
				if s.Runbook != RunbookKubernetes {
					errs.add(fmt.Sprintf("%s.consumes[%d]", p, j), "%q is the set kube-controller-manager publishes from --root-ca-file, which only the cluster CA's node steps change: it needs runbook: kubernetes (use %q for a bundle the rotation renders)", c, Trust)
				}
			case strings.HasPrefix(c, LeafPrefix) && leafNames[strings.TrimPrefix(c, LeafPrefix)]:
			default:
				errs.add(fmt.Sprintf("%s.consumes[%d]", p, j), "%q must be %q, %q, %q or %q followed by a leaf of spec.leaves", c, Trust, SigningCA, InClusterConfig, LeafPrefix)
			}
		}
	}
}

// validateProbes checks the live TLS probes: an address to dial and the
// leaf it must present.
func (s *Spec) validateProbes(errs *FieldErrors, leafNames map[string]bool) {
	for i, pr := range s.Probes {
		p := fmt.Sprintf("spec.probes[%d]", i)
		if _, _, err := net.SplitHostPort(pr.Address); err != nil {
			errs.add(p+".address", "%q is not host:port", pr.Address)
		}
		if !leafNames[pr.Leaf] {
			errs.add(p+".leaf", "%q is not a leaf of spec.leaves", pr.Leaf)
		}
	}
}
