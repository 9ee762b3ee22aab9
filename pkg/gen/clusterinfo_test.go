package gen_test

import (
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
)

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
