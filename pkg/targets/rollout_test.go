package targets_test

import (
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/targets"
)

// TestRolloutReadsEveryCounterOfAMidwayRollout holds the live gate's
// rollout rule on the status a workload's controller reports at points of a
// real rolling update that fn's live-gate test cannot hold on its one-node
// cluster of real controllers: each is an instant there (the controller
// observes a new generation within milliseconds; the surge pod and the old
// ReplicaSet are scaled away as soon as the new pods are ready;
// unavailableReplicas and terminatingReplicas alone last while the old
// ReplicaSet scales down) or needs three nodes (a DaemonSet updated on one
// of them). A test waiting for an instant could not fail reliably, so these
// statuses are written as NeuVector's chart strategies produce them
// (controller and scanner maxSurge 1, maxUnavailable 0; three replicas;
// the enforcer on three nodes).
func TestRolloutReadsEveryCounterOfAMidwayRollout(t *testing.T) {
	const deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: neuvector-scanner-pod, namespace: neuvector, generation: 2}\nspec: {replicas: 3}\nstatus: "
	const daemonset = "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: neuvector-enforcer-pod, namespace: neuvector, generation: 2}\nstatus: "
	// Argo Rollouts writes observedGeneration as a string.
	const argoRollout = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: storefront, namespace: shop, generation: 2}\nspec: {replicas: 3}\nstatus: "
	tests := []struct {
		name   string
		kind   string
		live   string
		state  targets.RolloutState
		detail string
	}{
		{"a Deployment every replica of which runs the current template and is available has rolled out", "Deployment",
			deployment + `{observedGeneration: 2, replicas: 3, updatedReplicas: 3, readyReplicas: 3, availableReplicas: 3, unavailableReplicas: 0}`, targets.RolloutDone, ""},
		{"a helm upgrade changed the template and the controller has not observed it yet", "Deployment",
			deployment + `{observedGeneration: 1, replicas: 3, updatedReplicas: 3, readyReplicas: 3, availableReplicas: 3}`, targets.RolloutProgressing, "has not observed generation 2"},
		{"the scanner's last old replica is pending termination beside three updated ones", "Deployment",
			deployment + `{observedGeneration: 2, replicas: 4, updatedReplicas: 3, readyReplicas: 4, availableReplicas: 3, unavailableReplicas: 0}`, targets.RolloutProgressing, "3/3 updated, 3 available, 4 total"},
		{"the scanner counts a replica unavailable while the old ReplicaSet is scaled down", "Deployment",
			deployment + `{observedGeneration: 2, replicas: 3, updatedReplicas: 3, readyReplicas: 3, availableReplicas: 3, unavailableReplicas: 1}`, targets.RolloutProgressing, "1 replica(s) unavailable"},
		{"the controller counts a replica of the old template still terminating (terminatingReplicas)", "Deployment",
			deployment + `{observedGeneration: 2, replicas: 3, updatedReplicas: 3, readyReplicas: 3, availableReplicas: 3, unavailableReplicas: 0, terminatingReplicas: 1}`, targets.RolloutProgressing, "still terminating"},
		{"a DaemonSet on every node, updated and available, has rolled out", "DaemonSet",
			daemonset + `{observedGeneration: 2, desiredNumberScheduled: 3, currentNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3, numberReady: 3, numberUnavailable: 0, numberMisscheduled: 0}`, targets.RolloutDone, ""},
		{"the enforcer has updated one node of three", "DaemonSet",
			daemonset + `{observedGeneration: 2, desiredNumberScheduled: 3, currentNumberScheduled: 3, updatedNumberScheduled: 1, numberAvailable: 2, numberReady: 2, numberUnavailable: 1, numberMisscheduled: 0}`, targets.RolloutProgressing, "1/3 updated, 2 available"},
		{"the enforcer counts a node without an available pod though the other counters are done", "DaemonSet",
			daemonset + `{observedGeneration: 2, desiredNumberScheduled: 3, currentNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3, numberReady: 3, numberUnavailable: 1, numberMisscheduled: 0}`, targets.RolloutProgressing, "numberUnavailable"},
		{"a Rollout whose new template is stable and available has rolled out", "Rollout",
			argoRollout + `{observedGeneration: "2", phase: Healthy, currentPodHash: 7c9d, stableRS: 7c9d, replicas: 3, updatedReplicas: 3, availableReplicas: 3, readyReplicas: 3}`, targets.RolloutDone, ""},
		{"a Rollout whose controller has not observed the new template", "Rollout",
			argoRollout + `{observedGeneration: "1", phase: Healthy, currentPodHash: 5f6b, stableRS: 5f6b, replicas: 3, updatedReplicas: 3, availableReplicas: 3}`, targets.RolloutProgressing, "has not observed generation 2"},
		{"a canary paused at its 20% step runs two templates", "Rollout",
			argoRollout + `{observedGeneration: "2", phase: Paused, currentPodHash: 7c9d, stableRS: 5f6b, replicas: 4, updatedReplicas: 1, availableReplicas: 4}`, targets.RolloutProgressing, "paused at a step"},
		{"a canary past its steps whose new ReplicaSet is not stable yet", "Rollout",
			argoRollout + `{observedGeneration: "2", phase: Progressing, currentPodHash: 7c9d, stableRS: 5f6b, replicas: 3, updatedReplicas: 3, availableReplicas: 3}`, targets.RolloutProgressing, `stable ReplicaSet "5f6b" of current "7c9d"`},
		{"an aborted Rollout is blocked: waiting will not finish it", "Rollout",
			argoRollout + `{observedGeneration: "2", phase: Degraded, currentPodHash: 7c9d, stableRS: 5f6b, replicas: 3, updatedReplicas: 0, availableReplicas: 3}`, targets.RolloutStuck, "Degraded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, _ := targets.Builtin().Lookup(tt.kind)
			state, detail := k.Workload.Rollout(yaml.MustParse(tt.live))
			if state != tt.state || !strings.Contains(detail, tt.detail) || (tt.detail == "" && detail != "") {
				t.Fatalf("got %s (%s), want %s (%s)", state, detail, tt.state, tt.detail)
			}
		})
	}
}

// TestADeclaredKindRollsOutByTheConventionsItsStatusFollows holds the rule
// of a kind a spec declares (spec.workloadKinds) to what controllers of
// such kinds report: OpenKruise's CloneSet (the counters of the apps kinds
// and updatedReadyReplicas), a platform's App kind with only a Ready
// condition, and one whose status says nothing carousel can read, which
// must fail closed.
func TestADeclaredKindRollsOutByTheConventionsItsStatusFollows(t *testing.T) {
	const cloneSet = "apiVersion: apps.kruise.io/v1alpha1\nkind: CloneSet\nmetadata: {name: web, namespace: shop, generation: 3}\nspec: {replicas: 3}\nstatus: "
	const app = "apiVersion: platform.example.com/v1\nkind: App\nmetadata: {name: web, namespace: shop, generation: 5}\nspec: {replicas: 2}\nstatus: "
	tests := []struct {
		name   string
		live   string
		state  targets.RolloutState
		detail string
	}{
		{"a CloneSet whose every replica runs the current revision and is ready has rolled out",
			cloneSet + `{observedGeneration: 3, replicas: 3, updatedReplicas: 3, readyReplicas: 3, availableReplicas: 3, updatedReadyReplicas: 3}`, targets.RolloutDone, ""},
		{"a CloneSet whose controller has not observed the new template",
			cloneSet + `{observedGeneration: 2, replicas: 3, updatedReplicas: 3, readyReplicas: 3, updatedReadyReplicas: 3}`, targets.RolloutProgressing, "has not observed generation 3"},
		{"a CloneSet in a partitioned update has two of three replicas on the new revision",
			cloneSet + `{observedGeneration: 3, replicas: 3, updatedReplicas: 2, readyReplicas: 3, availableReplicas: 3, updatedReadyReplicas: 2}`, targets.RolloutProgressing, "updatedReplicas 2 of 3"},
		{"a CloneSet whose updated replicas are not ready yet",
			cloneSet + `{observedGeneration: 3, replicas: 3, updatedReplicas: 3, readyReplicas: 3, availableReplicas: 3, updatedReadyReplicas: 1}`, targets.RolloutProgressing, "updatedReadyReplicas 1 of 3"},
		{"a CloneSet that surged a fourth replica still runs an old one",
			cloneSet + `{observedGeneration: 3, replicas: 4, updatedReplicas: 3, readyReplicas: 4, availableReplicas: 4, updatedReadyReplicas: 3}`, targets.RolloutProgressing, "4 replicas for 3 wanted"},
		{"an App with only a True Ready condition has rolled out",
			app + `{observedGeneration: 5, conditions: [{type: Ready, status: "True"}]}`, targets.RolloutDone, ""},
		{"an App whose Ready condition is False is still rolling out, and says why",
			app + `{observedGeneration: 5, conditions: [{type: Ready, status: "False", message: "1 of 2 pods updated"}]}`, targets.RolloutProgressing, "1 of 2 pods updated"},
		{"an App whose status has neither a ready counter nor a Ready condition cannot be seen to be done",
			app + `{observedGeneration: 5}`, targets.RolloutStuck, "cannot tell its pods are ready"},
		{"an App with no status at all has not been observed",
			"apiVersion: platform.example.com/v1\nkind: App\nmetadata: {name: web, namespace: shop, generation: 1}\nspec: {replicas: 2}\n", targets.RolloutProgressing, "has not observed generation 1"},
	}
	w := targets.Workload{Template: []string{"spec", "template"}, Roll: targets.Rolled, RolloutRule: targets.DeclaredRollout}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state, detail := w.Rollout(yaml.MustParse(tt.live))
			if state != tt.state || !strings.Contains(detail, tt.detail) || (tt.detail == "" && detail != "") {
				t.Fatalf("got %s (%s), want %s (%s)", state, detail, tt.state, tt.detail)
			}
		})
	}
}
