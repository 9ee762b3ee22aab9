package apiserver

import (
	"fmt"
	"strings"
	"testing"
)

// TestControllersRollADeploymentThroughReplicaSetsAndPods checks what the
// live-gate tests rely on: a Deployment gets a ReplicaSet and ready pods
// from the real controllers and the simulated kubelet; a new template
// marked NeverReady starts a second ReplicaSet whose pod stays unavailable,
// so the old pods keep running and the rollout sticks; and a DaemonSet runs
// one pod on the simulated node.
func TestControllersRollADeploymentThroughReplicaSetsAndPods(t *testing.T) {
	s := Start(t)
	s.StartControllers(t)
	s.StartControllers(t) // a second call is free
	s.KubectlIn(t, []byte(`apiVersion: v1
kind: Namespace
metadata: {name: rollout}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: rollout}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: web:1}]}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: rollout}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: agent, image: agent:1}]}
`), "apply", "-f", "-")
	get := func(kind, name, path string) string {
		args := []string{"-n", "rollout", "get", kind}
		if name != "" {
			args = append(args, name)
		}
		out, _, err := s.KubectlErr(append(args, "-o", "jsonpath="+path)...)
		if err != nil {
			return err.Error()
		}
		return strings.TrimSpace(string(out))
	}
	s.Poll(t, "the Deployment rolls out", func() (bool, string) {
		got := get("deployment", "web", "{.status.updatedReplicas}/{.status.availableReplicas}")
		return got == "2/2", "updated/available " + got
	})
	s.Poll(t, "the DaemonSet runs on the simulated node", func() (bool, string) {
		got := get("daemonset", "agent", "{.status.desiredNumberScheduled}/{.status.numberAvailable}")
		return got == "1/1", "desired/available " + got
	})

	s.Kubectl(t, "-n", "rollout", "patch", "deployment", "web", "--type=merge", "-p",
		fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{%q:"true"}}}}}`, NeverReady))
	s.Poll(t, "a second ReplicaSet holds the never-ready pod", func() (bool, string) {
		rs := get("replicaset", "", "{range .items[*]}{.status.replicas}:{.status.readyReplicas} {end}")
		pods := get("pods", "", `{range .items[*]}{.status.phase} {end}`)
		return strings.Count(rs, ":") == 2 && strings.Count(pods, "Pending") == 1 && strings.Count(pods, "Running") >= 2, "replicasets " + rs + ", pods " + pods
	})
	if got := get("deployment", "web", "{.status.updatedReplicas}/{.status.availableReplicas}/{.status.unavailableReplicas}"); got != "1/2/1" {
		t.Fatalf("the stuck rollout must keep the old pods available and the new one unavailable (updated/available/unavailable), got %s", got)
	}
}
