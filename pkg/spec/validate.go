package spec

import (
	"fmt"
	"golang.org/x/net/idna"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/targets"
)

// FieldError is a problem with one field of a resource. Path uses the KRM
// results convention: dot-separated, with [i] for list indices.
type FieldError struct {
	Path    string
	Message string
}

func (e FieldError) Error() string { return e.Path + ": " + e.Message }

// FieldErrors collects every problem so a user fixes a spec in one pass.
type FieldErrors []FieldError

func (es FieldErrors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "; ")
}

func (es *FieldErrors) add(path, format string, args ...any) {
	*es = append(*es, FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
}

// Defaults applied when a field is empty.
const (
	DefaultMaterialDir   = "material"
	DefaultExpiryWarning = 720 * time.Hour
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

var (
	// The API server's name rules (apimachinery's IsDNS1123Label and
	// IsDNS1123Subdomain): a name it would refuse is refused here, with its
	// field, instead of at every apply.
	dnsLabel     = nameRule{regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`), 63}
	dnsSubdomain = nameRule{regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`), 253}
	dataKey      = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)
)

// Validate checks what the schema cannot: cross-field rules, durations,
// names, references between fields. It assumes Default ran.
func (r *CARotation) Validate() error {
	var errs FieldErrors
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
	if m := s.MeshRootCertificates; m != nil {
		if s.Scope != phases.ScopeCA {
			errs.add("spec.meshRootCertificates", "a MeshRootCertificate names a CA: it needs scope: ca")
		}
		if s.CA.Secret == nil {
			errs.add("spec.meshRootCertificates", "each MeshRootCertificate's secretRef names its generation's CA Secret: set spec.ca.secret")
		}
		if !dnsSubdomain.MatchString(m.Name) {
			errs.add("spec.meshRootCertificates.name", "%q must be a DNS subdomain (a-z, 0-9, \"-\" and \".\", at most 253 characters)", m.Name)
		} else if len(m.Name)+generationSuffix > dnsSubdomain.max {
			errs.add("spec.meshRootCertificates.name", "%q is too long: each generation's MeshRootCertificate is named <name>-<CA ID> (up to %d more characters)", m.Name, generationSuffix)
		}
		if !dnsLabel.MatchString(m.Namespace) {
			errs.add("spec.meshRootCertificates.namespace", "%q must be a namespace name (a DNS label: a-z, 0-9 and \"-\", at most 63 characters)", m.Namespace)
		}
	}
	if strings.HasPrefix(s.MaterialDir, "/") || slices.Contains(strings.Split(s.MaterialDir, "/"), "..") {
		errs.add("spec.materialDir", "%q must be a relative path inside the package", s.MaterialDir)
	}
	s.ExpiryWarning.check(&errs, "spec.expiryWarning")
	if w := s.WorkloadCertificates; w != nil {
		if l, ok := s.LeafByName(w.Issuer); !ok || !l.IsCA {
			errs.add("spec.workloadCertificates.issuer", "%q must name a leaf with isCA: true (the intermediate that signs the workloads' certificates)", w.Issuer)
		}
		w.Lifetime.check(&errs, "spec.workloadCertificates.lifetime")
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
	}
	s.CA.Validity.check(&errs, "spec.ca.validity")
	checkKey(&errs, "spec.ca.key", s.CA.Key)
	if s.CA.PathLength != nil && *s.CA.PathLength < 0 {
		errs.add("spec.ca.pathLength", "must not be negative")
	}

	secrets := map[string]string{} // namespace/name -> path of first use
	claim := func(path, ns, name string) {
		k := ns + "/" + name
		if prev, ok := secrets[k]; ok {
			errs.add(path, "Secret %s is already rendered by %s", k, prev)
			return
		}
		secrets[k] = path
	}
	if s.CA.Secret != nil {
		checkSecret(&errs, "spec.ca.secret", *s.CA.Secret)
		if n := s.CA.Secret.Name; len(n)+generationSuffix > dnsSubdomain.max {
			errs.add("spec.ca.secret.name", "%q is too long: each CA generation's Secret is named <name>-<CA ID> (up to %d more characters), and a name may have at most %d", n, generationSuffix, dnsSubdomain.max)
		}
		claim("spec.ca.secret", s.CA.Secret.Namespace, s.CA.Secret.Name)
		// The generation Secrets are <name>-<CA ID>: g1, g2, ... and, for
		// material from before IDs were recorded, old and new. The IDs are
		// in the material, so the spec claims every name they can take.
		genName := regexp.MustCompile(`^` + regexp.QuoteMeta(s.CA.Secret.Name) + `-(old|new|g[0-9]+)$`)
		claimGen := claim
		claim = func(path, ns, name string) {
			if ns == s.CA.Secret.Namespace && genName.MatchString(name) {
				errs.add(path, "Secret %s/%s is a name of spec.ca.secret's CA generation Secrets (%s-<CA ID>: -g1, -g2, ..., or -old/-new): choose another name", ns, name, s.CA.Secret.Name)
				return
			}
			claimGen(path, ns, name)
		}
	} else if len(s.CA.TrustedAnnotations) > 0 {
		errs.add("spec.ca.trustedAnnotations", "needs spec.ca.secret: they annotate the CA generation Secrets it renders")
	}
	leafNames := map[string]bool{}
	for i, l := range s.Leaves {
		p := fmt.Sprintf("spec.leaves[%d]", i)
		if !dnsLabel.MatchString(l.Name) {
			errs.add(p+".name", "%q must be a DNS label (a-z, 0-9 and \"-\", at most 63 characters)", l.Name)
		} else if leafNames[l.Name] {
			errs.add(p+".name", "leaf %q is listed twice", l.Name)
		}
		leafNames[l.Name] = true
		checkSecret(&errs, p+".secret", l.Secret)
		claim(p+".secret", l.Secret.Namespace, l.Secret.Name)
		l.Validity.check(&errs, p+".validity")
		checkKey(&errs, p+".key", l.Key)
		for j, u := range l.Usages {
			if u != "server" && u != "client" {
				errs.add(fmt.Sprintf("%s.usages[%d]", p, j), "%q is not a usage (want server or client)", u)
			}
		}
		for j, d := range l.DNSNames {
			checkDNSName(&errs, fmt.Sprintf("%s.dnsNames[%d]", p, j), d)
		}
		for j, ip := range l.IPAddresses {
			if net.ParseIP(ip) == nil {
				errs.add(fmt.Sprintf("%s.ipAddresses[%d]", p, j), "%q is not an IP address", ip)
			}
		}
		if l.CommonName == "" && len(l.DNSNames) == 0 && len(l.IPAddresses) == 0 {
			errs.add(p, "a leaf needs a commonName, dnsNames or ipAddresses")
		}
	}
	// A group name selects every leaf of its group wherever a leaf name is
	// taken (start --leaf, csr --leaf). It may equal a leaf's name only when
	// that leaf is in the group (a service with one leaf named after it):
	// otherwise one name would select two different sets of leaves.
	for i, l := range s.Leaves {
		if l.Group == "" {
			continue
		}
		p := fmt.Sprintf("spec.leaves[%d].group", i)
		if !dnsLabel.MatchString(l.Group) {
			errs.add(p, "%q must be a DNS label (a-z, 0-9 and \"-\", at most 63 characters)", l.Group)
		} else if other, ok := s.LeafByName(l.Group); ok && other.Group != l.Group {
			errs.add(p, "%q is also the name of leaf %q, which is not in group %q: name the group differently (or put that leaf in it)", l.Group, other.Name, l.Group)
		}
	}
	bundles := map[string]string{}
	for i, b := range s.Bundles {
		p := fmt.Sprintf("spec.bundles[%d]", i)
		if !dnsSubdomain.MatchString(b.Name) {
			errs.add(p+".name", "%q must be a DNS subdomain (a-z, 0-9, \"-\" and \".\", at most 253 characters)", b.Name)
		}
		if b.Kind != "ConfigMap" && b.Kind != "Secret" {
			errs.add(p+".kind", "%q must be ConfigMap or Secret", b.Kind)
		}
		if !dataKey.MatchString(b.Key) {
			errs.add(p+".key", "%q is not a valid data key", b.Key)
		}
		if len(b.Namespaces) == 0 && !b.AllNamespaces {
			errs.add(p+".namespaces", "list namespaces or set allNamespaces: true")
		}
		for j, ns := range b.Namespaces {
			if !dnsLabel.MatchString(ns) {
				errs.add(fmt.Sprintf("%s.namespaces[%d]", p, j), "%q is not a namespace name (a DNS label: a-z, 0-9 and \"-\", at most 63 characters)", ns)
			}
			k := b.Kind + "/" + ns + "/" + b.Name
			if prev, ok := bundles[k]; ok {
				errs.add(fmt.Sprintf("%s.namespaces[%d]", p, j), "%s is already rendered by %s", k, prev)
			}
			bundles[k] = p
			if b.Kind == "Secret" {
				claim(fmt.Sprintf("%s.namespaces[%d]", p, j), ns, b.Name)
			}
		}
	}
	if ci := s.ClusterInfo; ci != nil {
		u, err := url.Parse(ci.Server)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			errs.add("spec.clusterInfo.server", "%q must be an https:// URL of the API server", ci.Server)
		}
	}
	if s.ServiceAccountTokens && s.Runbook == RunbookFrontProxy {
		errs.add("spec.serviceAccountTokens", "a service-account token's ca.crt is the cluster CA (kube-controller-manager --root-ca-file), not the front-proxy CA: set it on the cluster CA's rotation (runbook: kubernetes)")
	}
	for i, t := range s.CABundles {
		p := fmt.Sprintf("spec.caBundles[%d]", i)
		k, _ := targets.Lookup(t.Kind)
		if k.CABundle == nil {
			errs.add(p+".kind", "%q cannot carry a caBundle (want one of %s)", t.Kind, strings.Join(targets.CABundleKinds(), ", "))
		}
		if t.Name == "" {
			errs.add(p+".name", "is required")
		}
		if len(t.Webhooks) > 0 && (k.CABundle == nil || k.CABundle.Each == "") {
			errs.add(p+".webhooks", "only webhook configurations have webhooks")
		}
	}
	for i, k := range s.Kubeconfigs {
		p := fmt.Sprintf("spec.kubeconfigs[%d]", i)
		if k.Name == "" || k.Namespace == "" {
			errs.add(p, "name and namespace are required")
		}
		if !dataKey.MatchString(k.Key) {
			errs.add(p+".key", "%q is not a valid data key", k.Key)
		}
	}
	for i, rs := range s.Restarts {
		p := fmt.Sprintf("spec.restarts[%d]", i)
		if rs.Kind != "" && !slices.Contains(targets.RolledKinds(), rs.Kind) {
			errs.add(p+".kind", "%q is not a workload kind (want one of %s)", rs.Kind, strings.Join(targets.RolledKinds(), ", "))
		}
		if rs.Name == "" && len(rs.Selector) == 0 && rs.Namespace == "" && rs.Kind == "" &&
			rs.PodSelector == nil && len(rs.PodAnnotations) == 0 && !rs.NamespaceConditions() {
			errs.add(p, "name a workload or give a kind, namespace, selector, podSelector, podAnnotations, namespaceSelector or namespaceAnnotations: an empty rule would roll everything")
		}
		checkLabelSelector(&errs, p+".podSelector", rs.PodSelector)
		checkLabelSelector(&errs, p+".namespaceSelector", rs.NamespaceSelector)
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
	r.validateCertManager(&errs)
	for i, pr := range s.Probes {
		p := fmt.Sprintf("spec.probes[%d]", i)
		if _, _, err := net.SplitHostPort(pr.Address); err != nil {
			errs.add(p+".address", "%q is not host:port", pr.Address)
		}
		if !leafNames[pr.Leaf] {
			errs.add(p+".leaf", "%q is not a leaf of spec.leaves", pr.Leaf)
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

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

// checkLabelSelector holds a selector's expressions to the rules the API
// server holds a metav1.LabelSelector to: In and NotIn need values, Exists
// and DoesNotExist take none.
func checkLabelSelector(errs *FieldErrors, p string, sel *LabelSelector) {
	if sel == nil {
		return
	}
	for i, e := range sel.MatchExpressions {
		ep := fmt.Sprintf("%s.matchExpressions[%d]", p, i)
		if e.Key == "" {
			errs.add(ep+".key", "is required")
		}
		switch e.Operator {
		case OpIn, OpNotIn:
			if len(e.Values) == 0 {
				errs.add(ep+".values", "%s needs values", e.Operator)
			}
		case OpExists, OpDoesNotExist:
			if len(e.Values) > 0 {
				errs.add(ep+".values", "%s takes no values", e.Operator)
			}
		default:
			errs.add(ep+".operator", "%q is not an operator (want In, NotIn, Exists or DoesNotExist)", e.Operator)
		}
	}
}

func checkSecret(errs *FieldErrors, p string, t SecretTarget) {
	if !dnsSubdomain.MatchString(t.Name) {
		errs.add(p+".name", "%q must be a DNS subdomain (a-z, 0-9, \"-\" and \".\", at most 253 characters)", t.Name)
	}
	if !dnsLabel.MatchString(t.Namespace) {
		errs.add(p+".namespace", "%q must be a namespace name (a DNS label: a-z, 0-9 and \"-\", at most 63 characters)", t.Namespace)
	}
	for _, k := range []struct{ f, v string }{{"cert", t.Keys.Cert}, {"key", t.Keys.Key}, {"ca", t.Keys.CA}, {"chain", t.Keys.Chain}} {
		if k.v != "" && k.v != OmitKey && !dataKey.MatchString(k.v) {
			errs.add(p+".keys."+k.f, "%q is not a valid data key", k.v)
		}
	}
	if t.Keys.Cert == OmitKey || t.Keys.Key == OmitKey {
		errs.add(p+".keys", "cert and key cannot be left out")
	}
	if t.Type == DefaultSecretType && (t.Keys.Cert != "tls.crt" || t.Keys.Key != "tls.key") {
		errs.add(p+".type", "a %s Secret must hold tls.crt and tls.key (the API server refuses it otherwise): use type Opaque for other keys", DefaultSecretType)
	}
}

// checkKey checks a key's algorithm and that its encoding can hold it: PKCS#1
// is RSA's own format and SEC 1 elliptic curves', so either on another
// algorithm is a spec error, not a surprise at `start`.
func checkKey(errs *FieldErrors, p string, k Key) {
	if !slices.Contains(KeyAlgorithms, k.Algorithm) {
		errs.add(p+".algorithm", "%q is not supported (want one of %s)", k.Algorithm, strings.Join(KeyAlgorithms, ", "))
	}
	switch k.Encoding {
	case "", KeyEncodingPKCS8:
	case KeyEncodingPKCS1:
		if !strings.HasPrefix(k.Algorithm, "rsa-") {
			errs.add(p+".encoding", "pkcs1 holds RSA keys only, not %s (use pkcs8)", k.Algorithm)
		}
	case KeyEncodingSEC1:
		if !strings.HasPrefix(k.Algorithm, "ecdsa-") {
			errs.add(p+".encoding", "sec1 holds ECDSA keys only, not %s (use pkcs8)", k.Algorithm)
		}
	default:
		errs.add(p+".encoding", "%q is not a key encoding (want pkcs8, pkcs1 or sec1)", k.Encoding)
	}
}

// LeavesNamed returns the leaves a name selects: the leaf of that name and
// every leaf whose group it is, in spec order (none: the name is unknown).
func (s *Spec) LeavesNamed(name string) []Leaf {
	var out []Leaf
	for _, l := range s.Leaves {
		if l.Name == name || l.Group == name {
			out = append(out, l)
		}
	}
	return out
}

// LeafByName returns the leaf called name.
func (s *Spec) LeafByName(name string) (Leaf, bool) {
	for _, l := range s.Leaves {
		if l.Name == name {
			return l, true
		}
	}
	return Leaf{}, false
}

// nameRule is a name syntax with the API server's length limit.
type nameRule struct {
	re  *regexp.Regexp
	max int
}

func (n nameRule) MatchString(v string) bool { return len(v) <= n.max && n.re.MatchString(v) }

// generationSuffix is the longest suffix carousel appends to a name it
// renders once per CA generation (<name>-<CA ID>, up to -g9999).
const generationSuffix = len("-g9999")

// hostLabel is one label of a DNS name in a certificate: letters, digits,
// hyphens (not at either end) and, as Go's and OpenSSL's verifiers accept,
// underscores.
var hostLabel = regexp.MustCompile(`^[A-Za-z0-9_]([-A-Za-z0-9_]*[A-Za-z0-9_])?$`)

// DNSNameToASCII returns a leaf's DNS name as a certificate carries it:
// an internationalised name's labels as A-labels (xn--...), as IDNA 2008
// (UTS #46) maps them; an ASCII name as it is. A wildcard's "*." is kept.
func DNSNameToASCII(d string) (string, error) {
	wild, rest := "", d
	if strings.HasPrefix(d, "*.") {
		wild, rest = "*.", d[2:]
	}
	for _, r := range rest {
		if r >= 0x80 {
			a, err := idna.Lookup.ToASCII(rest)
			if err != nil {
				return "", err
			}
			return wild + a, nil
		}
	}
	return d, nil
}

// checkDNSName refuses a subject alternative name no TLS stack matches: an
// empty name or label, a wildcard anywhere but a whole leftmost label, an
// IP address or an email address (each has its own kind of name), a name
// over 253 characters or with a label over 63.
func checkDNSName(errs *FieldErrors, p, d string) {
	switch {
	case d == "":
		errs.add(p, "is empty")
		return
	case net.ParseIP(d) != nil:
		errs.add(p, "%q is an IP address: list it under ipAddresses", d)
		return
	case strings.Contains(d, "@"):
		errs.add(p, "%q is an email address, not a DNS name: carousel issues no email names", d)
		return
	}
	a, err := DNSNameToASCII(d)
	if err != nil {
		errs.add(p, "%q is not a DNS name IDNA can convert to ASCII: %v", d, err)
		return
	}
	name := strings.TrimPrefix(a, "*.")
	if len(a) > 253 {
		errs.add(p, "%q is longer than 253 characters", d)
		return
	}
	for _, l := range strings.Split(name, ".") {
		switch {
		case l == "":
			errs.add(p, "%q has an empty label", d)
			return
		case strings.Contains(l, "*"):
			errs.add(p, "%q: a wildcard must be the whole leftmost label (*.example.com)", d)
			return
		case len(l) > 63:
			errs.add(p, "%q has a label longer than 63 characters", d)
			return
		case !hostLabel.MatchString(l):
			errs.add(p, "%q: label %q may hold only letters, digits, hyphens (not at either end) and underscores", d, l)
			return
		}
	}
}
