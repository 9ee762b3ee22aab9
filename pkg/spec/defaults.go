package spec

import (
	"maps"
	"regexp"
	"time"

	"github.com/carousel-dev/carousel/pkg/phases"
)

// Defaults applied when a field is empty.
const (
	DefaultMaterialDir   = "material"
	DefaultExpiryWarning = 720 * time.Hour
	// DefaultPhaseStuckAfter is a week: a phase waits for its rollouts
	// and, with workload certificates, their lifetime (a day), so a week
	// in one phase is a rotation someone forgot, not one under way.
	DefaultPhaseStuckAfter = 168 * time.Hour
	// DefaultSeverity is the alerts' severity label, in the words
	// kube-prometheus-stack's own rules use (critical, warning, info).
	DefaultSeverity = "warning"
	// DefaultWorkloadCertificateLifetime is Linkerd's and Istio's default
	// lifetime of a workload certificate.
	DefaultWorkloadCertificateLifetime = 24 * time.Hour
	DefaultCAValidity                  = 87600 * time.Hour
	DefaultLeafValidity                = 8760 * time.Hour
	DefaultKeyAlgorithm                = "ecdsa-p256"
	DefaultSecretType                  = "kubernetes.io/tls"
	DefaultBundleKey                   = "ca.crt"
	DefaultKubeconfigKey               = "value"
	// OmitKey as a SecretKeys value leaves that key out of the Secret.
	OmitKey = "-"
	// Trust is the restart consumption of the trusted set.
	Trust = "trust"
	// LeafPrefix prefixes a restart consumption of one leaf.
	LeafPrefix = "leaf:"
	// SigningCA is what a restart rule's workload consumes when it reads
	// spec.ca.secret through the API rather than a pod spec reference
	// (osm-controller reads osm-ca-bundle so): the signing CA and the
	// trusted set, which change at sign-new as well as with the trust.
	SigningCA = "ca"
)

// consumerName is an Argo CD Application or a Flux Kustomization (namespace/name).
var consumerName = regexp.MustCompile(`^([a-z0-9]([-a-z0-9]*[a-z0-9])?/)?[a-z0-9]([-.a-z0-9]*[a-z0-9])?$`)

// KeyAlgorithms carousel can make keys for.
var KeyAlgorithms = []string{"ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-2048", "rsa-3072", "rsa-4096"}

// Default fills every empty field with its default. It is idempotent.
func (r *CARotation) Default() error {
	s := &r.Spec
	if s.Scope == "" {
		s.Scope = phases.ScopeCA
	}
	if s.Phase == "" {
		s.Phase = phases.Steady
	}
	if s.MaterialDir == "" {
		s.MaterialDir = DefaultMaterialDir
	}
	if s.Runbook == "" {
		s.Runbook = RunbookNone
	}
	if s.ExpiryWarning.IsZero() {
		s.ExpiryWarning = DurationOf(DefaultExpiryWarning)
	}
	if a := s.Alerts; a != nil {
		if a.Name == "" {
			a.Name = r.Metadata.Name + "-alerts"
		}
		if a.ExpiryWarning.IsZero() {
			a.ExpiryWarning = s.ExpiryWarning
		}
		if a.PhaseStuckAfter.IsZero() {
			a.PhaseStuckAfter = DurationOf(DefaultPhaseStuckAfter)
		}
		if _, ok := a.AlertLabels["severity"]; !ok {
			a.AlertLabels = maps.Clone(a.AlertLabels)
			if a.AlertLabels == nil {
				a.AlertLabels = map[string]string{}
			}
			a.AlertLabels["severity"] = DefaultSeverity
		}
	}
	if w := s.WorkloadCertificates; w != nil && w.Lifetime.IsZero() {
		w.Lifetime = DurationOf(DefaultWorkloadCertificateLifetime)
	}
	if s.CA.CommonName == "" {
		s.CA.CommonName = r.Metadata.Name
	}
	if s.CA.Validity.IsZero() {
		s.CA.Validity = DurationOf(DefaultCAValidity)
	}
	if s.CA.Key.Algorithm == "" {
		s.CA.Key.Algorithm = DefaultKeyAlgorithm
	}
	if s.CA.Secret != nil {
		s.CA.Secret.defaults()
	}
	for i := range s.Leaves {
		l := &s.Leaves[i]
		l.Secret.defaults()
		// Certificates carry A-labels: an internationalised name is
		// issued, requested and compared in its ASCII form. One IDNA
		// cannot convert stays, and Validate refuses it with its reason.
		for j, d := range l.DNSNames {
			if a, err := DNSNameToASCII(d); err == nil {
				l.DNSNames[j] = a
			}
		}
		if l.CommonName == "" {
			l.CommonName = l.Name
		}
		if len(l.Usages) == 0 {
			l.Usages = []string{"server"}
		}
		if l.Validity.IsZero() {
			l.Validity = DurationOf(DefaultLeafValidity)
		}
		if l.Key.Algorithm == "" {
			l.Key.Algorithm = DefaultKeyAlgorithm
		}
	}
	for i := range s.Bundles {
		b := &s.Bundles[i]
		if b.Kind == "" {
			b.Kind = "ConfigMap"
		}
		if b.Key == "" {
			b.Key = DefaultBundleKey
		}
	}
	if s.CertManager != nil && s.CertManager.Namespace == "" {
		s.CertManager.Namespace = "cert-manager"
	}
	for i := range s.Kubeconfigs {
		if s.Kubeconfigs[i].Key == "" {
			s.Kubeconfigs[i].Key = DefaultKubeconfigKey
		}
	}
	if m := s.MeshRootCertificates; m != nil && m.TrustDomain == "" {
		m.TrustDomain = "cluster.local"
	}
	for i := range s.Restarts {
		if len(s.Restarts[i].Consumes) == 0 {
			s.Restarts[i].Consumes = []string{Trust}
		}
	}
	return nil
}

func (t *SecretTarget) defaults() {
	if t.Type == "" {
		t.Type = DefaultSecretType
	}
	if t.Keys.Cert == "" {
		t.Keys.Cert = "tls.crt"
	}
	if t.Keys.Key == "" {
		t.Keys.Key = "tls.key"
	}
	if t.Keys.CA == "" {
		t.Keys.CA = "ca.crt"
	}
}
