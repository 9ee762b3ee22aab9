package spec

import (
	"fmt"

	"github.com/carousel-dev/carousel/pkg/phases"
)

// validateCertManager checks the cert-manager backend's fields, and refuses
// what that backend does not render (yet): carousel holds no CA key there,
// so nothing it would have to sign or write a private key into can be asked
// of it.
func (r *CARotation) validateCertManager(errs *FieldErrors) {
	s := &r.Spec
	switch s.Backend {
	case "", BackendMaterial:
		if s.CertManager != nil {
			errs.add("spec.certManager", "is only read with backend: %s", BackendCertManager)
		}
		return
	case BackendCertManager:
	default:
		errs.add("spec.backend", "%q is not a backend (want %s or %s)", s.Backend, BackendMaterial, BackendCertManager)
		return
	}
	cm := s.CertManager
	if cm == nil {
		errs.add("spec.certManager", "is required with backend: %s (at least generations.old)", BackendCertManager)
		return
	}
	if cm.Namespace != "" && !dnsLabel.MatchString(cm.Namespace) {
		errs.add("spec.certManager.namespace", "%q is not a namespace name (a DNS label: a-z, 0-9 and \"-\", at most 63 characters)", cm.Namespace)
	}
	if cm.Generations.Old < 1 {
		errs.add("spec.certManager.generations.old", "must be at least 1")
	}
	if g := cm.Generations; g.New != 0 && g.New != g.Old+1 {
		errs.add("spec.certManager.generations.new", "must be old+1 (%d) or absent: generation numbers only grow, one rotation at a time", g.Old+1)
	}
	if cm.Generations.New == 0 && s.Phase != phases.Steady {
		errs.add("spec.certManager.generations.new", "phase %s needs the new CA generation: run `carousel start` (it sets generations.new)", s.Phase)
	}
	if ref := cm.IssuerRef; ref != nil {
		if !dnsSubdomain.MatchString(ref.Name) {
			errs.add("spec.certManager.issuerRef.name", "%q is not an issuer name", ref.Name)
		}
	}
	if s.Scope != phases.ScopeCA {
		errs.add("spec.scope", "backend %s rotates CAs only: cert-manager re-issues leaves itself (renewBefore), so scope %q has nothing to render", BackendCertManager, s.Scope)
	}
	if s.CA.Secret != nil {
		errs.add("spec.ca.secret", "backend %s renders no CA Secret: cert-manager writes one per generation (spec.certManager.namespace/<rotation>-ca-g<n>) and a ClusterIssuer reads it", BackendCertManager)
	}
	if s.CA.PathLength != nil {
		errs.add("spec.ca.pathLength", "backend %s cannot set it: cert-manager's Certificate has no path length", BackendCertManager)
	}
	if s.CA.Key.Encoding != "" {
		errs.add("spec.ca.key.encoding", "backend %s: the key never leaves the cluster, so its encoding is cert-manager's", BackendCertManager)
	}
	for i, l := range s.Leaves {
		p := fmt.Sprintf("spec.leaves[%d]", i)
		if l.Secret.Type != DefaultSecretType || l.Secret.Keys != (SecretKeys{Cert: "tls.crt", Key: "tls.key", CA: "ca.crt"}) {
			errs.add(p+".secret", "backend %s: cert-manager writes a kubernetes.io/tls Secret with tls.crt, tls.key and ca.crt; other types and keys are not possible", BackendCertManager)
		}
		if l.Key.Encoding == KeyEncodingSEC1 {
			errs.add(p+".key.encoding", "backend %s: cert-manager encodes keys as pkcs1 (SEC 1 for ECDSA) or pkcs8", BackendCertManager)
		}
	}
	for _, f := range []struct {
		set  bool
		path string
	}{
		{len(s.Kubeconfigs) > 0, "spec.kubeconfigs"},
		{s.ServiceAccountTokens, "spec.serviceAccountTokens"},
		{s.Runbook != RunbookNone && s.Runbook != "", "spec.runbook"},
	} {
		if f.set {
			errs.add(f.path, "not rendered by backend %s yet: use the material backend for it", BackendCertManager)
		}
	}
}
