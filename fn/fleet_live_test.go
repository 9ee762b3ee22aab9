package fn

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/apiserver"
	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/status"
)

// multiAppTree copies examples/multi-app, runs its functions from
// bin/carousel and points the other repository's consumer at the state
// directory itself (examples/multiapp_test.go fetches it through git).
func multiAppTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(testkit.Root(t), "examples", "multi-app"))); err != nil {
		t.Fatal(err)
	}
	testkit.SetPhase(t, dir, "")
	k := filepath.Join(dir, "team-ledger", "ledger", "kustomization.yaml")
	b, _ := os.ReadFile(k)
	b = regexp.MustCompile(`(?m)^- https://\S+$`).ReplaceAll(b, []byte("- ../../platform/state"))
	if err := os.WriteFile(k, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// applyApp applies a consumer package's render as its GitOps controller
// would, with the controller's own marks: Argo CD's tracking annotation or
// instance label, or Flux's Kustomization labels.
func applyApp(t *testing.T, s *apiserver.Server, dir string, mark func(n *yaml.RNode)) {
	t.Helper()
	var ns, rest []*yaml.RNode
	for _, n := range testkit.Parse(t, testkit.KustomizeDir(t, dir)) {
		mark(n)
		if n.GetKind() == "Namespace" {
			ns = append(ns, n)
		} else {
			rest = append(rest, n)
		}
	}
	s.KubectlIn(t, []byte(testkit.String(ns)), "apply", "--server-side", "--field-manager=test", "-f", "-")
	s.KubectlIn(t, []byte(testkit.String(rest)), "apply", "--server-side", "--force-conflicts", "--field-manager=test", "-f", "-")
}

func argoTracked(app string) func(n *yaml.RNode) {
	return func(n *yaml.RNode) {
		a := n.GetAnnotations()
		a["argocd.argoproj.io/tracking-id"] = app + ":" + n.GetApiVersion() + "/" + n.GetKind() + ":" + n.GetNamespace() + "/" + n.GetName()
		_ = n.SetAnnotations(a)
	}
}

func labelled(labels map[string]string) func(n *yaml.RNode) {
	return func(n *yaml.RNode) {
		l := n.GetLabels()
		for k, v := range labels {
			l[k] = v
		}
		_ = n.SetLabels(l)
	}
}

// rollOutIdentity plays the Deployment controller for the owner's workload.
func rollOutIdentity(t *testing.T, s *apiserver.Server) {
	t.Helper()
	gen := strings.TrimSpace(string(s.Kubectl(t, "-n", "mesh-system", "get", "deployment", "identity", "-o", "jsonpath={.metadata.generation}")))
	s.Kubectl(t, "-n", "mesh-system", "patch", "deployment", "identity", "--subresource=status", "--type=merge",
		"-p", `{"status":{"observedGeneration":`+gen+`,"replicas":1,"updatedReplicas":1,"readyReplicas":1,"availableReplicas":1}}`)
}

// TestAdvanceWaitsForEveryConsumerApplication is the order across
// applications, against a real API server: the owner may move to the next
// phase only when every consumer application reports the current one,
// including one of spec.consumers that never rendered the state at all.
func TestAdvanceWaitsForEveryConsumerApplication(t *testing.T) {
	s := apiserver.Start(t)
	tree := multiAppTree(t)
	ownerDir := filepath.Join(tree, "platform", "rotation")
	owner := filepath.Join(ownerDir, "carousel.yaml")
	live := testkit.Cmd{FixedClock: true, Env: []string{"KUBECONFIG=" + s.Kubeconfig}}
	payments := argoTracked("payments")
	orders := labelled(map[string]string{"app.kubernetes.io/instance": "orders"})
	ledger := labelled(map[string]string{"kustomize.toolkit.fluxcd.io/name": "ledger", "kustomize.toolkit.fluxcd.io/namespace": "flux-system"})
	state := filepath.Join(tree, "platform", "state", "mesh-ca.yaml")

	applyRendered(t, s, ownerDir)
	rollOutIdentity(t, s)
	applyApp(t, s, filepath.Join(tree, "apps", "payments"), payments)
	applyApp(t, s, filepath.Join(tree, "apps", "orders"), orders)

	// The ledger application never picked up the state.
	adv := live.Run(t, "advance", owner)
	if adv.Err == nil || !strings.Contains(adv.Out, "flux-system/ledger") || !strings.Contains(adv.Out, "never rendered") {
		t.Fatalf("advance must refuse while a listed consumer has never rendered the state: %v\n%s", adv.Err, adv.Out)
	}
	if b, _ := os.ReadFile(owner); !bytes.Contains(b, []byte("phase: steady")) {
		t.Fatal("a refused advance changed spec.phase")
	}

	applyApp(t, s, filepath.Join(tree, "team-ledger", "ledger"), ledger)
	if adv := live.Run(t, "advance", owner); adv.Err != nil {
		t.Fatalf("every consumer at steady: advance must pass: %v\n%s", adv.Err, adv.Out)
	}
	if b, _ := os.ReadFile(state); !bytes.Contains(b, []byte("phase: trust-new")) {
		t.Fatalf("advance must publish the new phase's state:\n%s", b)
	}

	// The owner at trust-new, applied and rolled out; orders still at steady.
	applyRendered(t, s, ownerDir)
	rollOutIdentity(t, s)
	applyApp(t, s, filepath.Join(tree, "apps", "payments"), payments)
	applyApp(t, s, filepath.Join(tree, "team-ledger", "ledger"), ledger)
	adv = live.Run(t, "advance", owner)
	if adv.Err == nil || !strings.Contains(adv.Out, "orders reports steady") || strings.Contains(adv.Out, "payments") || strings.Contains(adv.Out, "ledger") {
		t.Fatalf("advance must refuse naming exactly the lagging application (orders): %v\n%s", adv.Err, adv.Out)
	}
	t.Logf("the refusal:\n%s", adv.Out)
	// status says the same: the phase has not converged across the fleet.
	if r := carouselStatus(t, s, owner); r.code != 3 || r.report.Verdict != status.Progressing || !reasonsContain(r.report, "consumer orders reports steady") {
		t.Fatalf("status must report the lagging consumer and not converge: %d %s", r.code, r.raw)
	}
	applyApp(t, s, filepath.Join(tree, "apps", "orders"), orders)
	if adv := live.Run(t, "advance", owner); adv.Err != nil {
		t.Fatalf("every consumer at trust-new: advance must pass: %v\n%s", adv.Err, adv.Out)
	}
	if b, _ := os.ReadFile(owner); !bytes.Contains(b, []byte("phase: sign-new")) {
		t.Fatal("advance did not move the owner to sign-new")
	}

	// A workload reading a consumer's bundle that no consumer package
	// renders never rolls: status names it, and waiting will not help.
	s.KubectlIn(t, []byte(`apiVersion: apps/v1
kind: Deployment
metadata: {name: stray, namespace: payments}
spec:
  selector: {matchLabels: {app: stray}}
  template:
    metadata: {labels: {app: stray}}
    spec:
      containers: [{name: stray, image: registry.example.dev/stray:1.0.0}]
      volumes: [{name: trust, configMap: {name: mesh-trust}}]
`), "apply", "--server-side", "--field-manager=someone-else", "-f", "-")
	r := carouselStatus(t, s, owner)
	if r.code != 2 || !reasonsContain(r.report, "Deployment payments/stray reads ConfigMap payments/mesh-trust without phase.carousel.dev/mesh-ca") {
		t.Fatalf("a workload reading the rotation's bundle without the marker must block status: %d %s", r.code, r.raw)
	}
	if reasonsContain(r.report, "payments/reconciler reads") || reasonsContain(r.report, "mesh-system/identity reads") {
		t.Fatalf("a consumer's or the owner's own workload was flagged: %s", r.raw)
	}
}
