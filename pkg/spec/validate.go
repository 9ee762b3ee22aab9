package spec

import (
	"fmt"
	"slices"
	"strings"

	"github.com/carousel-dev/carousel/pkg/phases"
)

// Validate checks what the schema cannot: cross-field rules, durations,
// names, references between fields. It assumes Default ran. Each area's
// rules live in their own file (validate_*.go); every problem is collected,
// so a user fixes a spec in one pass.
func (r *CARotation) Validate() error {
	var errs FieldErrors
	r.validatePosition(&errs)
	s := &r.Spec
	s.validateMeshRootCertificates(&errs)
	s.validatePackage(&errs)
	claims := s.validateCA(&errs)
	leafNames := s.validateLeaves(&errs, claims)
	s.validateBundles(&errs, claims)
	s.validateTargets(&errs)
	s.validateWorkloadKinds(&errs)
	s.validateRestarts(&errs, leafNames)
	r.validateCertManager(&errs)
	s.validateProbes(&errs, leafNames)
	s.validateAlerts(&errs)
	s.validateClusters(&errs)
	s.validateCompromised(&errs)
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// validatePosition checks what the object is and where the rotation
// stands: its kind, its name, and a scope, phase and step that exist.
func (r *CARotation) validatePosition(errs *FieldErrors) {
	if r.APIVersion != APIVersion || r.Kind != Kind {
		errs.add("apiVersion", "want %s %s, got %s %s", APIVersion, Kind, r.APIVersion, r.Kind)
	}
	if !dnsLabel.MatchString(r.Metadata.Name) {
		errs.add("metadata.name", "%q must be a DNS label of at most 63 characters: it names material and the restart annotation", r.Metadata.Name)
	}
	s := &r.Spec
	if _, err := phases.Index(s.Scope, phases.Steady); err != nil {
		errs.add("spec.scope", "%v", err)
	} else if _, err := phases.Index(s.Scope, s.Phase); err != nil {
		errs.add("spec.phase", "%v", err)
	} else if _, err := phases.Resolve(s.Scope, r.Position(), r.Features()); err != nil {
		errs.add("spec.step", "%v", err)
	}
	if !s.PhaseSince.IsZero() {
		s.PhaseSince.check(errs, "spec.phaseSince")
	}
}

// validatePackage checks the fields about the package itself rather than
// what it renders: where material lives, warnings, the mesh gate, where the
// state is published, who consumes it, which runbook applies.
func (s *Spec) validatePackage(errs *FieldErrors) {
	if strings.HasPrefix(s.MaterialDir, "/") || slices.Contains(strings.Split(s.MaterialDir, "/"), "..") {
		errs.add("spec.materialDir", "%q must be a relative path inside the package", s.MaterialDir)
	}
	s.ExpiryWarning.check(errs, "spec.expiryWarning")
	if w := s.WorkloadCertificates; w != nil {
		l, isLeaf := s.LeafByName(w.Issuer)
		switch {
		case w.Issuer == IssuerCA && isLeaf:
			errs.add("spec.workloadCertificates.issuer", "%q names both the rotation's CA and a leaf of that name: rename the leaf", w.Issuer)
		case w.Issuer == IssuerCA && s.CA.Secret == nil:
			errs.add("spec.workloadCertificates.issuer", "%q (the rotation's CA signs the workloads' certificates) needs spec.ca.secret, the Secret the control plane signs with", w.Issuer)
		case w.Issuer != IssuerCA && (!isLeaf || !l.IsCA):
			errs.add("spec.workloadCertificates.issuer", "%q must name a leaf with isCA: true (the intermediate that signs the workloads' certificates), or be %q (the rotation's CA, through spec.ca.secret)", w.Issuer, IssuerCA)
		}
		w.Lifetime.check(errs, "spec.workloadCertificates.lifetime")
	}
	if s.Publish != "" && (strings.HasPrefix(s.Publish, "/") || !strings.HasSuffix(s.Publish, ".yaml")) {
		errs.add("spec.publish", "%q must be a relative path of a .yaml file (from the directory of this file)", s.Publish)
	}
	for i, c := range s.Consumers {
		if !consumerName.MatchString(c) || slices.Contains(s.Consumers[:i], c) {
			errs.add(fmt.Sprintf("spec.consumers[%d]", i), "%q must be an application's name (Argo CD) or <namespace>/<name> (a Flux Kustomization), listed once", c)
		}
	}
	if !slices.Contains(Runbooks, s.Runbook) {
		errs.add("spec.runbook", "%q is not a runbook (want one of %s)", s.Runbook, runbookList())
	} else if s.Scope == phases.ScopeRenew && s.Runbook != RunbookNone && s.Runbook != "" {
		// The node steps of a renewal (the renewed certificate into the
		// CA file and the bundles, no server certificate re-issued) are
		// not written yet: the CA rotation's would re-issue them.
		errs.add("spec.runbook", "%q has no node steps for scope renew yet: renew the CA with scope ca (`carousel start --scope ca`), or render without the runbook and update the node files by hand", s.Runbook)
	} else if s.Scope == phases.ScopeCrossSign && s.Runbook != RunbookNone && s.Runbook != "" {
		// The CA rotation's node steps follow its table (trust before
		// signing); a cross-signed rotation signs first.
		errs.add("spec.runbook", "%q has no node steps for scope cross-sign yet: rotate the CA with scope ca (`carousel start --scope ca`), or render without the runbook and update the node files by hand", s.Runbook)
	} else if s.Scope == phases.ScopeRecover && s.Runbook == RunbookFrontProxy {
		errs.add("spec.runbook", "%q has no node steps for scope recover yet (only kubernetes, the cluster CA, has): render without the runbook and write the front-proxy CA files by hand", s.Runbook)
	}
	if s.Scope == phases.ScopeCrossSign && s.CA.TrustsRoots() {
		// The old CA would be an intermediate under a root the trust
		// objects hold: its cross-certificate chains to that root only
		// with the old CA's chain after it, which is not rendered.
		errs.add("spec.ca.trust", "%q is not supported with scope cross-sign: the trusted roots do not change in a cross-signed rotation of an intermediate; rotate it with scope ca", s.CA.Trust)
	}
}
