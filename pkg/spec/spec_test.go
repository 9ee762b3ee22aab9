package spec

import (
	"fmt"
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
		{"expiryWarning", s.ExpiryWarning.String(), "720h0m0s"},
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
	a, err := load(t, base+"  alerts: {namespace: monitoring}\n  expiryWarning: 240h\n")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, got, want string }{
		{"alerts name", a.Spec.Alerts.Name, "mesh-alerts"},
		{"alerts expiryWarning follows spec.expiryWarning", a.Spec.Alerts.ExpiryWarning.String(), "240h"},
		{"alerts phaseStuckAfter", a.Spec.Alerts.PhaseStuckAfter.String(), "168h0m0s"},
		{"alerts severity", a.Spec.Alerts.AlertLabels["severity"], "warning"},
	} {
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
		{"a renewal in place has no sign-new", "  scope: renew\n  phase: sign-new\n", "spec.phase", `unknown phase "sign-new" for scope "renew"`},
		{"a renewal in place with a node runbook is refused until the runbook knows it", "  scope: renew\n  runbook: kubernetes\n", "spec.runbook", "no node steps for scope renew"},
		{"an emergency without a compromise mark is refused", "  scope: emergency\n", "spec.compromised", "must be marked here"},
		{"a compromise mark must be a SHA-256 fingerprint", "  compromised: [abc]\n", "spec.compromised[0]", "should match"},
		{"an emergency of an intermediate trusted through its root is refused", "  scope: emergency\n  compromised: ['" + strings.Repeat("ab", 32) + "']\n  ca: {trust: root}\n", "spec.scope", "distrusts nothing"},
		{"a scope outside spec.routes is refused", "  scope: renew\n  routes: [ca, leaf]\n", "spec.scope", "not among spec.routes (ca, leaf)"},
		{"an unknown route is refused", "  routes: [ca, rekey]\n", "spec.routes[1]", "should be one of"},
		{"a bad duration is refused", "  expiryWarning: 30d\n", "spec.expiryWarning", "not a duration"},
		{"an unknown field is refused", "  phases: []\n", "spec.phases", "is not a field"},
		{"a material dir outside the package is refused", "  materialDir: ../keys\n", "spec.materialDir", "relative path inside the package"},
		{"a bundle without namespaces is refused", "  bundles:\n  - name: b\n", "spec.bundles[0].namespaces", "allNamespaces"},
		{"a bundle of another kind is refused", "  bundles:\n  - {name: b, kind: Pod, allNamespaces: true}\n", "spec.bundles[0].kind", "should be one of"},
		{"cluster-info needs an https URL", "  clusterInfo: {server: 'http://api:6443'}\n", "spec.clusterInfo.server", "https://"},
		{"service-account tokens on the front-proxy CA's rotation are refused", "  runbook: kubernetes-front-proxy\n  serviceAccountTokens: true\n", "spec.serviceAccountTokens", "not the front-proxy CA"},
		{"a caBundle on an unsupported kind is refused", "  caBundles:\n  - {kind: Service, name: s}\n", "spec.caBundles[0].kind", "should be one of"},
		{"webhooks of a kind without webhooks are refused", "  caBundles:\n  - {kind: APIService, name: v1.metrics.k8s.io, webhooks: [a]}\n", "spec.caBundles[0].webhooks", "only webhook configurations"},
		{"a restart rule of a kind carousel cannot roll is refused", "  restarts:\n  - {kind: Job, consumes: [trust]}\n", "spec.restarts[0].kind", "want one of Deployment, DaemonSet, StatefulSet, ReplicaSet, Rollout, CronJob"},
		{"a declared workload kind that shadows a built-in one is refused", "  workloadKinds:\n  - {kind: Rollout, apiVersion: argoproj.io/v1alpha1, resource: rollouts}\n", "spec.workloadKinds[0].kind", "is built in"},
		{"a declared workload kind of the core group is refused", "  workloadKinds:\n  - {kind: Thing, apiVersion: v1, resource: things}\n", "spec.workloadKinds[0].apiVersion", "custom resource"},
		{"a declared workload kind needs its plural resource", "  workloadKinds:\n  - {kind: CloneSet, apiVersion: apps.kruise.io/v1alpha1, resource: CloneSets}\n", "spec.workloadKinds[0].resource", "plural resource name"},
		{"a declared workload kind's template is a dotted path", "  workloadKinds:\n  - {kind: CloneSet, apiVersion: apps.kruise.io/v1alpha1, resource: clonesets, template: 'spec.[0]'}\n", "spec.workloadKinds[0].template", "dot-separated path"},
		{"a workload kind declared twice is refused", "  workloadKinds:\n  - {kind: CloneSet, apiVersion: apps.kruise.io/v1alpha1, resource: clonesets}\n  - {kind: CloneSet, apiVersion: apps.kruise.io/v1beta1, resource: clonesets}\n", "spec.workloadKinds[1].kind", "declared twice"},
		{"a restart rule of an undeclared custom kind says how to declare it", "  restarts:\n  - {kind: CloneSet, consumes: [trust]}\n", "spec.restarts[0].kind", "declare it in spec.workloadKinds"},
		{"an empty restart rule is refused", "  restarts:\n  - consumes: [trust]\n", "spec.restarts[0]", "would roll everything"},
		{"a restart of an unknown leaf is refused", "  restarts:\n  - {name: x, consumes: ['leaf:nope']}\n", "spec.restarts[0].consumes[0]", "followed by a leaf"},
		{"an In expression without values is refused", "  restarts:\n  - podSelector: {matchExpressions: [{key: a, operator: In}]}\n", "spec.restarts[0].podSelector.matchExpressions[0].values", "In needs values"},
		{"an Exists expression with values is refused", "  restarts:\n  - namespaceSelector: {matchExpressions: [{key: a, operator: Exists, values: [x]}]}\n", "spec.restarts[0].namespaceSelector.matchExpressions[0].values", "takes no values"},
		{"an unknown selector operator is refused", "  restarts:\n  - podSelector: {matchExpressions: [{key: a, operator: Matches, values: [x]}]}\n", "spec.restarts[0].podSelector.matchExpressions[0].operator", "should be one of"},
		{"a negative wave is refused", "  restarts:\n  - {name: x, wave: -1}\n", "spec.restarts[0].wave", "greater than or equal to 0"},
		{"a rule with only an opt-out is empty and refused", "  restarts:\n  - optOut: {annotations: {linkerd.io/inject: disabled}}\n", "spec.restarts[0]", "would roll everything"},
		{"an unknown field of an opt-out is refused", "  restarts:\n  - {name: x, optOut: {label: {a: b}}}\n", "spec.restarts[0].optOut.label", "is not a field"},
		{"a probe without a port is refused", "  probes:\n  - {address: api.example.dev, leaf: issuer}\n", "spec.probes[0].address", "not host:port"},
		{"a probe of an unknown leaf is refused", "  probes:\n  - {address: 'api:443', leaf: nope}\n", "spec.probes[0].leaf", "not a leaf of spec.leaves"},
		{"a weak key is refused", "  ca: {key: {algorithm: rsa-1024}}\n", "spec.ca.key.algorithm", "should be one of"},
		{"a PKCS#1 encoding of an ECDSA key is refused", "  ca: {key: {algorithm: ecdsa-p256, encoding: pkcs1}}\n", "spec.ca.key.encoding", "RSA keys only"},
		{"a PKCS#1 encoding of the default key is refused", "  ca: {key: {encoding: pkcs1}}\n", "spec.ca.key.encoding", "RSA keys only"},
		{"a SEC 1 encoding of an RSA key is refused", "  ca: {key: {algorithm: rsa-2048, encoding: sec1}}\n", "spec.ca.key.encoding", "ECDSA keys only"},
		{"an unknown key encoding is refused", "  ca: {key: {encoding: der}}\n", "spec.ca.key.encoding", "should be one of"},
		{"backend cert-manager without its configuration is refused", "  backend: cert-manager\n", "spec.certManager", "is required with backend"},
		{"an unknown backend is refused", "  backend: vault\n", "spec.backend", "should be one of"},
		{"cert-manager settings without its backend are refused", "  certManager: {generations: {old: 1}}\n", "spec.certManager", "only read with backend"},
		{"a generation that skips a number is refused", "  backend: cert-manager\n  certManager: {generations: {old: 1, new: 3}}\n", "spec.certManager.generations.new", "old+1"},
		{"a phase past steady without a new generation is refused", "  phase: trust-new\n  backend: cert-manager\n  certManager: {generations: {old: 1}}\n", "spec.certManager.generations.new", "carousel start"},
		{"a leaf re-issue is refused with backend cert-manager", "  scope: leaf\n  backend: cert-manager\n  certManager: {generations: {old: 1}}\n", "spec.scope", "rotates CAs only"},
		{"an IP address among dnsNames is refused", "  - {name: web, secret: {name: web, namespace: mesh}, dnsNames: ['10.0.0.1']}\n", "spec.leaves[1].dnsNames[0]", "list it under ipAddresses"},
		{"an email address among dnsNames is refused", "  - {name: web, secret: {name: web, namespace: mesh}, dnsNames: [ops@example.dev]}\n", "spec.leaves[1].dnsNames[0]", "email address"},
		{"an empty DNS name is refused", "  - {name: web, secret: {name: web, namespace: mesh}, dnsNames: ['']}\n", "spec.leaves[1].dnsNames[0]", "is empty"},
		{"a DNS name with an empty label is refused", "  - {name: web, secret: {name: web, namespace: mesh}, dnsNames: [a..b]}\n", "spec.leaves[1].dnsNames[0]", "empty label"},
		{"a wildcard of a name with a space is refused", "  - {name: web, secret: {name: web, namespace: mesh}, dnsNames: ['*.bad name']}\n", "spec.leaves[1].dnsNames[0]", `label "bad name" may hold only`},
		{"a wildcard inside a name is refused", "  - {name: web, secret: {name: web, namespace: mesh}, dnsNames: ['a.*.example.dev']}\n", "spec.leaves[1].dnsNames[0]", "whole leftmost label"},
		{"a name IDNA cannot convert is refused with the reason", "  - {name: web, secret: {name: web, namespace: mesh}, dnsNames: ['xn--.example']}\n", "spec.leaves[1].dnsNames[0]", "label"},
		{"a Secret name of 254 characters is refused", "  - {name: web, secret: {name: " + strings.Repeat("a", 254) + ", namespace: mesh}}\n", "spec.leaves[1].secret.name", "at most 253 characters"},
		{"a namespace of 64 characters is refused", "  - {name: web, secret: {name: web, namespace: " + strings.Repeat("n", 64) + "}}\n", "spec.leaves[1].secret.namespace", "at most 63 characters"},
		{"a CA Secret name that leaves no room for the generation is refused", "  ca: {secret: {name: " + strings.Repeat("c", 250) + ", namespace: mesh}}\n", "spec.ca.secret.name", "<name>-<CA ID>"},
		{"workload certificates of the CA without its Secret are refused", "  workloadCertificates: {issuer: ca}\n", "spec.workloadCertificates.issuer", "needs spec.ca.secret"},
		{"workload certificates of a leaf that is not listed are refused", "  workloadCertificates: {issuer: nope}\n", "spec.workloadCertificates.issuer", "isCA: true"},
		{"workload certificates with a bad lifetime are refused", "  workloadCertificates: {issuer: issuer, lifetime: 1d}\n", "spec.workloadCertificates.lifetime", "not a duration"},
		{"alerts without a namespace are refused", "  alerts: {}\n", "spec.alerts.namespace", "is required"},
		{"alerts in a namespace that is no DNS label are refused", "  alerts: {namespace: Monitoring}\n", "spec.alerts.namespace", "namespace name"},
		{"a PrometheusRule name the API server refuses is refused", "  alerts: {namespace: monitoring, name: My_Rules}\n", "spec.alerts.name", "DNS subdomain"},
		{"a rule label that is no label key is refused", "  alerts: {namespace: monitoring, labels: {'a b': x}}\n", "spec.alerts.labels.a b", "not a label key"},
		{"a rule label value the API server refuses is refused", "  alerts: {namespace: monitoring, labels: {release: 'kube prometheus'}}\n", "spec.alerts.labels.release", "not a label value"},
		{"an alert label that is no Prometheus label name is refused", "  alerts: {namespace: monitoring, alertLabels: {team-name: x}}\n", "spec.alerts.alertLabels.team-name", "not a Prometheus label name"},
		{"an alert label carousel sets is refused", "  alerts: {namespace: monitoring, alertLabels: {rotation: x}}\n", "spec.alerts.alertLabels.rotation", "to tell them apart"},
		{"an empty alert label is refused", "  alerts: {namespace: monitoring, alertLabels: {team: ''}}\n", "spec.alerts.alertLabels.team", "is empty"},
		{"an expiry window that is no duration is refused", "  alerts: {namespace: monitoring, expiryWarning: 30d}\n", "spec.alerts.expiryWarning", "not a duration"},
		{"a phase-stuck threshold that is not positive is refused", "  alerts: {namespace: monitoring, phaseStuckAfter: 0s}\n", "spec.alerts.phaseStuckAfter", "must be positive"},
		{"a phase start that is no RFC 3339 time is refused", "  phaseSince: 'yesterday'\n", "spec.phaseSince", "not an RFC 3339 time"},
		{"a cluster named twice is refused", "  clusters:\n  - {name: east, rotation: ../east/carousel.yaml}\n  - {name: east, rotation: ../west/carousel.yaml}\n", "spec.clusters[1].name", "names two clusters"},
		{"a cluster name that is no DNS label is refused", "  clusters:\n  - {name: East_1, rotation: ../east/carousel.yaml}\n", "spec.clusters[0].name", "DNS label"},
		{"a cluster rotation at an absolute path is refused", "  clusters:\n  - {name: east, rotation: /repo/east/carousel.yaml}\n", "spec.clusters[0].rotation", "relative path"},
		{"a cluster rotation that is no YAML file is refused", "  clusters:\n  - {name: east, rotation: ../east}\n", "spec.clusters[0].rotation", "a .yaml file"},
		{"two clusters of one rotation file are refused", "  clusters:\n  - {name: east, rotation: ../east/carousel.yaml}\n  - {name: west, rotation: ../east/../east/carousel.yaml}\n", "spec.clusters[1].rotation", "the rotation of two clusters"},
		{"a cluster without groups beside clusters with groups is refused", "  clusters:\n  - {name: east, rotation: ../east/carousel.yaml, groups: [emea]}\n  - {name: west, rotation: ../west/carousel.yaml}\n", "spec.clusters[1].groups", "while other clusters name groups"},
		{"a group named twice by a cluster is refused", "  clusters:\n  - {name: east, rotation: ../east/carousel.yaml, groups: [emea, emea]}\n", "spec.clusters[0].groups[1]", "listed once"},
		{"a shared root at an absolute path is refused", "  sharedRoot: /repo/root/carousel.yaml\n", "spec.sharedRoot", "relative path"},
		{"a shared root that lists clusters itself is refused", "  sharedRoot: ../root/carousel.yaml\n  clusters:\n  - {name: east, rotation: ../east/carousel.yaml}\n", "spec.sharedRoot", "no cluster of another root"},
		{"a cluster without its rotation is refused", "  clusters:\n  - {name: east}\n", "spec.clusters[0].rotation", "is required"},
		{"a CA Secret is refused with backend cert-manager", "  ca: {secret: {name: ca, namespace: x}}\n  backend: cert-manager\n  certManager: {generations: {old: 1}}\n", "spec.ca.secret", "renders no CA Secret"},
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

// A declared workload kind may be named by a restart rule, as a built-in
// one may.
func TestARestartRuleMayNameADeclaredWorkloadKind(t *testing.T) {
	r, err := load(t, base+"  workloadKinds:\n  - {kind: CloneSet, apiVersion: apps.kruise.io/v1alpha1, resource: clonesets}\n  restarts:\n  - {kind: CloneSet, namespace: shop, consumes: [trust]}\n")
	if err != nil {
		t.Fatal(err)
	}
	k, ok := r.Spec.Kinds().Lookup("CloneSet")
	if !ok || k.Resource.String() != "apps.kruise.io/v1alpha1, Resource=clonesets" || strings.Join(k.Workload.PodSpec(), ".") != "spec.template.spec" {
		t.Fatalf("the declared kind is not in the rotation's registry as declared: %+v", k)
	}
}

// The kinds a spec may name come from the registry: every kind carousel
// rolls may be named by a restart rule, every kind with a caBundle by
// spec.caBundles.
func TestTheSpecAcceptsEveryRegisteredKind(t *testing.T) {
	for _, kind := range targets.Builtin().RolledKinds() {
		t.Run("a restart rule may name a "+kind, func(t *testing.T) {
			if _, err := load(t, base+"  restarts:\n  - {kind: "+kind+", consumes: [trust]}\n"); err != nil {
				t.Fatal(err)
			}
		})
	}
	for _, kind := range targets.Builtin().CABundleKinds() {
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

// bomb is a billion-laughs document: nine levels of ten aliases each.
func bomb() string {
	var b strings.Builder
	b.WriteString("apiVersion: carousel.dev/v1alpha1\nkind: CARotation\nmetadata: {name: mesh}\nspec:\n  ca: {}\n  renderedAnnotations:\n    l0: &l0 \"lol\"\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "  l%d: &l%d [", i, i)
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*l%d", i-1)
		}
		b.WriteString("]\n")
	}
	return b.String()
}

func TestConfigsThatCannotBecomeJSONAreFieldErrorsNotPanics(t *testing.T) {
	tests := []struct {
		name, doc, path, message string
	}{
		{"a complex key under spec is refused", base + "  ? [a, b]\n  : c\n", "spec", "has a key that is a list"},
		{"a complex key in a leaf is refused", strings.Replace(base, "isCA: true", "isCA: true\n    ? {x: 1}\n    : y", 1), "spec.leaves[0]", "has a key that is a mapping"},
		{"an alias bomb under spec is refused in bounded time", bomb(), "", "alias bomb"},
		{"an alias inside its own anchor is refused", base + "  restarts: &r\n  - name: x\n    selector: {a: *r}\n", "spec.restarts[0].selector.a", "inside its own anchor"},
		{"a key given twice is refused", base + "  phase: steady\n  phase: trust-new\n", "spec.phase", "given twice"},
		{"a number JSON cannot hold is refused", strings.Replace(base, "ca: {}", "ca: {pathLength: .nan}", 1), "spec.ca.pathLength", "not a number JSON can hold"},
		{"an integer too large for JSON is a type error", strings.Replace(base, "ca: {}", "ca: {pathLength: 0x1ffffffffffffffffffff}", 1), "spec.ca.pathLength", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertFieldError(t, tt.doc, tt.path, tt.message)
		})
	}
}

func TestConfigsOfTheWrongYAMLShapeAreFieldErrorsNotPanics(t *testing.T) {
	tests := []struct {
		name, doc, path, message string
	}{
		{"a list is not a CARotation", "[{}]", "functionConfig", "not a list"},
		{"a scalar is not a CARotation", "hello", "functionConfig", "not a scalar"},
		{"a list as metadata is refused", "apiVersion: carousel.dev/v1alpha1\nkind: CARotation\nmetadata: [a]\nspec: {}\n", "metadata", "must be of type object"},
		{"labels that are a list are refused", strings.Replace(base, "name: mesh", "name: mesh\n  labels: [a]", 1), "metadata.labels", "mapping of strings"},
		{"a label that is not a string is refused", strings.Replace(base, "name: mesh", "name: mesh\n  labels: {a: [b]}", 1), "metadata.labels.a", "must be a string"},
		{"a list as spec is refused", "apiVersion: carousel.dev/v1alpha1\nkind: CARotation\nmetadata: {name: mesh}\nspec: [a]\n", "spec", "must be of type object"},
		{"a kind that is a list is not a CARotation", "apiVersion: carousel.dev/v1alpha1\nkind: [CARotation]\nmetadata: {name: mesh}\n", "apiVersion", "want carousel.dev/v1alpha1 CARotation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertFieldError(t, tt.doc, tt.path, tt.message)
		})
	}
}

func TestUnknownFieldsAnywhereAreRefused(t *testing.T) {
	tests := []struct {
		name, doc, path, message string
	}{
		{"an unknown top-level field is refused", base + "foo: bar\n", "foo", "is not a field of CARotation"},
		{"a status is refused", base + "status: {phase: steady}\n", "status", "spec.phase"},
		{"a misspelled metadata field is refused", strings.Replace(base, "name: mesh", "name: mesh\n  lables: {a: b}", 1), "metadata.lables", "is not a field of metadata"},
		{"an unknown field of a leaf is refused", strings.Replace(base, "isCA: true", "isCA: true\n    dnsName: [a]", 1), "spec.leaves[0].dnsName", "is not a field"},
		{"an unknown field of the CA is refused", strings.Replace(base, "ca: {}", "ca: {valdity: 1h}", 1), "spec.ca.valdity", "is not a field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertFieldError(t, tt.doc, tt.path, tt.message)
		})
	}
}

func TestKubernetesObjectMetaIsAccepted(t *testing.T) {
	doc := strings.Replace(base, "name: mesh", "name: mesh\n  namespace: x\n  uid: abc\n  labels: {a: b}\n  annotations: {config.kubernetes.io/local-config: \"true\"}", 1)
	if _, err := load(t, doc); err != nil {
		t.Fatal(err)
	}
}

func TestTheCAIsOptionalEveryFieldHasADefault(t *testing.T) {
	r, err := load(t, strings.Replace(base, "  ca: {}\n", "", 1))
	if err != nil {
		t.Fatalf("a spec without ca must load: %v", err)
	}
	if r.Spec.CA.CommonName != "mesh" || r.Spec.CA.Key.Algorithm != DefaultKeyAlgorithm || r.Spec.CA.Validity.String() != DefaultCAValidity.String() {
		t.Fatalf("the CA was not defaulted: %+v", r.Spec.CA)
	}
}

func TestEveryErrorComesInOneRun(t *testing.T) {
	// A schema error (an unknown field, an enum) and cross-field errors
	// (a restart of an unknown leaf, a bad duration) together.
	doc := base + "  phases: []\n  scope: cluster\n  expiryWarning: 30d\n  restarts:\n  - {name: x, consumes: ['leaf:nope']}\n"
	_, err := load(t, doc)
	fe, ok := err.(FieldErrors)
	if !ok {
		t.Fatalf("want FieldErrors, got %v", err)
	}
	want := []string{"spec.phases", "spec.scope", "spec.expiryWarning", "spec.restarts[0].consumes[0]"}
	for _, p := range want {
		if !hasPath(fe, p) {
			t.Errorf("no error at %s in one run: %v", p, fe)
		}
	}
	// The schema already refused spec.scope: Validate's own message about
	// it must not repeat it.
	n := 0
	for _, e := range fe {
		if e.Path == "spec.scope" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("spec.scope reported %d times: %v", n, fe)
	}
}

func hasPath(fe FieldErrors, path string) bool {
	for _, e := range fe {
		if e.Path == path {
			return true
		}
	}
	return false
}

func assertFieldError(t *testing.T, doc, path, message string) {
	t.Helper()
	n, err := yaml.Parse(doc)
	if err != nil {
		t.Fatalf("the test document does not parse: %v", err)
	}
	_, err = Load(n)
	fe, ok := err.(FieldErrors)
	if !ok {
		t.Fatalf("want FieldErrors, got %v", err)
	}
	for _, e := range fe {
		if (e.Path == path || path == "") && strings.Contains(e.Message, message) {
			return
		}
	}
	t.Fatalf("want %s: ...%s..., got %v", path, message, fe)
}

// A CA generation Secret is <ca.secret.name>-<CA ID>, with the ID in the
// material (g1, g2, ...; old or new before IDs were recorded): a leaf
// Secret may take none of those names in that namespace.
func TestALeafSecretCannotTakeACAGenerationSecretsName(t *testing.T) {
	withCASecret := strings.Replace(base, "  ca: {}\n", "  ca:\n    secret: {name: mesh-ca, namespace: mesh}\n", 1)
	tests := []struct {
		name, leafSecret string
		refused          bool
	}{
		{"a numbered ID's name is refused", "mesh-ca-g3", true},
		{"the legacy old name is refused", "mesh-ca-old", true},
		{"the legacy new name is refused", "mesh-ca-new", true},
		{"a name that no ID takes is accepted", "mesh-ca-issuer", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := strings.Replace(withCASecret, "secret: {name: issuer, namespace: mesh}", "secret: {name: "+tt.leafSecret+", namespace: mesh}", 1)
			_, err := load(t, doc)
			if got := err != nil && strings.Contains(err.Error(), "spec.leaves[0].secret: Secret mesh/"+tt.leafSecret+" is a name of spec.ca.secret's CA generation Secrets"); got != tt.refused {
				t.Fatalf("refused: %v, want %v (%v)", got, tt.refused, err)
			}
		})
	}
}

// TestAnInternationalisedNameIsIssuedAsItsALabels: a certificate's dNSName
// is ASCII (RFC 5280), and cfssl panicked on a U-label; the loaded spec
// holds the A-labels every later step issues, requests and compares.
func TestAnInternationalisedNameIsIssuedAsItsALabels(t *testing.T) {
	r, err := load(t, base+"  - {name: web, secret: {name: web, namespace: mesh}, dnsNames: ['bücher.example', '*.münchen.example', 'plain.example']}\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"xn--bcher-kva.example", "*.xn--mnchen-3ya.example", "plain.example"}
	if got := r.Spec.Leaves[1].DNSNames; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("dnsNames %v, want %v", got, want)
	}
}

// spec.phaseSince is a time YAML would read as a timestamp when unquoted;
// either way it is the text carousel wrote, and its moment.
func TestAPhaseStartLoadsQuotedOrNot(t *testing.T) {
	for _, v := range []string{`2027-01-01T00:00:00Z`, `"2027-01-01T00:00:00Z"`} {
		r, err := load(t, base+"  phaseSince: "+v+"\n")
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		if got := r.Spec.PhaseSince.String(); got != "2027-01-01T00:00:00Z" || r.Spec.PhaseSince.Value().Unix() != 1798761600 {
			t.Errorf("%s: got %q (%d)", v, got, r.Spec.PhaseSince.Value().Unix())
		}
	}
}
