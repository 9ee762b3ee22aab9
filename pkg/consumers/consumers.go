// Package consumers decides which workloads a rotation's restart rules
// select: by the workload's kind, namespace, name and labels, by its pod
// template's labels and annotations, and by its Namespace's labels and
// annotations, with opt-outs on the pod template. It is the one matcher
// gen (which annotates what it selects, from the Namespace objects of the
// input) and status (which asks the same question of the live Namespaces)
// both use, so the two can never disagree about what a rule means.
//
// A rule's conditions all hold (AND) and rules add up (OR). That is enough
// to write a mesh's own injection rules down exactly; docs/spec.md gives
// Linkerd's and Istio's, and consumers_test.go holds them to each system's
// truth table.
package consumers

import (
	"maps"
	"slices"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/krmio"
	"github.com/carousel-dev/carousel/pkg/spec"
	"github.com/carousel-dev/carousel/pkg/targets"
)

// Workload is what a rule reads of a workload.
type Workload struct {
	Kind, Namespace, Name string
	// Labels are the workload's own labels (a rule's selector).
	Labels map[string]string
	// PodLabels and PodAnnotations are its pod template's: what an
	// injector's webhook sees on each pod the workload creates.
	PodLabels, PodAnnotations map[string]string
}

// Namespace is what a rule reads of a Namespace.
type Namespace struct {
	Labels, Annotations map[string]string
}

// Namespaces finds a namespace by name; ok is false when the source (the
// input's Namespace objects, or the live cluster) does not hold it.
type Namespaces func(name string) (ns Namespace, ok bool)

// Selection is what the rules say of one workload.
type Selection struct {
	// Consumes is what the selecting rules say it consumes, sorted, each once.
	Consumes []string
	// Wave is the lowest wave of the selecting rules (0 when none selects it).
	Wave int
	// Rules are the indices of the selecting rules in spec.restarts.
	Rules []int
	// Unseen are the indices of rules whose namespace conditions could not
	// be evaluated because the source lacks the workload's Namespace. They
	// did not select it; the caller says so.
	Unseen []int
}

// Selected reports whether any rule selects the workload.
func (s Selection) Selected() bool { return len(s.Rules) > 0 }

// Select evaluates every rule on a workload.
func Select(rules []spec.Restart, w Workload, nss Namespaces) Selection {
	var s Selection
	for i, r := range rules {
		switch Match(r, w, nss) {
		case Selected:
			if len(s.Rules) == 0 || r.Wave < s.Wave {
				s.Wave = r.Wave
			}
			s.Rules = append(s.Rules, i)
			s.Consumes = append(s.Consumes, r.Consumes...)
		case Unseen:
			s.Unseen = append(s.Unseen, i)
		}
	}
	slices.Sort(s.Consumes)
	s.Consumes = slices.Compact(s.Consumes)
	return s
}

// Verdict of one rule on one workload.
type Verdict int

const (
	NotSelected Verdict = iota
	Selected
	// Unseen: everything else held, but the rule reads a Namespace the
	// source does not hold.
	Unseen
)

// Match evaluates one rule. The workload's own conditions come first, so a
// rule that could never select it reports NotSelected, not Unseen, whatever
// its Namespace.
func Match(r spec.Restart, w Workload, nss Namespaces) Verdict {
	if r.Kind != "" && r.Kind != w.Kind ||
		r.Namespace != "" && r.Namespace != w.Namespace ||
		r.Name != "" && r.Name != w.Name {
		return NotSelected
	}
	for k, v := range r.Selector {
		if got, ok := w.Labels[k]; !ok || got != v {
			return NotSelected
		}
	}
	if !LabelSelectorMatches(r.PodSelector, w.PodLabels) || !AnnotationsMatch(r.PodAnnotations, w.PodAnnotations) {
		return NotSelected
	}
	if r.OptOut != nil && (anyMatches(r.OptOut.Labels, w.PodLabels) || anyMatches(r.OptOut.Annotations, w.PodAnnotations)) {
		return NotSelected
	}
	if !r.NamespaceConditions() {
		return Selected
	}
	ns, ok := nss(w.Namespace)
	if !ok {
		return Unseen
	}
	if !LabelSelectorMatches(r.NamespaceSelector, ns.Labels) || !AnnotationsMatch(r.NamespaceAnnotations, ns.Annotations) {
		return NotSelected
	}
	return Selected
}

// LabelSelectorMatches evaluates a label selector as the API server does
// for a webhook's namespaceSelector and objectSelector
// (k8s.io/apimachinery/pkg/labels): every matchLabels entry equal; In
// holds when the key is present with one of the values; NotIn when it is
// absent or has none of them; Exists and DoesNotExist on presence alone.
// A nil selector matches everything. Validate has refused malformed
// expressions; an unknown operator matches nothing.
func LabelSelectorMatches(sel *spec.LabelSelector, labels map[string]string) bool {
	if sel == nil {
		return true
	}
	for k, v := range sel.MatchLabels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	for _, e := range sel.MatchExpressions {
		got, ok := labels[e.Key]
		var holds bool
		switch e.Operator {
		case spec.OpIn:
			holds = ok && slices.Contains(e.Values, got)
		case spec.OpNotIn:
			holds = !ok || !slices.Contains(e.Values, got)
		case spec.OpExists:
			holds = ok
		case spec.OpDoesNotExist:
			holds = !ok
		}
		if !holds {
			return false
		}
	}
	return true
}

// AnnotationsMatch reports whether every wanted annotation is present with
// its value, or with any value where the wanted value is "*".
func AnnotationsMatch(want, got map[string]string) bool {
	for k, v := range want {
		g, ok := got[k]
		if !ok || v != spec.AnyValue && g != v {
			return false
		}
	}
	return true
}

// anyMatches reports whether any one entry of want is present in got (an
// opt-out needs only one).
func anyMatches(want, got map[string]string) bool {
	for k, v := range want {
		if g, ok := got[k]; ok && (v == spec.AnyValue || g == v) {
			return true
		}
	}
	return false
}

// WorkloadOf reads a workload from an object of a workload kind of kinds
// (the rotation's registry); ok is false for any other object.
func WorkloadOf(kinds targets.Registry, n *yaml.RNode) (Workload, bool) {
	kind, ok := kinds.Of(n)
	if !ok || kind.Workload == nil {
		return Workload{}, false
	}
	w := Workload{Kind: n.GetKind(), Namespace: n.GetNamespace(), Name: n.GetName(), Labels: n.GetLabels()}
	meta := append(kind.Workload.Template[:len(kind.Workload.Template):len(kind.Workload.Template)], "metadata")
	w.PodLabels = stringMap(n, append(meta, "labels")...)
	w.PodAnnotations = stringMap(n, append(meta, "annotations")...)
	return w, true
}

// NamespaceOf reads a Namespace object.
func NamespaceOf(n *yaml.RNode) Namespace {
	return Namespace{Labels: n.GetLabels(), Annotations: n.GetAnnotations()}
}

// MetadataNameLabel is the label the API server sets on every Namespace to
// its name (Kubernetes 1.22+), so a selector can name namespaces.
const MetadataNameLabel = "kubernetes.io/metadata.name"

// InItems finds namespaces among the Namespace objects of items. Each gets
// the kubernetes.io/metadata.name label the API server will give it, so a
// selector naming namespaces means the same on the input as on the cluster.
func InItems(items []*yaml.RNode) Namespaces {
	m := map[string]Namespace{}
	for _, n := range items {
		if n.GetKind() == targets.Namespace && n.GetApiVersion() == "v1" {
			ns := NamespaceOf(n)
			if _, ok := ns.Labels[MetadataNameLabel]; !ok {
				ns.Labels = maps.Clone(ns.Labels)
				if ns.Labels == nil {
					ns.Labels = map[string]string{}
				}
				ns.Labels[MetadataNameLabel] = n.GetName()
			}
			m[n.GetName()] = ns
		}
	}
	return func(name string) (Namespace, bool) {
		ns, ok := m[name]
		return ns, ok
	}
}

func stringMap(n *yaml.RNode, path ...string) map[string]string {
	out := map[string]string{}
	m := krmio.Get(n, path...)
	if m == nil || m.YNode().Kind != yaml.MappingNode {
		return out
	}
	_ = m.VisitFields(func(f *yaml.MapNode) error {
		out[f.Key.YNode().Value] = f.Value.YNode().Value
		return nil
	})
	return out
}
