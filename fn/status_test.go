package fn

import (
	"encoding/json"
	"fmt"
	"os"
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
	return carouselStatusAt(t, s, file, "2027-01-01T00:00:00Z", extra...)
}

// carouselStatusAt is carouselStatus with the clock at now (RFC 3339).
func carouselStatusAt(t *testing.T, s *apiserver.Server, file, now string, extra ...string) statusRun {
	t.Helper()
	args := append([]string{"status", file, "--kubeconfig", s.Kubeconfig, "-o", "json"}, extra...)
	run := testkit.Cmd{Env: []string{NowEnv + "=" + now}}.Run(t, args...)
	var r status.Report
	if err := json.Unmarshal([]byte(run.Stdout), &r); err != nil {
		t.Fatalf("status -o json is not JSON (exit %d): %v\n%s", run.Code, err, run.Stdout)
	}
	checkStatusSchema(t, []byte(run.Stdout))
	return statusRun{r, run.Code, run.Stdout}
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
// would) with server-side apply. edit, if given, changes each object first.
func applyRendered(t *testing.T, s *apiserver.Server, dir string, edit ...func(*yaml.RNode)) {
	t.Helper()
	var ns, rest []*yaml.RNode
	for _, n := range testkit.Parse(t, testkit.KustomizeDir(t, dir)) {
		n = testkit.Decrypt(t, n)
		for _, e := range edit {
			e(n)
		}
		if n.GetKind() == "Namespace" {
			ns = append(ns, n)
		} else {
			rest = append(rest, n)
		}
	}
	s.KubectlIn(t, []byte(testkit.String(ns)), "apply", "--server-side", "--field-manager=test", "-f", "-")
	s.KubectlIn(t, []byte(testkit.String(rest)), "apply", "--server-side", "--force-conflicts", "--field-manager=test", "-f", "-")
}

// noWebhookServer scopes the example's pod admission webhook away from
// every pod: no webhook server runs here (the API server would dial its
// Service's ClusterIP, which is not loopback), and with failurePolicy Fail
// the ReplicaSet controller could create no pod. Its caBundle, what status
// checks, is untouched.
func noWebhookServer(n *yaml.RNode) {
	if n.GetKind() != "ValidatingWebhookConfiguration" {
		return
	}
	hooks, _ := n.Pipe(yaml.Lookup("webhooks"))
	els, _ := hooks.Elements()
	for _, h := range els {
		_ = h.PipeE(yaml.SetField("objectSelector", yaml.MustParse("matchLabels: {carousel.dev/test: never}")))
	}
}

// neverReady marks the workload's pod template so the simulated kubelet
// never makes its pods ready, with a progress deadline of a few seconds: a
// rollout that sticks on an unavailable pod and says so.
func neverReady(kind, ns, name string) func(*yaml.RNode) {
	return func(n *yaml.RNode) {
		if n.GetKind() != kind || n.GetNamespace() != ns || n.GetName() != name {
			return
		}
		_ = n.PipeE(yaml.LookupCreate(yaml.MappingNode, "spec", "template", "metadata", "annotations"), yaml.SetField(apiserver.NeverReady, yaml.NewStringRNode("true")))
		_ = n.PipeE(yaml.Lookup("spec"), yaml.SetField("progressDeadlineSeconds", yaml.MustParse("5")))
	}
}

// clusterSetup creates what a cluster has before any package is applied:
// the ServiceAccounts the example's kube-system workloads run as (the
// ServiceAccount admission refuses their pods without them).
func clusterSetup(t *testing.T, s *apiserver.Server) {
	t.Helper()
	s.KubectlIn(t, []byte(`apiVersion: v1
kind: ServiceAccount
metadata: {name: kube-proxy, namespace: kube-system}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: coredns, namespace: kube-system}
`), "apply", "-f", "-")
}

// statusUntil runs carousel status until done holds of its run, and
// returns that run; after a generous bound it fails with the last report.
func statusUntil(t *testing.T, s *apiserver.Server, file, what string, done func(statusRun) bool) statusRun {
	t.Helper()
	var r statusRun
	s.Poll(t, what, func() (bool, string) {
		r = carouselStatus(t, s, file)
		return done(r), fmt.Sprintf("exit %d %s", r.code, r.raw)
	})
	return r
}

func workload(r status.Report, kind, ns, name string) status.WorkloadStatus {
	for _, w := range r.Workloads {
		if w.Kind == kind && w.Namespace == ns && w.Name == name {
			return w
		}
	}
	return status.WorkloadStatus{}
}

func reasonsContain(r status.Report, s string) bool {
	for _, x := range r.Reasons {
		if strings.Contains(x, s) {
			return true
		}
	}
	return false
}

// The live gate against a cluster that rolls out for real: the
// controller-manager rolls each Deployment through ReplicaSets and pods,
// the StatefulSet and DaemonSet through their pods, on a simulated kubelet;
// status follows each phase to convergence, and a rollout stuck on an
// unavailable pod holds the gate, lists the pods of the older template and,
// past its progress deadline, blocks.
func TestStatusFollowsThePhaseToConvergence(t *testing.T) {
	s := apiserver.Start(t)
	s.StartControllers(t)
	clusterSetup(t, s)
	dir := examplePackage(t, phases.Steady)
	file := filepath.Join(dir, "carousel.yaml")

	// The node is cordoned while the phase is applied, so no pod can run:
	// what status sees before the rollout does not depend on timing.
	s.Kubectl(t, "cordon", apiserver.Node)
	applyRendered(t, s, dir, noWebhookServer)
	r := carouselStatus(t, s, file)
	if r.code != 3 || r.report.Verdict != status.Progressing || !reasonsContain(r.report, "Deployment shop/storefront") {
		t.Fatalf("applied but not rolled out must be progressing (exit 3), storefront among the reasons: %d %s", r.code, r.raw)
	}
	s.Kubectl(t, "uncordon", apiserver.Node)
	r = statusUntil(t, s, file, "steady rolls out and converges", func(r statusRun) bool { return r.code == 0 })
	if r.report.Verdict != status.Converged {
		t.Fatalf("exit 0 must say converged: %s", r.raw)
	}
	if st := objectState(r.report, "Secret", "kube-system", "ci-deployer-token"); st != status.Converged {
		t.Fatalf("the ServiceAccount token Secret (spec.serviceAccountTokens) must be verified and converged, got %q: %s", st, r.raw)
	}

	// The next phase is merged but not applied: bundles miss the new CA, the
	// caBundle holds the old set, templates are old.
	testkit.SetPhase(t, dir, phases.TrustNew)
	r = carouselStatus(t, s, file)
	for _, want := range []string{"ConfigMap shop/cluster-ca-bundle", "ValidatingWebhookConfiguration policy.example.dev", "Secret kube-system/ci-deployer-token", "Deployment shop/storefront: its pod template does not carry this phase"} {
		if !reasonsContain(r.report, want) {
			t.Errorf("trust-new merged, steady applied: want a reason about %q, got %s", want, r.raw)
		}
	}
	if r.code != 3 {
		t.Fatalf("want exit 3, got %d", r.code)
	}
	// advance refuses to move on while the phase has not converged.
	live := testkit.Cmd{FixedClock: true, Env: []string{"KUBECONFIG=" + s.Kubeconfig}}
	if adv := live.Run(t, "advance", file); adv.Err == nil || !strings.Contains(adv.Out, "trust-new has not converged") {
		t.Fatalf("advance must refuse before convergence: %v %s", adv.Err, adv.Out)
	}

	// trust-new applied, and storefront's new pods never become ready: its
	// rollout sticks with the three pods of the steady template running.
	applyRendered(t, s, dir, noWebhookServer, neverReady("Deployment", "shop", "storefront"))
	r = statusUntil(t, s, file, "storefront's stuck rollout exceeds its progress deadline", func(r statusRun) bool {
		return workload(r.report, "Deployment", "shop", "storefront").State == status.Blocked
	})
	sf := workload(r.report, "Deployment", "shop", "storefront")
	if r.code != 2 || r.report.Verdict != status.Blocked || !strings.Contains(sf.Detail, "progress deadline") || len(sf.StalePods) != 3 {
		t.Fatalf("a rollout stuck past its deadline must block (exit 2) and list the 3 pods still on the steady template: %d %s", r.code, r.raw)
	}
	for _, p := range sf.StalePods {
		if !strings.HasPrefix(p, "storefront-") {
			t.Errorf("stale pod %q is not storefront's", p)
		}
	}
	if adv := live.Run(t, "advance", file); adv.Err == nil {
		t.Fatalf("advance must refuse while a rollout is stuck: %s", adv.Out)
	}

	// The workload is fixed: the rollout completes, the gate opens.
	applyRendered(t, s, dir, noWebhookServer)
	r = statusUntil(t, s, file, "trust-new rolls out once storefront is fixed", func(r statusRun) bool { return r.code == 0 })
	if sf := workload(r.report, "Deployment", "shop", "storefront"); sf.State != status.Converged || len(sf.StalePods) != 0 {
		t.Fatalf("storefront must be converged with no stale pod: %s", r.raw)
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
	if adv := live.Run(t, "advance", file, "--out", filepath.Join(dir, "pr.md")); adv.Err == nil || !strings.Contains(adv.Out, "kube-root-ca.crt holds") {
		t.Fatalf("advance into in-cluster-config before the node steps published both CAs must be refused naming kube-root-ca.crt: %v %s", adv.Err, adv.Out)
	}
	kubeRootCA("old", "new")
	if adv := live.Run(t, "advance", file, "--out", filepath.Join(dir, "pr.md")); adv.Err != nil {
		t.Fatalf("advance after convergence: %v %s", adv.Err, adv.Out)
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
	if r = carouselStatus(t, s, file); r.code != 2 || r.report.Verdict != status.Blocked || !reasonsContain(r.report, "not this rotation's") {
		t.Fatalf("a foreign CA in a managed bundle must block (exit 2): %d %s", r.code, r.raw)
	}
}

// status -o openmetrics writes the report as metrics (pkg/status checks
// them with Prometheus's parsers), and --metrics-file writes the same
// bytes to a file, whatever the verdict (here progressing: nothing is
// applied), beside the output asked for. A check that could not run
// writes no file: the one from the last check stays, and its age says so
// (node-exporter's node_textfile_mtime_seconds).
func TestStatusWritesItsReportAsMetrics(t *testing.T) {
	s := apiserver.Start(t)
	// examples/kpt, which no other test here applies: nothing of it is in
	// the shared API server.
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(testkit.Root(t), "examples", "kpt"))); err != nil {
		t.Fatal(err)
	}
	testkit.SetPhase(t, dir, phases.TrustNew)
	file := filepath.Join(dir, "carousel.yaml")
	prom := filepath.Join(t.TempDir(), "carousel.prom")
	run := testkit.Cmd{FixedClock: true}.Run(t, "status", file, "--kubeconfig", s.Kubeconfig, "-o", "openmetrics", "--metrics-file", prom)
	if run.Code != 3 {
		t.Fatalf("want exit 3 (progressing), got %d: %s", run.Code, run.Out)
	}
	for _, want := range []string{
		`carousel_rotation_phase{phase="trust-new",rotation="app-tls"} 1`,
		`carousel_rotation_verdict{rotation="app-tls",verdict="progressing"} 1`,
		`carousel_object_converged{kind="ConfigMap",name="app-trust",namespace="app",rotation="app-tls"} 0`,
		`carousel_workload_converged{kind="Deployment",name="web",namespace="app",rotation="app-tls"} 0`,
	} {
		if !strings.Contains(run.Stdout, want+"\n") {
			t.Errorf("status -o openmetrics lacks %s:\n%s", want, run.Stdout)
		}
	}
	b, err := os.ReadFile(prom)
	if err != nil || string(b) != run.Stdout {
		t.Fatalf("--metrics-file must hold what -o openmetrics printed (%v):\n%s", err, b)
	}
	// With -o json on stdout, the file is still the metrics.
	if r := carouselStatus(t, s, file, "--metrics-file", prom); r.code != 3 {
		t.Fatalf("want exit 3, got %d", r.code)
	}
	if again, _ := os.ReadFile(prom); string(again) != string(b) {
		t.Fatalf("the metrics file changed with -o json:\n%s", again)
	}
	if r := (testkit.Cmd{FixedClock: true}).Run(t, "status", file, "--kubeconfig", filepath.Join(t.TempDir(), "nope"), "--metrics-file", prom); r.Code != 1 {
		t.Fatalf("want exit 1 without a cluster, got %d", r.Code)
	}
	if again, _ := os.ReadFile(prom); string(again) != string(b) {
		t.Fatalf("a check that could not run replaced the metrics file:\n%s", again)
	}
}

func TestStatusFailsClearlyWithoutACluster(t *testing.T) {
	dir := examplePackage(t, phases.Steady)
	r := testkit.Cmd{FixedClock: true}.Run(t, "status", filepath.Join(dir, "carousel.yaml"), "--kubeconfig", filepath.Join(dir, "nope"))
	if r.Code != 1 || !strings.Contains(r.Out, "kubeconfig") {
		t.Fatalf("want exit 1 naming the kubeconfig, got %v: %s", r.Err, r.Out)
	}
}
