package status

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/targets"
)

// pageSize bounds one list response. A gate over 10,000 workloads reads the
// cluster a page at a time, so neither the API server nor carousel holds a
// whole kind in one response.
const pageSize = 500

// perNamespaceMax is how many namespaces a kind's wanted objects may span
// before status lists the kind cluster-wide instead of namespace by
// namespace: a few namespaces are read where they are (and a user with
// namespaced rights only can run the gate), many are one paginated list.
const perNamespaceMax = 16

// snapshot is what status read from the cluster: the wanted objects only,
// found by paginated lists (a list per kind and namespace, or per kind), never
// by one GET per object; a gate over 10,000 workloads costs tens of requests,
// not tens of thousands.
type snapshot struct {
	objects map[string]*yaml.RNode // kind/namespace/name
	// pods per namespace, only what the stale-pod check reads.
	pods map[string][]podRecord
	// podIndex: namespace, then label key=value, to the pods carrying it, so
	// matching 10,000 selectors does not scan every pod each time.
	podIndex map[string]map[string][]int
}

type podRecord struct {
	name   string
	labels labels.Set
	hash   string // the value of the rotation's restart annotation
	// terminating: the pod is being deleted (deletionTimestamp set). The
	// controllers' counters leave such pods out, yet they still run and
	// still speak TLS with what they hold, for up to their grace period.
	terminating bool
	// created is the pod's creationTimestamp: a pod reads the Secrets and
	// ConfigMaps it mounts when it starts, after it is created.
	created time.Time
}

type objectID struct{ kind, namespace, name string }

func (id objectID) key() string { return id.kind + "/" + id.namespace + "/" + id.name }

// read lists every kind of the wanted objects and keeps those wanted; it
// then lists the pods of podNamespaces, keeping for each its name, labels
// and the restart annotation podKey. compared holds the keys of the objects
// whose content status compares (the managed ones): they are kept whole.
func read(ctx context.Context, client dynamic.Interface, kinds targets.Registry, wanted []objectID, compared map[string]bool, podNamespaces []string, podKey string) (*snapshot, error) {
	s := &snapshot{objects: map[string]*yaml.RNode{}, pods: map[string][]podRecord{}, podIndex: map[string]map[string][]int{}}
	byKind := map[string]map[string]bool{} // kind -> namespaces ("" for cluster-scoped)
	want := map[string]bool{}
	for _, id := range wanted {
		if byKind[id.kind] == nil {
			byKind[id.kind] = map[string]bool{}
		}
		byKind[id.kind][id.namespace] = true
		want[id.key()] = true
	}
	for _, kind := range sortedKeys(byKind) {
		k, ok := kinds.Lookup(kind)
		if !ok {
			return nil, fmt.Errorf("status does not know the kind %s: add it to pkg/targets", kind)
		}
		err := listIn(ctx, dynamicPages(client, k.Resource), kind, sortedKeys(byKind[kind]), func(o metav1.Object) error {
			id := objectID{kind, o.GetNamespace(), o.GetName()}
			if !want[id.key()] {
				return nil
			}
			u := o.(*unstructured.Unstructured)
			// Never compared: what the API server records of who wrote
			// which field, and a workload's pod spec (status reads its
			// template's annotations, its counts and its selector). At
			// 10,000 workloads they are most of what the snapshot holds.
			unstructured.RemoveNestedField(u.Object, "metadata", "managedFields")
			if k.Workload != nil && len(k.Workload.Template) > 0 && !compared[id.key()] {
				unstructured.RemoveNestedField(u.Object, append(slices.Clone(k.Workload.Template), "spec")...)
			}
			n, err := toRNode(u)
			if err != nil {
				return fmt.Errorf("reading %s %s: %w", kind, nsName(id.namespace, id.name), err)
			}
			s.objects[id.key()] = n
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if len(podNamespaces) > 0 {
		// Pods are read as metadata only where the client allows it
		// (Clients): names, labels and annotations are all the stale-pod
		// check reads, and a pod's spec and status are most of its bytes.
		var pages pager = dynamicPages(client, podResource)
		if m, ok := client.(Clients); ok && m.Metadata != nil {
			pages = metadataPages(m.Metadata, podResource)
		}
		err := listIn(ctx, pages, targets.Pod, podNamespaces, func(o metav1.Object) error {
			ns := o.GetNamespace()
			i := len(s.pods[ns])
			s.pods[ns] = append(s.pods[ns], podRecord{name: o.GetName(), labels: labels.Set(o.GetLabels()), hash: o.GetAnnotations()[podKey], terminating: o.GetDeletionTimestamp() != nil, created: o.GetCreationTimestamp().Time})
			idx := s.podIndex[ns]
			if idx == nil {
				idx = map[string][]int{}
				s.podIndex[ns] = idx
			}
			for k, v := range o.GetLabels() {
				idx[k+"="+v] = append(idx[k+"="+v], i)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Clients is a dynamic client with a metadata-only client beside it, for
// Evaluate: with Metadata set, status lists pods as metadata only (at
// 10,000 pods, a fraction of the bytes and allocations of whole pods).
type Clients struct {
	dynamic.Interface
	Metadata metadata.Interface
}

// pager lists one page of a resource, cluster-wide (ns "") or in a namespace.
type pager func(ctx context.Context, ns string, opts metav1.ListOptions) (items []metav1.Object, next string, err error)

func dynamicPages(client dynamic.Interface, gvr schema.GroupVersionResource) pager {
	return func(ctx context.Context, ns string, opts metav1.ListOptions) ([]metav1.Object, string, error) {
		var r dynamic.ResourceInterface = client.Resource(gvr)
		if ns != "" {
			r = client.Resource(gvr).Namespace(ns)
		}
		list, err := r.List(ctx, opts)
		if err != nil {
			return nil, "", err
		}
		out := make([]metav1.Object, len(list.Items))
		for i := range list.Items {
			out[i] = &list.Items[i]
		}
		return out, list.GetContinue(), nil
	}
}

func metadataPages(client metadata.Interface, gvr schema.GroupVersionResource) pager {
	return func(ctx context.Context, ns string, opts metav1.ListOptions) ([]metav1.Object, string, error) {
		var r metadata.ResourceInterface = client.Resource(gvr)
		if ns != "" {
			r = client.Resource(gvr).Namespace(ns)
		}
		list, err := r.List(ctx, opts)
		if err != nil {
			return nil, "", err
		}
		out := make([]metav1.Object, len(list.Items))
		for i := range list.Items {
			out[i] = &list.Items[i]
		}
		return out, list.GetContinue(), nil
	}
}

// object returns the live object, or nil when the cluster has none.
func (s *snapshot) object(kind, ns, name string) *yaml.RNode {
	return s.objects[objectID{kind, ns, name}.key()]
}

// podsMatching returns the pods of ns whose labels match every pair of
// matchLabels, through the index of its first pair (in key order).
func (s *snapshot) podsMatching(ns string, matchLabels map[string]string) []podRecord {
	if len(matchLabels) == 0 {
		return nil
	}
	keys := sortedKeys(matchLabels)
	sel := labels.SelectorFromSet(matchLabels)
	var out []podRecord
	for _, i := range s.podIndex[ns][keys[0]+"="+matchLabels[keys[0]]] {
		if p := s.pods[ns][i]; sel.Matches(p.labels) {
			out = append(out, p)
		}
	}
	return out
}

// listIn lists a resource a page at a time: namespace by namespace when
// there are at most perNamespaceMax of them, otherwise cluster-wide
// (falling back to namespace by namespace when the cluster-wide list is
// forbidden). namespaces holding only "" means a cluster-scoped kind.
func listIn(ctx context.Context, pages pager, kind string, namespaces []string, each func(metav1.Object) error) error {
	if len(namespaces) == 1 && namespaces[0] == "" {
		return listPages(ctx, pages, kind, "", each)
	}
	if len(namespaces) > perNamespaceMax {
		err := listPages(ctx, pages, kind, "", each)
		if !apierrors.IsForbidden(err) {
			return err
		}
	}
	for _, ns := range namespaces {
		if err := listPages(ctx, pages, kind, ns, each); err != nil {
			return err
		}
	}
	return nil
}

// listPages follows the continue token of a paginated list. If the token
// expires (the server compacted past it, on a large and busy cluster), the
// list starts again in one request, as client-go's pager does; the objects
// of the pages already read are seen again, which each callback tolerates
// (it keys what it keeps by name).
func listPages(ctx context.Context, pages pager, kind, ns string, each func(metav1.Object) error) error {
	where := "cluster-wide"
	if ns != "" {
		where = "in namespace " + ns
	}
	opts := metav1.ListOptions{Limit: pageSize}
	for {
		items, next, err := pages(ctx, ns, opts)
		if apierrors.IsResourceExpired(err) && opts.Continue != "" {
			opts = metav1.ListOptions{}
			continue
		}
		if err != nil {
			return fmt.Errorf("listing %s %s: %w", kind, where, err)
		}
		for _, o := range items {
			if err := each(o); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		opts.Continue = next
	}
}

// toRNode converts a listed object to the YAML node the comparisons read,
// building the node tree from the decoded JSON values directly: going
// through a YAML encoder and parser (kyaml's ConvertJSONToYamlNode) cost
// two thirds of the gate's allocations at 10,000 workloads
// (docs/performance.md). Mapping keys are sorted, as that encoder sorts them.
func toRNode(u *unstructured.Unstructured) (*yaml.RNode, error) {
	n, err := nodeOf(u.Object)
	if err != nil {
		return nil, err
	}
	return yaml.NewRNode(n), nil
}

func nodeOf(v any) (*yaml.Node, error) {
	switch v := v.(type) {
	case map[string]any:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: yaml.NodeTagMap, Content: make([]*yaml.Node, 0, 2*len(v))}
		for _, k := range sortedKeys(v) {
			val, err := nodeOf(v[k])
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: yaml.NodeTagString, Value: k}, val)
		}
		return n, nil
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: yaml.NodeTagSeq, Content: make([]*yaml.Node, 0, len(v))}
		for _, e := range v {
			val, err := nodeOf(e)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, val)
		}
		return n, nil
	case string:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: yaml.NodeTagString, Value: v}, nil
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: yaml.NodeTagBool, Value: strconv.FormatBool(v)}, nil
	case int64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: yaml.NodeTagInt, Value: strconv.FormatInt(v, 10)}, nil
	case float64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: yaml.NodeTagFloat, Value: strconv.FormatFloat(v, 'g', -1, 64)}, nil
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: yaml.NodeTagNull, Value: "null"}, nil
	default:
		return nil, fmt.Errorf("unexpected %T in a decoded object", v)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// matchLabelsOf returns a live workload's spec.selector.matchLabels.
func matchLabelsOf(live *yaml.RNode) map[string]string {
	sel, _ := live.Pipe(yaml.Lookup("spec", "selector", "matchLabels"))
	return stringMap(sel)
}

// podLabelsOf is the labels that select a workload's pods: its selector's
// matchLabels, as every apps kind (and Argo Rollouts', OpenKruise's) has;
// for a declared kind without one, the labels of its pod template, which
// every pod it runs carries. Nil (no pod is selected) when it has neither:
// status then finds no stale pod, and the kind's rollout rule decides.
func podLabelsOf(live *yaml.RNode, kind targets.Kind) map[string]string {
	if m := matchLabelsOf(live); len(m) > 0 || kind.Workload == nil || len(kind.Workload.Template) == 0 {
		return m
	}
	tl, _ := live.Pipe(yaml.Lookup(append(slices.Clone(kind.Workload.Template), "metadata", "labels")...))
	return stringMap(tl)
}

func stringMap(sel *yaml.RNode) map[string]string {
	if sel == nil {
		return nil
	}
	out := map[string]string{}
	_ = sel.VisitFields(func(f *yaml.MapNode) error {
		out[f.Key.YNode().Value] = f.Value.YNode().Value
		return nil
	})
	return out
}
