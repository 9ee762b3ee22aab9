package gen_test

import (
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
)

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
