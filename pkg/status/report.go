package status

import (
	"fmt"
	"time"

	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/phases"
)

// Why this file: the report is what status says, apart from how it is
// reached (status.go evaluates, certs.go reads certificates, live.go reads
// the cluster; each workload kind's rollout rule is in pkg/targets).

// Verdict of a status check.
type Verdict string

const (
	Converged   Verdict = "converged"
	Progressing Verdict = "progressing"
	Blocked     Verdict = "blocked"
)

// Report is what `carousel status` prints (and its JSON; docs/status.md).
type Report struct {
	Rotation  string           `json:"rotation"`
	Phase     string           `json:"phase"`
	Verdict   Verdict          `json:"verdict"`
	Reasons   []string         `json:"reasons"`
	Objects   []ObjectStatus   `json:"objects"`
	Workloads []WorkloadStatus `json:"workloads"`

	// For the metrics (Metrics), not in the JSON (docs/status.schema.json):
	// the scope, whose phases the phase metric lists; when the phase began
	// (spec.phaseSince; zero when not recorded); the certificates the
	// phase uses.
	Scope        phases.Scope      `json:"-"`
	PhaseSince   time.Time         `json:"-"`
	Certificates []gen.Certificate `json:"-"`
}

// ObjectStatus is one managed object: present, holding the phase's certificates.
type ObjectStatus struct {
	Kind      string  `json:"kind"`
	Namespace string  `json:"namespace,omitempty"`
	Name      string  `json:"name"`
	State     Verdict `json:"state"`
	Detail    string  `json:"detail,omitempty"`
}

// WorkloadStatus is one workload the phase rolls.
type WorkloadStatus struct {
	Kind      string   `json:"kind"`
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	State     Verdict  `json:"state"`
	Detail    string   `json:"detail,omitempty"`
	Want      string   `json:"wantHash"`
	Live      string   `json:"liveHash,omitempty"`
	StalePods []string `json:"stalePods,omitempty"`
	// TerminatingPods are the workload's pods being deleted: a rollout is
	// not over while they run.
	TerminatingPods []string `json:"terminatingPods,omitempty"`
}

func (r *Report) fold(s Verdict, reason string) {
	switch s {
	case Blocked:
		r.Verdict = Blocked
		r.Reasons = append(r.Reasons, reason)
	case Progressing:
		if r.Verdict != Blocked {
			r.Verdict = Progressing
		}
		r.Reasons = append(r.Reasons, reason)
	}
}

func nsName(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

// Filter keeps only the objects and workloads of one namespace (and
// cluster-scoped objects), recomputing the verdict.
func (r *Report) Filter(namespace string) {
	if namespace == "" {
		return
	}
	var objs []ObjectStatus
	for _, o := range r.Objects {
		if o.Namespace == "" || o.Namespace == namespace {
			objs = append(objs, o)
		}
	}
	var ws []WorkloadStatus
	for _, w := range r.Workloads {
		if w.Namespace == namespace {
			ws = append(ws, w)
		}
	}
	r.Objects, r.Workloads, r.Reasons, r.Verdict = objs, ws, []string{}, Converged
	if r.Objects == nil {
		r.Objects = []ObjectStatus{}
	}
	if r.Workloads == nil {
		r.Workloads = []WorkloadStatus{}
	}
	for _, o := range r.Objects {
		r.fold(o.State, fmt.Sprintf("%s %s: %s", o.Kind, nsName(o.Namespace, o.Name), o.Detail))
	}
	for _, w := range r.Workloads {
		r.fold(w.State, fmt.Sprintf("%s %s: %s", w.Kind, nsName(w.Namespace, w.Name), w.Detail))
	}
}
