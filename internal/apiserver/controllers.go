package apiserver

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// NeverReady is the pod annotation the simulated kubelets never make ready:
// put it in a workload's pod template and the rollout sticks on an
// unavailable pod, as it does on a cluster when the new template fails.
const NeverReady = "kwok.carousel.dev/never-ready"

// Node is the name of the one simulated node.
const Node = "kwok-node-0"

// pollTimeout bounds Poll. It is generous on purpose: a rollout here takes
// seconds, but the machines running the suite are small and shared, and a
// test must fail only when convergence does not come, not when it is slow.
const pollTimeout = 3 * time.Minute

// StartControllers makes the shared server run workloads the way a cluster
// does: kube-controller-manager (the Deployment, ReplicaSet, DaemonSet,
// StatefulSet, ServiceAccount, namespace and garbage-collector controllers),
// kube-scheduler, and kwok's simulated kubelets over one fake node, whose
// pods become ready unless they carry NeverReady. It starts them once per
// test binary (later calls return at once), so the packages that only need
// an API server do not pay for them.
//
// Not run: the ServiceAccount token controller and the root CA publisher.
// Both write the cluster's CA into token Secrets and ConfigMaps, which the
// tests' rotations manage themselves (a real cluster points the
// controller-manager's --root-ca-file at the rotation's trusted set).
func (s *Server) StartControllers(t testing.TB) {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if !s.controllers {
		s.controllers = true
		s.controllersErr = s.runControllers()
	}
	if s.controllersErr != nil {
		t.Fatalf("starting the controllers: %v", s.controllersErr)
	}
}

func (s *Server) runControllers() error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	bins := map[string]string{}
	for _, name := range []string{"kube-controller-manager", "kube-scheduler", "kwok"} {
		p := filepath.Join(root, "bin", name)
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%s is not installed at %s: run `make tools` (or `make test`, which installs it)", name, p)
		}
		bins[name] = p
	}
	kcm, err := s.spawn("kube-controller-manager", bins["kube-controller-manager"],
		"--kubeconfig="+s.Kubeconfig,
		"--leader-elect=false",
		"--secure-port=0",
		"--controllers=deployment-controller,replicaset-controller,daemonset-controller,statefulset-controller,serviceaccount-controller,namespace-controller,garbage-collector-controller",
		"--v=1",
	)
	if err != nil {
		return err
	}
	if _, err := s.spawn("kube-scheduler", bins["kube-scheduler"],
		"--kubeconfig="+s.Kubeconfig,
		"--leader-elect=false",
		"--secure-port=0",
		"--v=1",
	); err != nil {
		return err
	}
	stages := filepath.Join(s.Dir, "kwok-stages.yaml")
	if err := os.WriteFile(stages, []byte(kwokStages), 0o644); err != nil {
		return err
	}
	kwok, err := s.spawn("kwok", bins["kwok"],
		"--kubeconfig="+s.Kubeconfig,
		"--config="+stages,
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--cidr=10.244.0.0/16",
		"--node-ip=10.1.0.1",
	)
	if err != nil {
		return err
	}
	if _, stderr, err := s.kubectlRun([]byte(fakeNode), "apply", "-f", "-"); err != nil {
		return fmt.Errorf("creating the simulated node: %v\n%s", err, stderr)
	}
	// Ready when kwok has made the node Ready and the controller-manager
	// has created the default ServiceAccount (its informers are running).
	if err := kwok.WaitUntil(func() bool {
		out, _, err := s.kubectlRun(nil, "get", "node", Node, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		return err == nil && strings.TrimSpace(string(out)) == "True"
	}); err != nil {
		return err
	}
	// The API server's TaintNodesByCondition admission taints a new node
	// not-ready; on a cluster the node lifecycle controller lifts it once
	// the kubelet reports Ready. That controller also evicts by heartbeat,
	// which the tests do not need: lift the taint here instead.
	if _, stderr, err := s.kubectlRun(nil, "taint", "node", Node, "node.kubernetes.io/not-ready:NoSchedule-"); err != nil && !strings.Contains(string(stderr), "not found") {
		return fmt.Errorf("lifting the not-ready taint of the simulated node: %v\n%s", err, stderr)
	}
	return kcm.WaitUntil(func() bool {
		_, _, err := s.kubectlRun(nil, "-n", "default", "get", "serviceaccount", "default")
		return err == nil
	})
}

// Poll calls cond until it reports done, failing the test with what, cond's
// last detail and the tail of the controllers' logs after pollTimeout. It
// is how the tests wait for a rollout: no timed assertion, a generous bound.
func (s *Server) Poll(t testing.TB, what string, cond func() (done bool, detail string)) {
	t.Helper()
	deadline := time.Now().Add(pollTimeout)
	for {
		done, detail := cond()
		if done {
			return
		}
		if time.Now().After(deadline) {
			var logs strings.Builder
			for _, p := range s.procs {
				if p.Name == "kube-controller-manager" || p.Name == "kwok" || p.Name == "kube-scheduler" {
					fmt.Fprintf(&logs, "\n--- last lines of %s:\n%s", p.Log, p.Tail(15))
				}
			}
			t.Fatalf("%s: not after %s; last seen: %s%s", what, pollTimeout, detail, logs.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// fakeNode is the node kwok manages (its annotation selects it): no taints,
// room for any pod the tests run.
const fakeNode = `apiVersion: v1
kind: Node
metadata:
  name: ` + Node + `
  annotations: {kwok.x-k8s.io/node: fake}
  labels: {kubernetes.io/hostname: ` + Node + `, kubernetes.io/os: linux, kubernetes.io/arch: amd64, type: kwok}
`

// kwokStages are the simulated kubelet's lifecycle, after kwok's own "fast"
// stages: a node becomes Ready; a scheduled pod becomes Running and Ready at
// once, unless it carries NeverReady (then it stays Pending, unavailable); a
// deleted pod goes away.
const kwokStages = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: node-initialize}
spec:
  resourceRef: {apiGroup: v1, kind: Node}
  selector:
    matchExpressions:
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: NotIn
      values: ['True']
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      {{ range NodeConditions }}
      - lastHeartbeatTime: {{ $now | Quote }}
        lastTransitionTime: {{ $now | Quote }}
        message: {{ .message | Quote }}
        reason: {{ .reason | Quote }}
        status: {{ .status | Quote }}
        type: {{ .type | Quote }}
      {{ end }}
      addresses:
      - {address: {{ NodeIP | Quote }}, type: InternalIP}
      - {address: {{ NodeName | Quote }}, type: Hostname}
      allocatable: {cpu: 1k, memory: 1Ti, pods: 1M}
      capacity: {cpu: 1k, memory: 1Ti, pods: 1M}
      phase: Running
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: pod-ready}
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: DoesNotExist
    - key: '.metadata.annotations["` + NeverReady + `"]'
      operator: DoesNotExist
    - key: '.status.phase'
      operator: In
      values: [Pending]
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: NotIn
      values: ['True']
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Initialized}
      - {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Ready}
      - {lastTransitionTime: {{ $now | Quote }}, status: "True", type: ContainersReady}
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: true
        restartCount: 0
        state: {running: {startedAt: {{ $now | Quote }}}}
      {{ end }}
      {{ with NodeIPsWith .spec.nodeName }}
      hostIP: {{ index . 0 | Quote }}
      {{ end }}
      {{ with PodIPsWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) }}
      podIP: {{ index . 0 | Quote }}
      {{ end }}
      phase: Running
      startTime: {{ $now | Quote }}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: pod-delete}
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: Exists
  next:
    delete: true
`
