package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/apiserver"
	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/status"
)

type statusRun struct {
	report status.Report
	code   int
	raw    string
}

func carouselStatus(t *testing.T, s *apiserver.Server, file string, extra ...string) statusRun {
	t.Helper()
	args := append([]string{"status", file, "--kubeconfig", s.Kubeconfig, "-o", "json"}, extra...)
	cmd := exec.Command(testkit.Carousel(t), args...)
	cmd.Env = append(os.Environ(), NowEnv+"=2027-01-01T00:00:00Z")
	out, err := cmd.Output()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var r status.Report
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("status -o json is not JSON (exit %d): %v\n%s", code, err, out)
	}
	checkStatusSchema(t, out)
	return statusRun{r, code, string(out)}
}

// checkStatusSchema validates the JSON output against docs/status.schema.json.
func checkStatusSchema(t *testing.T, out []byte) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testkit.Root(t), "docs", "status.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sch spec.Schema
	if err := json.Unmarshal(b, &sch); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if err := validate.AgainstSchema(&sch, doc, strfmt.Default); err != nil {
		t.Fatalf("status output does not match docs/status.schema.json: %v\n%s", err, out)
	}
}

// applyRendered applies a phase of the package in dir (decrypted, as Flux
// would) with server-side apply.
func applyRendered(t *testing.T, s *apiserver.Server, dir string) {
	t.Helper()
	var ns, rest []*yaml.RNode
	for _, n := range testkit.Parse(t, testkit.KustomizeDir(t, dir)) {
		n = testkit.Decrypt(t, n)
		if n.GetKind() == "Namespace" {
			ns = append(ns, n)
		} else {
			rest = append(rest, n)
		}
	}
	s.KubectlIn(t, []byte(testkit.String(ns)), "apply", "--server-side", "--field-manager=test", "-f", "-")
	s.KubectlIn(t, []byte(testkit.String(rest)), "apply", "--server-side", "--force-conflicts", "--field-manager=test", "-f", "-")
}

// rollOut writes each workload's status subresource the way its controller
// would once every replica runs the current template. No controller-manager
// or kubelet runs in these tests, so the test plays them.
func rollOut(t *testing.T, s *apiserver.Server) {
	t.Helper()
	for _, w := range []struct{ kind, ns, name, patch string }{
		{"deployment", "kube-system", "coredns", `{"status":{"observedGeneration":%s,"replicas":2,"updatedReplicas":2,"readyReplicas":2,"availableReplicas":2}}`},
		{"deployment", "policy", "policy-webhook", `{"status":{"observedGeneration":%s,"replicas":2,"updatedReplicas":2,"readyReplicas":2,"availableReplicas":2}}`},
		{"deployment", "shop", "storefront", `{"status":{"observedGeneration":%s,"replicas":3,"updatedReplicas":3,"readyReplicas":3,"availableReplicas":3}}`},
		{"statefulset", "monitoring", "prometheus", `{"status":{"observedGeneration":%s,"replicas":2,"updatedReplicas":2,"readyReplicas":2,"currentReplicas":2,"availableReplicas":2,"currentRevision":"r","updateRevision":"r"}}`},
		{"daemonset", "kube-system", "kube-proxy", `{"status":{"observedGeneration":%s,"desiredNumberScheduled":1,"currentNumberScheduled":1,"updatedNumberScheduled":1,"numberAvailable":1,"numberReady":1,"numberMisscheduled":0}}`},
	} {
		gen := strings.TrimSpace(string(s.Kubectl(t, "-n", w.ns, "get", w.kind, w.name, "-o", "jsonpath={.metadata.generation}")))
		s.Kubectl(t, "-n", w.ns, "patch", w.kind, w.name, "--subresource=status", "--type=merge", "-p", fmt.Sprintf(w.patch, gen))
	}
}

func reasonsContain(r status.Report, s string) bool {
	for _, x := range r.Reasons {
		if strings.Contains(x, s) {
			return true
		}
	}
	return false
}

func TestStatusFollowsThePhaseToConvergence(t *testing.T) {
	s := apiserver.Start(t)
	dir := examplePackage(t, phases.Steady)
	file := filepath.Join(dir, "carousel.yaml")

	applyRendered(t, s, dir)
	r := carouselStatus(t, s, file)
	if r.code != 2 || r.report.Verdict != status.Progressing || !reasonsContain(r.report, "has not observed generation") {
		t.Fatalf("applied but not rolled out must be progressing (exit 2): %d %s", r.code, r.raw)
	}
	rollOut(t, s)
	if r = carouselStatus(t, s, file); r.code != 0 || r.report.Verdict != status.Converged {
		t.Fatalf("rolled out must be converged (exit 0): %d %s", r.code, r.raw)
	}
	if st := objectState(r.report, "Secret", "kube-system", "ci-deployer-token"); st != status.Converged {
		t.Fatalf("the ServiceAccount token Secret (spec.serviceAccountTokens) must be verified and converged, got %q: %s", st, r.raw)
	}

	// A pod of an older template still running is listed and holds the gate.
	// (No controller-manager creates the default ServiceAccount: the test does.)
	// The example's webhook intercepts pod creation and its Service has no
	// endpoints here: the API server would dial its ClusterIP, which is not
	// loopback. Scope the webhook away from the test's pod first.
	s.Kubectl(t, "patch", "validatingwebhookconfiguration", "policy.example.dev", "--type=json",
		"-p", `[{"op":"add","path":"/webhooks/0/objectSelector","value":{"matchLabels":{"carousel.dev/test":"never"}}}]`)
	s.KubectlIn(t, []byte("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: default, namespace: shop}\n"), "apply", "-f", "-")
	s.KubectlIn(t, []byte(`apiVersion: v1
kind: Pod
metadata:
  name: storefront-old
  namespace: shop
  labels: {app: storefront}
  annotations: {carousel.dev/cluster-ca: "0000000000000000"}
spec:
  containers: [{name: web, image: registry.example.dev/storefront:2.0.1}]
`), "apply", "-f", "-")
	r = carouselStatus(t, s, file)
	stale := false
	for _, w := range r.report.Workloads {
		if w.Name == "storefront" && len(w.StalePods) == 1 && w.StalePods[0] == "storefront-old" {
			stale = true
		}
	}
	if r.code != 2 || !stale {
		t.Fatalf("a stale pod must be listed and keep the verdict progressing: %d %s", r.code, r.raw)
	}
	s.Kubectl(t, "-n", "shop", "delete", "pod", "storefront-old", "--wait=false", "--grace-period=0", "--force")

	// The next phase is merged but not applied: bundles miss the new CA, the
	// caBundle holds the old set, templates are old.
	testkit.SetPhase(t, dir, phases.TrustNew)
	r = carouselStatus(t, s, file)
	for _, want := range []string{"ConfigMap shop/cluster-ca-bundle", "ValidatingWebhookConfiguration policy.example.dev", "Secret kube-system/ci-deployer-token", "Deployment shop/storefront: its pod template does not carry this phase"} {
		if !reasonsContain(r.report, want) {
			t.Errorf("trust-new merged, steady applied: want a reason about %q, got %s", want, r.raw)
		}
	}
	if r.code != 2 {
		t.Fatalf("want exit 2, got %d", r.code)
	}
	// advance refuses to move on while the phase has not converged.
	out, err := runCarouselEnv(t, []string{"KUBECONFIG=" + s.Kubeconfig}, "advance", file)
	if err == nil || !strings.Contains(out, "trust-new has not converged") {
		t.Fatalf("advance must refuse before convergence: %v %s", err, out)
	}
	applyRendered(t, s, dir)
	if r = carouselStatus(t, s, file); r.code != 2 || !reasonsContain(r.report, "has not observed generation") {
		t.Fatalf("applied, not rolled out: want progressing: %d %s", r.code, r.raw)
	}
	rollOut(t, s)
	if r = carouselStatus(t, s, file); r.code != 0 {
		t.Fatalf("trust-new rolled out must be converged: %d %s", r.code, r.raw)
	}
	// The next step is trust-new's in-cluster-config: its pods restart
	// reading kube-root-ca.crt, so advance first asks that the node steps
	// have published both CAs there (kube-controller-manager does; the test
	// plays it).
	kubeRootCA := func(gens ...string) {
		var pems []string
		for _, n := range testkit.Load(t, dir).Items {
			for _, g := range gens {
				if n.GetKind() == "KeyPair" && n.GetName() == "cluster-ca-ca-"+g {
					c, _ := n.Pipe(yaml.Lookup("certificate"))
					pems = append(pems, yaml.GetValue(c))
				}
			}
		}
		if len(pems) != len(gens) {
			t.Fatalf("found %d of the CA certificates %v", len(pems), gens)
		}
		cm := yaml.MustParse("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: kube-root-ca.crt, namespace: kube-system}\ndata: {}\n")
		_ = cm.PipeE(yaml.Lookup("data"), yaml.SetField("ca.crt", yaml.NewStringRNode(strings.Join(pems, ""))))
		s.KubectlIn(t, []byte(cm.MustString()), "apply", "--server-side", "--field-manager=kube-controller-manager", "-f", "-")
	}
	kubeRootCA("old")
	if out, err := runCarouselEnv(t, []string{"KUBECONFIG=" + s.Kubeconfig}, "advance", file, "--pr-body", filepath.Join(dir, "pr.md")); err == nil || !strings.Contains(out, "kube-root-ca.crt holds") {
		t.Fatalf("advance into in-cluster-config before the node steps published both CAs must be refused naming kube-root-ca.crt: %v %s", err, out)
	}
	kubeRootCA("old", "new")
	if out, err := runCarouselEnv(t, []string{"KUBECONFIG=" + s.Kubeconfig}, "advance", file, "--pr-body", filepath.Join(dir, "pr.md")); err != nil {
		t.Fatalf("advance after convergence: %v %s", err, out)
	}
	testkit.SetPhase(t, dir, phases.TrustNew)

	// Someone else's CA in a managed bundle: waiting will not help.
	other := testkit.Load(t, filepath.Join(testkit.Root(t), "examples", "neuvector"))
	var foreign string
	for _, n := range other.Items {
		if n.GetName() == "neuvector-ca-old" {
			c, _ := n.Pipe(yaml.Lookup("certificate"))
			foreign = yaml.GetValue(c)
		}
	}
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cluster-ca-bundle, namespace: shop}\ndata:\n  ca.crt: |\n    " + strings.ReplaceAll(strings.TrimSpace(foreign), "\n", "\n    ") + "\n"
	s.KubectlIn(t, []byte(cm), "apply", "--server-side", "--force-conflicts", "--field-manager=intruder", "-f", "-")
	if r = carouselStatus(t, s, file); r.code != 3 || r.report.Verdict != status.Blocked || !reasonsContain(r.report, "not this rotation's") {
		t.Fatalf("a foreign CA in a managed bundle must block (exit 3): %d %s", r.code, r.raw)
	}
}

func runCarouselEnv(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(testkit.Carousel(t), args...)
	cmd.Env = append(append(os.Environ(), NowEnv+"=2027-01-01T00:00:00Z"), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestStatusFailsClearlyWithoutACluster(t *testing.T) {
	dir := examplePackage(t, phases.Steady)
	out, err := runCarouselEnv(t, nil, "status", filepath.Join(dir, "carousel.yaml"), "--kubeconfig", filepath.Join(dir, "nope"))
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(out, "kubeconfig") {
		t.Fatalf("want exit 1 naming the kubeconfig, got %v: %s", err, out)
	}
}
