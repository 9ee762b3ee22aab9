package targets

import (
	"fmt"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// RolloutState is what a workload's controller reports of its rollout.
type RolloutState int

const (
	// RolloutDone: every replica runs the current template and is available.
	RolloutDone RolloutState = iota
	// RolloutProgressing: the controller is still replacing pods.
	RolloutProgressing
	// RolloutStuck: waiting will not finish it (a deadline exceeded, an
	// aborted canary); a person must fix or roll back the workload.
	RolloutStuck
)

// RolloutRule reads a live object of one workload kind and says whether
// its controller finished rolling out its current template, and if not,
// what it reports.
type RolloutRule func(live *yaml.RNode) (RolloutState, string)

// Rollout says whether the controller of live (an object of this kind)
// finished rolling out its current template, with `kubectl rollout
// status`'s rules (which NeuVector's certificate upgrader waits on before it
// touches the internal certificate) and the counters they leave out: a
// rollout is done when the controller observed the current generation,
// every replica (every scheduled node) runs the current template and is
// available, and no replica of an older template is left, surged,
// unavailable, misscheduled or terminating. The seed's rule is "never swap
// certificates during a rolling update": a workload that holds the
// rotation's material mid-rollout, for the rotation's reason or any other
// (a helm upgrade), holds the gate, so the next phase never lands on a mix
// of templates. A missing counter reads 0, as the API omits zeros.
func (w Workload) Rollout(live *yaml.RNode) (RolloutState, string) {
	generation, observed := counter(live, "metadata", "generation"), counter(live, "status", "observedGeneration")
	if observed < generation {
		return RolloutProgressing, fmt.Sprintf("the controller has not observed generation %d yet (observed %d)", generation, observed)
	}
	if w.RolloutRule == nil {
		return RolloutDone, ""
	}
	return w.RolloutRule(live)
}

// counter reads an integer field; a missing one reads 0. Argo Rollouts
// writes observedGeneration as a string, which reads the same.
func counter(live *yaml.RNode, path ...string) int64 {
	n, _ := live.Pipe(yaml.Lookup(path...))
	var i int64
	if n != nil {
		fmt.Sscan(yaml.GetValue(n), &i)
	}
	return i
}

// field reads a string field; a missing one reads "".
func field(live *yaml.RNode, path ...string) string {
	n, _ := live.Pipe(yaml.Lookup(path...))
	if n == nil {
		return ""
	}
	return yaml.GetValue(n)
}

func deploymentRollout(live *yaml.RNode) (RolloutState, string) {
	if field(live, "status", "conditions", "[type=Progressing]", "reason") == "ProgressDeadlineExceeded" {
		return RolloutStuck, "the rollout exceeded its progress deadline: fix the workload, or roll back"
	}
	want := counter(live, "spec", "replicas")
	u, a, total := counter(live, "status", "updatedReplicas"), counter(live, "status", "availableReplicas"), counter(live, "status", "replicas")
	unavailable, terminating := counter(live, "status", "unavailableReplicas"), counter(live, "status", "terminatingReplicas")
	switch {
	case u < want || a < want || total > want || total > u || a < u:
		return RolloutProgressing, fmt.Sprintf("%d/%d updated, %d available, %d total", u, want, a, total)
	case unavailable > 0:
		return RolloutProgressing, fmt.Sprintf("%d replica(s) unavailable", unavailable)
	case terminating > 0:
		return RolloutProgressing, fmt.Sprintf("%d replica(s) of an older template still terminating", terminating)
	}
	return RolloutDone, ""
}

func statefulSetRollout(live *yaml.RNode) (RolloutState, string) {
	want := counter(live, "spec", "replicas")
	cur, upd := field(live, "status", "currentRevision"), field(live, "status", "updateRevision")
	if u, rd := counter(live, "status", "updatedReplicas"), counter(live, "status", "readyReplicas"); u < want || rd < want || cur != upd {
		return RolloutProgressing, fmt.Sprintf("%d/%d updated, %d ready, revision %s of %s", u, want, rd, cur, upd)
	}
	return RolloutDone, ""
}

func daemonSetRollout(live *yaml.RNode) (RolloutState, string) {
	want := counter(live, "status", "desiredNumberScheduled")
	u, a, cur := counter(live, "status", "updatedNumberScheduled"), counter(live, "status", "numberAvailable"), counter(live, "status", "currentNumberScheduled")
	unavailable, mis := counter(live, "status", "numberUnavailable"), counter(live, "status", "numberMisscheduled")
	switch {
	case u < want || a < want || cur < want:
		return RolloutProgressing, fmt.Sprintf("%d/%d updated, %d available, %d scheduled", u, want, a, cur)
	case unavailable > 0:
		return RolloutProgressing, fmt.Sprintf("%d node(s) without an available pod (numberUnavailable)", unavailable)
	case mis > 0:
		return RolloutProgressing, fmt.Sprintf("%d pod(s) on nodes that should not run it (numberMisscheduled)", mis)
	}
	return RolloutDone, ""
}

// argoRollout is Argo Rollouts' own health rule (its Argo CD health
// check): a canary paused at a step or a blue-green preview not yet
// promoted runs two templates, and is not done until the new one is stable.
func argoRollout(live *yaml.RNode) (RolloutState, string) {
	want := counter(live, "spec", "replicas")
	phase := field(live, "status", "phase")
	cur, stable := field(live, "status", "currentPodHash"), field(live, "status", "stableRS")
	u, a := counter(live, "status", "updatedReplicas"), counter(live, "status", "availableReplicas")
	switch {
	case phase == "Degraded":
		return RolloutStuck, "the rollout is Degraded (aborted, or its analysis failed): fix it, or roll back"
	case phase == "Paused":
		return RolloutProgressing, "the rollout is paused at a step: promote it (kubectl argo rollouts promote) or abort it"
	case phase != "Healthy" || cur == "" || cur != stable:
		return RolloutProgressing, fmt.Sprintf("phase %q, stable ReplicaSet %q of current %q", phase, stable, cur)
	case u < want || a < want:
		return RolloutProgressing, fmt.Sprintf("%d/%d updated, %d available", u, want, a)
	}
	return RolloutDone, ""
}

// DeclaredRollout is the rule of a workload kind a spec declares
// (spec.workloadKinds): carousel knows nothing of its controller but the
// conventions most controllers follow, the ones kstatus (Flux, kpt) reads:
// a Ready or Available condition, and the replica counters of the apps
// kinds (replicas, updatedReplicas, readyReplicas, availableReplicas, or
// OpenKruise's updatedReadyReplicas). It fails closed: a kind that reports
// neither a ready counter nor a Ready/Available condition cannot be seen to
// be done, so it is stuck, with what to do; status also holds every pod of
// it that does not run the current template (the pods its selector or
// template labels select).
func DeclaredRollout(live *yaml.RNode) (RolloutState, string) {
	conditionTrue := false
	for _, c := range []string{"Ready", "Available"} {
		switch field(live, "status", "conditions", "[type="+c+"]", "status") {
		case "False", "Unknown":
			return RolloutProgressing, fmt.Sprintf("condition %s is not True: %s", c, field(live, "status", "conditions", "[type="+c+"]", "message"))
		case "True":
			conditionTrue = true
		}
	}
	want := counter(live, "spec", "replicas")
	var ready []string
	for _, f := range []string{"updatedReadyReplicas", "readyReplicas", "availableReplicas"} {
		if n, _ := live.Pipe(yaml.Lookup("status", f)); n != nil {
			ready = append(ready, f)
		}
	}
	if len(ready) == 0 && !conditionTrue {
		return RolloutStuck, "its status has no ready counter (readyReplicas, availableReplicas, updatedReadyReplicas) and no True Ready or Available condition, so carousel cannot tell its pods are ready: check it by hand and override the gate (advance --force), or ask its controller's authors for kstatus conventions"
	}
	for _, f := range append([]string{"updatedReplicas"}, ready...) {
		if n, _ := live.Pipe(yaml.Lookup("status", f)); n != nil && counter(live, "status", f) < want {
			return RolloutProgressing, fmt.Sprintf("%s %d of %d", f, counter(live, "status", f), want)
		}
	}
	if total := counter(live, "status", "replicas"); total > want && want > 0 {
		return RolloutProgressing, fmt.Sprintf("%d replicas for %d wanted: replicas of an older template are left", total, want)
	}
	return RolloutDone, ""
}

func (s RolloutState) String() string {
	switch s {
	case RolloutProgressing:
		return "progressing"
	case RolloutStuck:
		return "stuck"
	}
	return "done"
}
