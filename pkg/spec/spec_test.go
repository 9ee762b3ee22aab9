package spec

import (
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/targets"
)

const base = `apiVersion: carousel.dev/v1alpha1
kind: CARotation
metadata:
  name: mesh
spec:
  ca: {}
  leaves:
  - name: issuer
    secret: {name: issuer, namespace: mesh}
    isCA: true
`

func load(t *testing.T, doc string) (*CARotation, error) {
	t.Helper()
	return Load(yaml.MustParse(doc))
}

func TestDefaultsFillEveryOptionalField(t *testing.T) {
	r, err := load(t, base)
	if err != nil {
		t.Fatal(err)
	}
	s := r.Spec
	l := s.Leaves[0]
	checks := []struct{ name, got, want string }{
		{"scope", string(s.Scope), "ca"},
		{"phase", string(s.Phase), "steady"},
		{"materialDir", s.MaterialDir, "material"},
		{"expiryWarning", s.ExpiryWarning, "720h0m0s"},
		{"CA commonName", s.CA.CommonName, "mesh"},
		{"CA key", s.CA.Key.Algorithm, "ecdsa-p256"},
		{"leaf commonName", l.CommonName, "issuer"},
		{"leaf type", l.Secret.Type, "kubernetes.io/tls"},
		{"leaf cert key", l.Secret.Keys.Cert, "tls.crt"},
		{"leaf ca key", l.Secret.Keys.CA, "ca.crt"},
		{"leaf usages", strings.Join(l.Usages, ","), "server"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	again := *r
	_ = again.Default()
	if again.Spec.ExpiryWarning != s.ExpiryWarning {
		t.Error("defaulting twice changed the spec")
	}
}

func TestBadSpecsFailWithTheirFieldPath(t *testing.T) {
	tests := []struct {
		name, edit, path, message string
	}{
		{"an unknown scope is refused", "  scope: cluster\n", "spec.scope", "should be one of"},
		{"a phase of the other scope is refused", "  scope: leaf\n  phase: trust-new\n", "spec.phase", `unknown phase "trust-new" for scope "leaf"`},
		{"a bad duration is refused", "  expiryWarning: 30d\n", "spec.expiryWarning", "not a duration"},
		{"an unknown field is refused", "  phases: []\n", "spec.phases", "is not a field"},
		{"a material dir outside the package is refused", "  materialDir: ../keys\n", "spec.materialDir", "relative path inside the package"},
		{"a bundle without namespaces is refused", "  bundles:\n  - name: b\n", "spec.bundles[0].namespaces", "allNamespaces"},
		{"a bundle of another kind is refused", "  bundles:\n  - {name: b, kind: Pod, allNamespaces: true}\n", "spec.bundles[0].kind", "should be one of"},
		{"cluster-info needs an https URL", "  clusterInfo: {server: 'http://api:6443'}\n", "spec.clusterInfo.server", "https://"},
		{"a caBundle on an unsupported kind is refused", "  caBundles:\n  - {kind: Service, name: s}\n", "spec.caBundles[0].kind", "should be one of"},
		{"webhooks of a kind without webhooks are refused", "  caBundles:\n  - {kind: APIService, name: v1.metrics.k8s.io, webhooks: [a]}\n", "spec.caBundles[0].webhooks", "only webhook configurations"},
		{"a restart rule of a kind carousel cannot roll is refused", "  restarts:\n  - {kind: Job, consumes: [trust]}\n", "spec.restarts[0].kind", "want one of Deployment, DaemonSet, StatefulSet, ReplicaSet, CronJob"},
		{"an empty restart rule is refused", "  restarts:\n  - consumes: [trust]\n", "spec.restarts[0]", "would roll everything"},
		{"a restart of an unknown leaf is refused", "  restarts:\n  - {name: x, consumes: ['leaf:nope']}\n", "spec.restarts[0].consumes[0]", "followed by a leaf"},
		{"a probe without a port is refused", "  probes:\n  - {address: api.example.dev, leaf: issuer}\n", "spec.probes[0].address", "not host:port"},
		{"a probe of an unknown leaf is refused", "  probes:\n  - {address: 'api:443', leaf: nope}\n", "spec.probes[0].leaf", "not a leaf of spec.leaves"},
		{"a weak key is refused", "  ca: {key: {algorithm: rsa-1024}}\n", "spec.ca.key.algorithm", "should be one of"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := strings.Replace(base, "  ca: {}\n", tt.edit, 1)
			if !strings.Contains(tt.edit, "ca:") {
				doc = base + tt.edit
			}
			_, err := load(t, doc)
			fe, ok := err.(FieldErrors)
			if !ok {
				t.Fatalf("want FieldErrors, got %v", err)
			}
			for _, e := range fe {
				if e.Path == tt.path && strings.Contains(e.Message, tt.message) {
					return
				}
			}
			t.Fatalf("want %s: ...%s..., got %v", tt.path, tt.message, fe)
		})
	}
}

// The kinds a spec may name come from the registry: every kind carousel
// rolls may be named by a restart rule, every kind with a caBundle by
// spec.caBundles.
func TestTheSpecAcceptsEveryRegisteredKind(t *testing.T) {
	for _, kind := range targets.RolledKinds() {
		t.Run("a restart rule may name a "+kind, func(t *testing.T) {
			if _, err := load(t, base+"  restarts:\n  - {kind: "+kind+", consumes: [trust]}\n"); err != nil {
				t.Fatal(err)
			}
		})
	}
	for _, kind := range targets.CABundleKinds() {
		t.Run("spec.caBundles may name a "+kind, func(t *testing.T) {
			if _, err := load(t, base+"  caBundles:\n  - {kind: "+kind+", name: x}\n"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestTwoLeavesCannotShareASecret(t *testing.T) {
	doc := base + "  - name: other\n    secret: {name: issuer, namespace: mesh}\n"
	_, err := load(t, doc)
	if err == nil || !strings.Contains(err.Error(), "spec.leaves[1].secret: Secret mesh/issuer is already rendered by spec.leaves[0].secret") {
		t.Fatalf("got %v", err)
	}
}

func TestTLSSecretsKeepTheirKeyNames(t *testing.T) {
	doc := strings.Replace(base, "secret: {name: issuer, namespace: mesh}", "secret: {name: issuer, namespace: mesh, keys: {cert: cert.pem}}", 1)
	_, err := load(t, doc)
	if err == nil || !strings.Contains(err.Error(), "spec.leaves[0].secret.type") {
		t.Fatalf("got %v", err)
	}
	doc = strings.Replace(base, "secret: {name: issuer, namespace: mesh}", "secret: {name: issuer, namespace: mesh, type: Opaque, keys: {cert: cert.pem, key: cert.key, ca: ca.cert}}", 1)
	if _, err := load(t, doc); err != nil {
		t.Fatalf("NeuVector's Opaque shape must be accepted: %v", err)
	}
}
