package gen_test

import (
	"encoding/base64"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/spec"
)

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
