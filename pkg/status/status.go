package status

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/spec"
	"github.com/carousel-dev/carousel/pkg/targets"
)

// Evaluate compares the rendered phase with the live cluster at now (the
// clock of rules that wait out a lifetime: spec.workloadCertificates).
func Evaluate(ctx context.Context, client dynamic.Interface, rot *spec.CARotation, out gen.Output, now time.Time) (*Report, error) {
	r, _, err := evaluate(ctx, client, rot, out, now)
	return r, err
}

// evaluate is Evaluate, also returning what it read of the cluster.
func evaluate(ctx context.Context, client dynamic.Interface, rot *spec.CARotation, out gen.Output, now time.Time) (*Report, *snapshot, error) {
	// A step other than the phase's first is named with it (phase/step).
	r := &Report{Rotation: rot.Metadata.Name, Phase: gen.PhaseName(rot), Objects: []ObjectStatus{}, Workloads: []WorkloadStatus{},
		Scope: rot.Spec.Scope, PhaseSince: rot.Spec.PhaseSince.Value(), Certificates: out.Certificates}
	known := knownFingerprints(out)
	live, err := readLive(ctx, client, rot, out)
	if err != nil {
		return nil, nil, err
	}
	for _, m := range out.Managed {
		r.Objects = append(r.Objects, objectStatus(live, m.Object, known))
	}
	for _, p := range rot.Spec.Probes {
		r.Objects = append(r.Objects, ProbeStatus(ctx, p, out.Signer, out.Leaves[p.Leaf], out.Cross, out.State.Cross, out.KnownLeaves))
	}
	findings, err := liveSelection(liveNamespace(ctx, client), rot, out)
	if err != nil {
		return nil, nil, err
	}
	finding := map[string]selectionFinding{}
	for _, f := range findings {
		finding[f.kind+"/"+f.namespace+"/"+f.name] = f
	}
	for _, w := range out.Restarts {
		st, err := workloadStatus(live, rot, w)
		if err != nil {
			return nil, nil, err
		}
		if f, ok := finding[w.Kind+"/"+w.Namespace+"/"+w.Name]; ok {
			delete(finding, w.Kind+"/"+w.Namespace+"/"+w.Name)
			if st.State == Converged || f.state == Blocked {
				st.State = f.state
			}
			st.Detail = strings.TrimPrefix(st.Detail+"; "+f.detail, "; ")
		}
		r.Workloads = append(r.Workloads, st)
	}
	// Workloads the phase does not roll that the live Namespaces select.
	for _, f := range findings {
		if _, ok := finding[f.kind+"/"+f.namespace+"/"+f.name]; ok {
			r.Workloads = append(r.Workloads, WorkloadStatus{Kind: f.kind, Namespace: f.namespace, Name: f.name, State: f.state, Detail: f.detail})
		}
	}
	r.Verdict = Converged
	for _, o := range r.Objects {
		r.fold(o.State, fmt.Sprintf("%s %s: %s", o.Kind, nsName(o.Namespace, o.Name), o.Detail))
	}
	for _, w := range r.Workloads {
		r.fold(w.State, fmt.Sprintf("%s %s: %s", w.Kind, nsName(w.Namespace, w.Name), w.Detail))
	}
	workloadCertificates(r, live, rot, out, now)
	if r.Reasons == nil {
		r.Reasons = []string{}
	}
	return r, live, nil
}

// readLive reads, in paginated lists, every object the phase manages,
// every workload it rolls, and the pods of those workloads' namespaces.
func readLive(ctx context.Context, client dynamic.Interface, rot *spec.CARotation, out gen.Output) (*snapshot, error) {
	var wanted []objectID
	compared := map[string]bool{}
	for _, m := range out.Managed {
		id := objectID{m.Object.GetKind(), m.Object.GetNamespace(), m.Object.GetName()}
		wanted = append(wanted, id)
		compared[id.key()] = true
	}
	podNS := map[string]bool{}
	for _, w := range out.Restarts {
		wanted = append(wanted, objectID{w.Kind, w.Namespace, w.Name})
		if k, ok := rot.Spec.Kinds().Lookup(w.Kind); ok && k.Workload != nil && k.Workload.Roll != targets.NextRun {
			podNS[w.Namespace] = true
		}
	}
	return read(ctx, client, rot.Spec.Kinds(), wanted, compared, sortedKeys(podNS), gen.RestartAnnotation(rot.Metadata.Name))
}

func objectStatus(s *snapshot, want *yaml.RNode, known map[string]bool) ObjectStatus {
	st := ObjectStatus{Kind: want.GetKind(), Namespace: want.GetNamespace(), Name: want.GetName(), State: Converged}
	live := s.object(st.Kind, st.Namespace, st.Name)
	if live == nil {
		st.State, st.Detail = Progressing, "not in the cluster yet: the phase is not applied"
		return st
	}
	wantSets, liveSets := certSets(want), certSets(live)
	var paths []string
	for p := range wantSets {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		got := liveSets[p]
		if slices.Equal(got, wantSets[p]) {
			continue
		}
		for _, fp := range got {
			if !known[fp] {
				st.State = Blocked
				st.Detail = fmt.Sprintf("%s holds a certificate (sha256 %s) that is not this rotation's: another tool manages it", p, fp[:16])
				return st
			}
		}
		st.State = Progressing
		st.Detail = fmt.Sprintf("%s holds %d certificate(s) %s, the phase has %d %s", p, len(got), short(got), len(wantSets[p]), short(wantSets[p]))
		return st
	}
	return st
}

func workloadStatus(s *snapshot, rot *spec.CARotation, w gen.Restart) (WorkloadStatus, error) {
	st := WorkloadStatus{Kind: w.Kind, Namespace: w.Namespace, Name: w.Name, Want: w.Hash, State: Converged}
	live := s.object(w.Kind, w.Namespace, w.Name)
	if live == nil {
		st.State, st.Detail = Progressing, "not in the cluster yet"
		return st, nil
	}
	key := gen.RestartAnnotation(rot.Metadata.Name)
	kind, ok := rot.Spec.Kinds().Lookup(w.Kind)
	if !ok || kind.Workload == nil {
		return st, fmt.Errorf("status does not know the workload kind %s: add it to pkg/targets", w.Kind)
	}
	v, _ := live.Pipe(yaml.Lookup(append(kind.Workload.Annotations(), key)...))
	st.Live = yaml.GetValue(v)
	if st.Live != w.Hash {
		st.State, st.Detail = Progressing, "its pod template does not carry this phase yet (not applied)"
		return st, nil
	}
	if kind.Workload.Roll == targets.NextRun {
		return st, nil // its next run starts pods of the new template: no rollout to wait for
	}
	// The kind's rollout rule (pkg/targets/rollout.go): kubectl rollout
	// status's rules and the counters they leave out.
	switch state, detail := kind.Workload.Rollout(live); state {
	case targets.RolloutProgressing:
		st.State, st.Detail = Progressing, detail
	case targets.RolloutStuck:
		st.State, st.Detail = Blocked, detail
	}
	// A stuck rollout still lists its pods: the stale ones are those
	// running the old template while it is stuck.
	pods := workloadPods(s, live, kind, w.Hash)
	st.StalePods, st.TerminatingPods = pods.stale, pods.terminating
	if st.State != Converged {
		return st, nil
	}
	switch {
	case len(pods.terminating) > 0:
		st.State, st.Detail = Progressing, fmt.Sprintf("%d pod(s) of an earlier rollout still terminating: the rolling update has not finished, and the next phase must not swap certificates under it", len(pods.terminating))
	case len(pods.stale) > 0:
		st.State, st.Detail = Progressing, fmt.Sprintf("%d pod(s) still run an older template", len(pods.stale))
	}
	return st, nil
}

// podResource is where the API serves pods, for listing a workload's pods.
var podResource = func() schema.GroupVersionResource {
	k, _ := targets.Builtin().Lookup(targets.Pod)
	return k.Resource
}()

// podSet is what the pods a workload selects say about its rollout.
type podSet struct {
	// stale are pods whose template annotation is not the phase's: pods of
	// an older template still running.
	stale []string
	// terminating are pods being deleted (deletionTimestamp set). The
	// controllers' counters leave them out (a Deployment's status.replicas,
	// a DaemonSet's numbers), yet they still run and still speak TLS with
	// what they hold, for up to their grace period: NeuVector's enforcer has
	// 1200 s, its controller 300 s.
	terminating []string
}

// workloadPods sorts out, among the pods read that the workload selects
// (podLabelsOf), the stale and the terminating ones.
func workloadPods(s *snapshot, live *yaml.RNode, kind targets.Kind, hash string) podSet {
	var set podSet
	for _, p := range s.podsMatching(live.GetNamespace(), podLabelsOf(live, kind)) {
		if p.terminating {
			set.terminating = append(set.terminating, p.name)
		}
		if p.hash != hash {
			set.stale = append(set.stale, p.name)
		}
	}
	// A list restarted after an expired page sees pods twice.
	slices.Sort(set.stale)
	slices.Sort(set.terminating)
	set.stale, set.terminating = slices.Compact(set.stale), slices.Compact(set.terminating)
	return set
}
