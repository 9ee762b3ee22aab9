package gen_test

import (
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/spec"
)

func example(t testing.TB) *testkit.Package {
	return testkit.Load(t, filepath.Join(testkit.Root(t), "examples", "cluster-ca"))
}

// render renders the example with extra input items and an optional clock.
func render(t *testing.T, phase phases.Phase, now time.Time, extra ...string) gen.Output {
	t.Helper()
	pkg := example(t)
	cfg := pkg.WithPhase(t, phase)
	rot, err := spec.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	items := pkg.CopyItems()
	for _, e := range extra {
		items = append(items, yaml.MustParse(e))
	}
	return gen.Render(gen.Input{Rotation: rot, Config: cfg, Items: items, Now: now})
}

func trustedFingerprints(t *testing.T, b64 string) []string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := pki.ParseCerts(raw)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range certs {
		out = append(out, pki.Fingerprint(c))
	}
	return out
}

func TestAPIServicesCRDsAndAnnotatedWebhooksGetTheTrustedSet(t *testing.T) {
	out := render(t, phases.TrustNew, testkit.Now,
		`apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1beta1.metrics.k8s.io
  annotations: {carousel.dev/inject-ca-from: cluster-ca}
spec:
  group: metrics.k8s.io
  version: v1beta1
  service: {name: metrics-server, namespace: kube-system}
`, `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.dev
  annotations: {carousel.dev/inject-ca-from: cluster-ca}
spec:
  group: example.dev
  conversion:
    strategy: Webhook
    webhook:
      conversionReviewVersions: [v1]
      clientConfig:
        service: {name: widgets, namespace: shop}
`, `apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: someone-else
  annotations: {carousel.dev/inject-ca-from: another-rotation}
webhooks:
- name: a.example.dev
  clientConfig: {service: {name: a, namespace: shop}}
`)
	if out.Failed() {
		t.Fatal(out.Results)
	}
	for _, c := range []struct {
		kind, name string
		path       []string
	}{
		{"APIService", "v1beta1.metrics.k8s.io", []string{"spec", "caBundle"}},
		{"CustomResourceDefinition", "widgets.example.dev", []string{"spec", "conversion", "webhook", "clientConfig", "caBundle"}},
		{"ValidatingWebhookConfiguration", "policy.example.dev", []string{"webhooks", "0", "clientConfig", "caBundle"}},
	} {
		n := testkit.Find(out.Items, c.kind, "", c.name)
		v, _ := n.Pipe(yaml.Lookup(c.path...))
		if v == nil {
			t.Fatalf("%s %s has no caBundle", c.kind, c.name)
		}
		if got := trustedFingerprints(t, yaml.GetValue(v)); len(got) != 2 {
			t.Errorf("%s %s: trust-new must carry old and new, got %d certificates", c.kind, c.name, len(got))
		}
	}
	other := testkit.Find(out.Items, "MutatingWebhookConfiguration", "", "someone-else")
	if v, _ := other.Pipe(yaml.Lookup("webhooks", "0", "clientConfig", "caBundle")); v != nil {
		t.Fatal("a webhook annotated for another rotation was changed")
	}
}

func TestAnInputClusterInfoKeepsTheKeysCarouselDoesNotOwn(t *testing.T) {
	out := render(t, phases.DistrustOld, testkit.Now, `apiVersion: v1
kind: ConfigMap
metadata:
  name: cluster-info
  namespace: kube-public
data:
  jws-kubeconfig-abcdef: eyJhbGciOiJIUzI1NiJ9..signature
  kubeconfig: stale
`)
	if out.Failed() {
		t.Fatal(out.Results)
	}
	var found []*yaml.RNode
	for _, n := range out.Items {
		if n.GetKind() == "ConfigMap" && n.GetName() == "cluster-info" {
			found = append(found, n)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want exactly one cluster-info, got %d", len(found))
	}
	jws, _ := found[0].Pipe(yaml.Lookup("data", "jws-kubeconfig-abcdef"))
	if jws == nil {
		t.Fatal("the bootstrap signer's key was dropped")
	}
	kc, _ := found[0].Pipe(yaml.Lookup("data", "kubeconfig"))
	if !strings.Contains(yaml.GetValue(kc), "server: https://10.0.0.1:6443") {
		t.Fatalf("kubeconfig not rendered: %s", yaml.GetValue(kc))
	}
}

func TestKubeconfigSecretsInDataAreUpdatedToo(t *testing.T) {
	pkg := example(t)
	cfg := pkg.WithPhase(t, phases.TrustNew)
	rot, _ := spec.Load(cfg)
	kc := "apiVersion: v1\nkind: Config\nclusters:\n- name: a\n  cluster:\n    server: https://a\n    certificate-authority: /etc/ca.crt\n- name: b\n  cluster:\n    server: https://b\n"
	items := pkg.CopyItems()
	for i, n := range items {
		if n.GetName() == "admin-kubeconfig" {
			items[i] = yaml.MustParse("apiVersion: v1\nkind: Secret\nmetadata:\n  name: admin-kubeconfig\n  namespace: kube-system\ndata:\n  value: " + base64.StdEncoding.EncodeToString([]byte(kc)) + "\n")
		}
	}
	rot.Spec.Kubeconfigs[0].Clusters = []string{"a"}
	out := gen.Render(gen.Input{Rotation: rot, Config: cfg, Items: items, Now: testkit.Now})
	if out.Failed() {
		t.Fatal(out.Results)
	}
	s := testkit.Find(out.Items, "Secret", "kube-system", "admin-kubeconfig")
	v, _ := s.Pipe(yaml.Lookup("data", "value"))
	raw, _ := base64.StdEncoding.DecodeString(yaml.GetValue(v))
	got := yaml.MustParse(string(raw))
	a, _ := got.Pipe(yaml.Lookup("clusters", "[name=a]", "cluster"))
	if a.Field("certificate-authority") != nil {
		t.Error("the CA file path must go: client-go refuses a path and inline data together")
	}
	if len(trustedFingerprints(t, yaml.GetValue(a.Field("certificate-authority-data").Value))) != 2 {
		t.Error("cluster a does not carry the trusted set")
	}
	b, _ := got.Pipe(yaml.Lookup("clusters", "[name=b]", "cluster"))
	if b.Field("certificate-authority-data") != nil {
		t.Error("cluster b was not selected but changed")
	}
}

func warnings(out gen.Output) []string {
	var w []string
	for _, r := range out.Results {
		if r.Severity == framework.Warning {
			w = append(w, r.String())
		}
	}
	return w
}

func TestFindingsAreWarnings(t *testing.T) {
	tests := []struct {
		name  string
		now   time.Time
		extra []string
		want  string
	}{
		{
			name: "a leaf expiring within the window is a warning",
			now:  time.Date(2036, 11, 1, 0, 0, 0, 0, time.UTC),
			want: `leaf "policy-webhook" expires`,
		},
		{
			name: "a bare Pod consuming a bundle cannot be rolled",
			now:  testkit.Now,
			extra: []string{`apiVersion: v1
kind: Pod
metadata: {name: debug, namespace: shop}
spec:
  containers:
  - name: c
    image: busybox
    volumeMounts: [{name: ca, mountPath: /ca}]
  volumes:
  - name: ca
    configMap: {name: cluster-ca-bundle}
`},
			want: "Pod shop/debug consumes material",
		},
		{
			name: "a caBundle holding this rotation's CA but not managed is a warning",
			now:  testkit.Now,
			want: "is not managed by it",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			extra := tt.extra
			if strings.Contains(tt.name, "not managed") {
				pkg := example(t)
				var old string
				for _, n := range pkg.Items {
					if n.GetName() == "cluster-ca-ca-old" {
						c, _ := n.Pipe(yaml.Lookup("certificate"))
						old = base64.StdEncoding.EncodeToString([]byte(yaml.GetValue(c)))
					}
				}
				extra = []string{"apiVersion: admissionregistration.k8s.io/v1\nkind: MutatingWebhookConfiguration\nmetadata: {name: forgotten}\nwebhooks:\n- name: f.example.dev\n  clientConfig:\n    caBundle: " + old + "\n    service: {name: f, namespace: shop}\n"}
			}
			out := render(t, phases.Steady, tt.now, extra...)
			if out.Failed() {
				t.Fatalf("a finding must not fail the render: %v", out.Results)
			}
			for _, w := range warnings(out) {
				if strings.Contains(w, tt.want) {
					return
				}
			}
			t.Fatalf("no warning containing %q in %v", tt.want, warnings(out))
		})
	}
}

func TestNoWarningsForAHealthyPackage(t *testing.T) {
	out := render(t, phases.Steady, testkit.Now)
	if w := warnings(out); len(w) > 0 {
		t.Fatalf("unexpected warnings: %v", w)
	}
}

func TestAnInputObjectCarouselRendersIsRefused(t *testing.T) {
	out := render(t, phases.Steady, testkit.Now, "apiVersion: v1\nkind: Secret\nmetadata: {name: policy-webhook-tls, namespace: policy}\ntype: kubernetes.io/tls\n")
	if !out.Failed() || out.Items != nil {
		t.Fatal("a duplicate of a rendered Secret must fail the render with no items")
	}
	if !strings.Contains(out.Results.Error(), `is rendered by rotation "cluster-ca": remove it from the input`) {
		t.Fatal(out.Results.Error())
	}
}
