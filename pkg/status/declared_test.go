package status

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/apiserver"
	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// TestADeclaredWorkloadKindHoldsTheGateUntilItsControllerReportsItDone
// runs status against a real API server serving OpenKruise's own CloneSet
// CRD (from its pinned module), for a rotation that declares the kind
// (spec.workloadKinds). No Kruise controller runs here, so the test writes
// the status a CloneSet's controller reports, as the built-in kinds' tests
// do. The CloneSet holds the gate until its controller observed the new
// template and counts every replica updated and ready, and while a pod of
// the old template runs. (A status carousel cannot read fails closed:
// pkg/targets' table holds that rule; the CloneSet CRD requires every
// counter, so a CloneSet cannot report one.)
func TestADeclaredWorkloadKindHoldsTheGateUntilItsControllerReportsItDone(t *testing.T) {
	s := apiserver.Start(t)
	crd := testkit.Tool(t, "apps.kruise.io_clonesets.yaml")
	s.Kubectl(t, "apply", "--server-side", "-f", crd)
	s.WaitEstablished(t, "-f", crd)
	cfg, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}

	pkg := testkit.Load(t, filepath.Join(testkit.Root(t), "examples", "cluster-ca"))
	config := pkg.WithPhase(t, phases.TrustNew)
	kinds := yaml.MustParse("- {kind: CloneSet, apiVersion: apps.kruise.io/v1alpha1, resource: clonesets}\n")
	if err := config.PipeE(yaml.Lookup("spec"), yaml.SetField("workloadKinds", kinds)); err != nil {
		t.Fatal(err)
	}
	rot, err := spec.Load(config)
	if err != nil {
		t.Fatal(err)
	}
	// Its own namespace: the package's tests share one API server.
	items := append(pkg.CopyItems(), yaml.MustParse("apiVersion: v1\nkind: Namespace\nmetadata: {name: clones}\n"), yaml.MustParse(testkit.CloneSet("clones")))
	out := gen.Render(gen.Input{Rotation: rot, Config: config, Items: items, Now: testkit.Now})
	if out.Failed() {
		t.Fatal(out.Results)
	}
	clones := testkit.Find(out.Items, "CloneSet", "clones", "storefront-clones")
	s.KubectlIn(t, []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: clones}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: default, namespace: clones}\n---\n"+clones.MustString()), "apply", "-f", "-")

	state := func(what string) WorkloadStatus {
		t.Helper()
		r, err := Evaluate(context.Background(), client, rot, out, time.Now())
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		for _, w := range r.Workloads {
			if w.Kind == "CloneSet" && w.Name == "storefront-clones" {
				return w
			}
		}
		t.Fatalf("%s: the CloneSet is not among the workloads status checks: %+v", what, r.Workloads)
		return WorkloadStatus{}
	}
	setStatus := func(st string) {
		t.Helper()
		gen := strings.TrimSpace(string(s.Kubectl(t, "-n", "clones", "get", "clonesets.apps.kruise.io", "storefront-clones", "-o", "jsonpath={.metadata.generation}")))
		s.Kubectl(t, "-n", "clones", "patch", "clonesets.apps.kruise.io", "storefront-clones", "--subresource=status", "--type=json",
			"-p", fmt.Sprintf(`[{"op":"replace","path":"/status","value":`+st+`}]`, gen))
	}
	want := func(w WorkloadStatus, v Verdict, detail string) {
		t.Helper()
		if w.State != v || !strings.Contains(w.Detail, detail) {
			t.Fatalf("the CloneSet is %s (%s), want %s (...%s...)", w.State, w.Detail, v, detail)
		}
	}

	want(state("applied, never observed"), Progressing, "has not observed generation")

	setStatus(`{"observedGeneration":%s,"replicas":3,"updatedReplicas":1,"readyReplicas":3,"availableReplicas":3,"updatedReadyReplicas":1}`)
	want(state("a partitioned update"), Progressing, "updatedReplicas 1 of 3")

	setStatus(`{"observedGeneration":%s,"replicas":3,"updatedReplicas":3,"readyReplicas":3,"availableReplicas":3,"updatedReadyReplicas":3}`)
	// A pod of the template before, still running: the counters above
	// would call it done, the pods say otherwise.
	s.KubectlIn(t, []byte(fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: storefront-clones-old
  namespace: clones
  labels: {app: storefront-clones}
  annotations: {%s: "0000"}
spec:
  containers: [{name: web, image: registry.example.dev/storefront:2.4.1}]
`, gen.RestartAnnotation("cluster-ca"))), "apply", "-f", "-")
	w := state("an old pod left")
	want(w, Progressing, "still run an older template")
	if len(w.StalePods) != 1 || w.StalePods[0] != "storefront-clones-old" {
		t.Fatalf("want the old pod named, got %v", w.StalePods)
	}

	s.Kubectl(t, "-n", "clones", "delete", "pod", "storefront-clones-old", "--grace-period=0", "--force", "--wait=true")
	want(state("rolled out"), Converged, "")
}
