package fleet

import (
	"context"
	"strings"
	"testing"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/carousel-dev/carousel/internal/apiserver"
	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// TestAWorkloadOfADeclaredKindReadingTheBundleWithoutAMarkerIsFound: the
// consumer scan lists the kinds of the rotation's registry, so a CloneSet
// (declared in spec.workloadKinds) that reads the rotation's bundle and
// that no package rolls is named, as a Deployment would be; with the
// built-in kinds alone it goes unseen, which is what the scan did before.
// A real API server serves OpenKruise's own CloneSet CRD.
func TestAWorkloadOfADeclaredKindReadingTheBundleWithoutAMarkerIsFound(t *testing.T) {
	s := apiserver.Start(t)
	crd := testkit.Tool(t, "apps.kruise.io_clonesets.yaml")
	s.Kubectl(t, "apply", "--server-side", "-f", crd)
	s.WaitEstablished(t, "-f", crd)
	s.KubectlIn(t, []byte(`apiVersion: v1
kind: Namespace
metadata: {name: fleet-clones}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cluster-ca-bundle
  namespace: fleet-clones
  labels: {`+material.LabelRotation+`: fleet-ca}
data: {ca.crt: x}
---
`+testkit.CloneSet("fleet-clones")), "apply", "--server-side", "-f", "-")

	cfg, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var sp spec.Spec
	if err := sigsyaml.Unmarshal([]byte("workloadKinds:\n- {kind: CloneSet, apiVersion: apps.kruise.io/v1alpha1, resource: clonesets}\n"), &sp); err != nil {
		t.Fatal(err)
	}
	declared, err := Consumers(context.Background(), client, "fleet-ca", sp.Kinds(), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "CloneSet fleet-clones/storefront-clones reads ConfigMap fleet-clones/cluster-ca-bundle"
	if len(declared.Unmarked) != 1 || !strings.HasPrefix(declared.Unmarked[0], want) {
		t.Fatalf("with the kind declared, want %q unmarked, got %q", want, declared.Unmarked)
	}
	builtin, err := Consumers(context.Background(), client, "fleet-ca", (&spec.Spec{}).Kinds(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range builtin.Unmarked {
		if strings.HasPrefix(u, "CloneSet") {
			t.Fatalf("without the declaration the CloneSet is not a workload carousel knows: %q", builtin.Unmarked)
		}
	}
}
