package fn

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/carousel-dev/carousel/internal/apiserver"
	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/status"
)

// neuvectorPackage is a copy of examples/neuvector at its committed phase.
func neuvectorPackage(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "neuvector")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(testkit.Root(t), "examples", "neuvector"))); err != nil {
		t.Fatal(err)
	}
	return dir
}

// The example's workloads as their controllers report them once every
// replica (every node) runs the current template and is available. No
// controller-manager or kubelet runs in these tests, so the test plays them.
var neuvectorDone = []struct{ kind, name, status string }{
	{"deployment", "neuvector-controller-pod", `{"observedGeneration":%s,"replicas":3,"updatedReplicas":3,"readyReplicas":3,"availableReplicas":3,"unavailableReplicas":0}`},
	{"daemonset", "neuvector-enforcer-pod", `{"observedGeneration":%s,"desiredNumberScheduled":3,"currentNumberScheduled":3,"updatedNumberScheduled":3,"numberAvailable":3,"numberReady":3,"numberUnavailable":0,"numberMisscheduled":0}`},
	{"deployment", "neuvector-scanner-pod", `{"observedGeneration":%s,"replicas":3,"updatedReplicas":3,"readyReplicas":3,"availableReplicas":3,"unavailableReplicas":0}`},
	{"deployment", "neuvector-manager-pod", `{"observedGeneration":%s,"replicas":1,"updatedReplicas":1,"readyReplicas":1,"availableReplicas":1,"unavailableReplicas":0}`},
}

// setStatus replaces a workload's status subresource; %s in status is its
// current metadata.generation.
func setStatus(t *testing.T, s *apiserver.Server, kind, name, st string) {
	t.Helper()
	gen := strings.TrimSpace(string(s.Kubectl(t, "-n", "neuvector", "get", kind, name, "-o", "jsonpath={.metadata.generation}")))
	if strings.Contains(st, "%s") {
		st = fmt.Sprintf(st, gen)
	}
	// A JSON merge patch cannot remove the counters an earlier patch set:
	// replace the whole status.
	s.Kubectl(t, "-n", "neuvector", "patch", kind, name, "--subresource=status", "--type=json",
		"-p", `[{"op":"replace","path":"/status","value":`+st+`}]`)
}

func rollOutNeuVector(t *testing.T, s *apiserver.Server) {
	t.Helper()
	for _, w := range neuvectorDone {
		setStatus(t, s, w.kind, w.name, w.status)
	}
}

// terminatingPod leaves a pod of the workload selected by app in the state a
// rolling update leaves the old pods in: deleted (deletionTimestamp set) and
// still there, as a kubelet keeps it for its grace period. Here a finalizer
// keeps it; release lets it go.
func terminatingPod(t *testing.T, s *apiserver.Server, name, app string) (release func()) {
	t.Helper()
	s.KubectlIn(t, []byte(fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  namespace: neuvector
  labels: {app: %s, release: neuvector}
  finalizers: [carousel.dev/test-holds-the-pod]
spec:
  containers: [{name: old, image: docker.io/neuvector/enforcer:5.5.3}]
`, name, app)), "apply", "-f", "-")
	s.Kubectl(t, "-n", "neuvector", "delete", "pod", name, "--wait=false")
	return func() {
		s.Kubectl(t, "-n", "neuvector", "patch", "pod", name, "--type=json", "-p", `[{"op":"remove","path":"/metadata/finalizers"}]`)
	}
}

// TestTheLiveGateNeverSwapsCertificatesDuringARollingUpdate holds the gate
// to NeuVector's rule (its upgrader waits until a rolling update completes
// before it touches the internal certificate): at steady, with every
// holder of the certificate rolled out, `carousel status` is converged;
// while any holder is mid-rollout, for any reason (here a helm upgrade
// of the images), status is progressing and names it, and `carousel
// advance` refuses to swap the certificate. The manager holds no internal
// certificate: its rollout never holds the gate. Each mid-rollout state is
// what the workload's controller reports at that point of a real rollout of
// the chart's strategies (controller and scanner maxSurge 1,
// maxUnavailable 0; enforcer RollingUpdate), written by hand.
func TestTheLiveGateNeverSwapsCertificatesDuringARollingUpdate(t *testing.T) {
	s := apiserver.Start(t)
	dir := neuvectorPackage(t)
	file := filepath.Join(dir, "carousel.yaml")
	live := testkit.Cmd{FixedClock: true, Env: []string{"KUBECONFIG=" + s.Kubeconfig}}

	applyRendered(t, s, dir)
	// No controller-manager creates the default ServiceAccount: the test does.
	s.KubectlIn(t, []byte("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: default, namespace: neuvector}\n"), "apply", "-f", "-")
	rollOutNeuVector(t, s)
	if r := carouselStatus(t, s, file); r.code != 0 || r.report.Verdict != status.Converged {
		t.Fatalf("steady applied and rolled out must be converged (exit 0): %d %s", r.code, r.raw)
	}

	tests := []struct {
		name        string
		workload    string // the reason names it
		detail      string // and says this
		terminating string // the pod listed as terminating, if any
		midway      func(t *testing.T) (done func())
	}{
		{
			name:     "a helm upgrade changed the controller's template and its controller has not observed it yet",
			workload: "Deployment neuvector/neuvector-controller-pod", detail: "has not observed generation",
			midway: func(t *testing.T) func() {
				s.Kubectl(t, "-n", "neuvector", "set", "image", "deployment/neuvector-controller-pod", "neuvector-controller-pod=docker.io/neuvector/controller:5.6.1")
				return func() {
					s.Kubectl(t, "-n", "neuvector", "set", "image", "deployment/neuvector-controller-pod", "neuvector-controller-pod=docker.io/neuvector/controller:5.6.0")
				}
			},
		},
		{
			name:     "the controller surged one updated replica beside the three old ones",
			workload: "Deployment neuvector/neuvector-controller-pod", detail: "1/3 updated, 3 available, 4 total",
			midway: func(t *testing.T) func() {
				setStatus(t, s, "deployment", "neuvector-controller-pod", `{"observedGeneration":%s,"replicas":4,"updatedReplicas":1,"readyReplicas":3,"availableReplicas":3,"unavailableReplicas":1}`)
				return func() {}
			},
		},
		{
			name:     "the scanner's last old replica is pending termination",
			workload: "Deployment neuvector/neuvector-scanner-pod", detail: "3/3 updated, 3 available, 4 total",
			midway: func(t *testing.T) func() {
				setStatus(t, s, "deployment", "neuvector-scanner-pod", `{"observedGeneration":%s,"replicas":4,"updatedReplicas":3,"readyReplicas":4,"availableReplicas":3,"unavailableReplicas":0}`)
				return func() {}
			},
		},
		{
			name:     "the scanner counts a replica unavailable while the old ReplicaSet is scaled down",
			workload: "Deployment neuvector/neuvector-scanner-pod", detail: "1 replica(s) unavailable",
			midway: func(t *testing.T) func() {
				setStatus(t, s, "deployment", "neuvector-scanner-pod", `{"observedGeneration":%s,"replicas":3,"updatedReplicas":3,"readyReplicas":3,"availableReplicas":3,"unavailableReplicas":1}`)
				return func() {}
			},
		},
		{
			name:     "the controller counts a replica of the old template still terminating (terminatingReplicas)",
			workload: "Deployment neuvector/neuvector-controller-pod", detail: "still terminating",
			midway: func(t *testing.T) func() {
				setStatus(t, s, "deployment", "neuvector-controller-pod", `{"observedGeneration":%s,"replicas":3,"updatedReplicas":3,"readyReplicas":3,"availableReplicas":3,"unavailableReplicas":0,"terminatingReplicas":1}`)
				return func() {}
			},
		},
		{
			name:     "the enforcer has updated one node of three",
			workload: "DaemonSet neuvector/neuvector-enforcer-pod", detail: "1/3 updated, 2 available",
			midway: func(t *testing.T) func() {
				setStatus(t, s, "daemonset", "neuvector-enforcer-pod", `{"observedGeneration":%s,"desiredNumberScheduled":3,"currentNumberScheduled":3,"updatedNumberScheduled":1,"numberAvailable":2,"numberReady":2,"numberUnavailable":1,"numberMisscheduled":0}`)
				return func() {}
			},
		},
		{
			name:     "the enforcer still runs a pod on a node it left",
			workload: "DaemonSet neuvector/neuvector-enforcer-pod", detail: "numberMisscheduled",
			midway: func(t *testing.T) func() {
				setStatus(t, s, "daemonset", "neuvector-enforcer-pod", `{"observedGeneration":%s,"desiredNumberScheduled":3,"currentNumberScheduled":3,"updatedNumberScheduled":3,"numberAvailable":3,"numberReady":3,"numberUnavailable":0,"numberMisscheduled":1}`)
				return func() {}
			},
		},
		{
			name:     "the enforcer's counters are done but an old pod is still terminating",
			workload: "DaemonSet neuvector/neuvector-enforcer-pod", detail: "still terminating", terminating: "neuvector-enforcer-pod-old",
			midway: func(t *testing.T) func() {
				return terminatingPod(t, s, "neuvector-enforcer-pod-old", "neuvector-enforcer-pod")
			},
		},
		{
			name:     "the controller's counters are done but an old pod is still terminating",
			workload: "Deployment neuvector/neuvector-controller-pod", detail: "still terminating", terminating: "neuvector-controller-pod-old",
			midway: func(t *testing.T) func() {
				return terminatingPod(t, s, "neuvector-controller-pod-old", "neuvector-controller-pod")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := tt.midway(t)
			r := carouselStatus(t, s, file)
			if r.code != 3 || r.report.Verdict != status.Progressing || !reasonsContain(r.report, tt.workload+": ") || !reasonsContain(r.report, tt.detail) {
				t.Errorf("mid-rollout: want progressing (exit 3) naming %s (%q), got exit %d: %s", tt.workload, tt.detail, r.code, r.raw)
			}
			if tt.terminating != "" && !slices.ContainsFunc(r.report.Workloads, func(w status.WorkloadStatus) bool {
				return slices.Contains(w.TerminatingPods, tt.terminating)
			}) {
				t.Errorf("want %s listed in terminatingPods: %s", tt.terminating, r.raw)
			}
			if r := live.Run(t, "advance", file); r.Err == nil || !strings.Contains(r.Out, "steady has not converged") {
				t.Errorf("advance must refuse to swap the certificate mid-rollout: %v %s", r.Err, r.Out)
				testkit.SetPhase(t, dir, phases.Steady) // it moved: put it back for the next case
			}
			done()
			rollOutNeuVector(t, s)
			if r := carouselStatus(t, s, file); r.code != 0 {
				t.Fatalf("rolled out again: want converged, got exit %d: %s", r.code, r.raw)
			}
		})
	}

	// The manager holds no internal certificate: its rollout is not the
	// rotation's business.
	setStatus(t, s, "deployment", "neuvector-manager-pod", `{"observedGeneration":%s,"replicas":2,"updatedReplicas":1,"readyReplicas":1,"availableReplicas":1,"unavailableReplicas":1}`)
	if r := carouselStatus(t, s, file); r.code != 0 || reasonsContain(r.report, "neuvector-manager-pod") {
		t.Fatalf("the manager's rollout must not hold the gate: %d %s", r.code, r.raw)
	}

	// Every holder rolled out: advance swaps the certificate, the reissue
	// phase rolls exactly the holders, and converges once they rolled.
	if r := live.Run(t, "advance", file, "--out", filepath.Join(t.TempDir(), "pr.md")); r.Err != nil {
		t.Fatalf("advance with every holder rolled out: %v %s", r.Err, r.Out)
	}
	applyRendered(t, s, dir)
	r := carouselStatus(t, s, file)
	if r.code != 3 || r.report.Phase != "reissue" {
		t.Fatalf("reissue applied, not rolled out: want progressing: %d %s", r.code, r.raw)
	}
	var rolling []string
	for _, w := range r.report.Workloads {
		if w.State != status.Converged {
			rolling = append(rolling, w.Name)
		}
	}
	if want := []string{"neuvector-controller-pod", "neuvector-enforcer-pod", "neuvector-scanner-pod"}; !slices.Equal(rolling, want) {
		t.Errorf("reissue rolls %v, want exactly the holders %v", rolling, want)
	}
	rollOutNeuVector(t, s)
	if r := carouselStatus(t, s, file); r.code != 0 {
		t.Fatalf("reissue rolled out: want converged: %d %s", r.code, r.raw)
	}
}
