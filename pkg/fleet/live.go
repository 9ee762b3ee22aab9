package fleet

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/spec"
	"github.com/carousel-dev/carousel/pkg/targets"
)

// The labels and annotation GitOps controllers put on what they apply,
// from which a consumer object's application is named.
const (
	ArgoTrackingID    = "argocd.argoproj.io/tracking-id"
	AppInstance       = "app.kubernetes.io/instance"
	FluxName          = "kustomize.toolkit.fluxcd.io/name"
	FluxNamespace     = "kustomize.toolkit.fluxcd.io/namespace"
	unknownConsumerID = "(no application label)"
)

// AppOf names the application that applied an object: the Argo CD
// Application of its tracking id (annotation tracking) or instance label
// (label tracking), or the Flux Kustomization of its labels, as
// <namespace>/<name>. "" when none says.
func AppOf(u *unstructured.Unstructured) string {
	if id := u.GetAnnotations()[ArgoTrackingID]; id != "" {
		app, _, _ := strings.Cut(id, ":")
		// Applications in any namespace are tracked as <namespace>_<name>.
		return strings.Replace(app, "_", "/", 1)
	}
	l := u.GetLabels()
	if n := l[FluxName]; n != "" {
		return l[FluxNamespace] + "/" + n
	}
	return l[AppInstance]
}

// Consumer is what the cluster says of one consumer application.
type Consumer struct {
	App string `json:"app"`
	// Phases maps each phase the application's objects report to the
	// objects reporting it (kind namespace/name), sorted.
	Phases map[string][]string `json:"phases"`
}

// Lag is a consumer that has not rendered the owner's phase.
type Lag struct {
	App    string
	Reason string
}

// kinds that may carry the marker: workloads and caBundle holders are
// listed whole (the marker is an annotation, which no selector reads);
// bundles carry the rotation label and are listed by it.
func markerResources(kinds targets.Registry) (all, labelled []schema.GroupVersionResource) {
	for _, k := range kinds.All() {
		switch {
		case k.Workload != nil && k.Workload.Roll != targets.NotRolled, k.CABundle != nil:
			all = append(all, k.Resource)
		case k.Name == targets.ConfigMap, k.Name == targets.Secret:
			labelled = append(labelled, k.Resource)
		}
	}
	return all, labelled
}

// Scan is what the cluster says of a rotation's consumers.
type Scan struct {
	Consumers []Consumer
	// Unmarked lists workloads (kind namespace/name) whose pods read one of
	// the rotation's bundles but that carry no marker and are not the
	// owner's: no package rolls them, so they keep the old trust.
	Unmarked []string
}

// Consumers finds every object of the cluster carrying the rotation's
// marker and groups them by application, and the workloads reading the
// rotation's bundles without one (owned says which workloads the owner's
// own package rolls; nil: none). kinds is the rotation's registry
// (spec.Kinds(): the built-in kinds and those spec.workloadKinds
// declares), so a declared kind's consumers are found too. Lists are
// paginated; no object is fetched one by one.
func Consumers(ctx context.Context, client dynamic.Interface, rotation string, kinds targets.Registry, owned func(kind, namespace, name string) bool) (*Scan, error) {
	key := gen.MarkerAnnotation(rotation)
	byApp := map[string]map[string][]string{}
	mark := func(u *unstructured.Unstructured) bool {
		phase, ok := u.GetAnnotations()[key]
		if !ok {
			return false
		}
		app := AppOf(u)
		if app == "" {
			app = unknownConsumerID
		}
		if byApp[app] == nil {
			byApp[app] = map[string][]string{}
		}
		obj := u.GetKind() + " " + u.GetNamespace() + "/" + u.GetName()
		if u.GetNamespace() == "" {
			obj = u.GetKind() + " " + u.GetName()
		}
		byApp[app][phase] = append(byApp[app][phase], obj)
		return true
	}
	all, labelled := markerResources(kinds)
	bundles := map[string]bool{} // kind/namespace/name of the rotation's bundles
	for _, r := range labelled {
		err := list(ctx, client, r, material.LabelRotation+"="+rotation, func(u *unstructured.Unstructured) {
			mark(u)
			bundles[u.GetKind()+"/"+u.GetNamespace()+"/"+u.GetName()] = true
		})
		if err != nil {
			return nil, err
		}
	}
	var unmarked []string
	for _, r := range all {
		err := list(ctx, client, r, "", func(u *unstructured.Unstructured) {
			if mark(u) {
				return
			}
			k, ok := kinds.Lookup(u.GetKind())
			if !ok || k.Workload == nil || (owned != nil && owned(u.GetKind(), u.GetNamespace(), u.GetName())) {
				return
			}
			if uses := readsBundle(u, k, bundles); uses != "" {
				unmarked = append(unmarked, fmt.Sprintf("%s %s/%s reads %s", u.GetKind(), u.GetNamespace(), u.GetName(), uses))
			}
		})
		if err != nil {
			return nil, err
		}
	}
	out := &Scan{Unmarked: unmarked}
	for _, app := range slices.Sorted(maps.Keys(byApp)) {
		for _, objs := range byApp[app] {
			slices.Sort(objs)
		}
		out.Consumers = append(out.Consumers, Consumer{App: app, Phases: byApp[app]})
	}
	slices.Sort(out.Unmarked)
	return out, nil
}

// readsBundle names the first of the rotation's bundles a workload's pods
// read, or "".
func readsBundle(u *unstructured.Unstructured, k targets.Kind, bundles map[string]bool) string {
	if len(bundles) == 0 {
		return ""
	}
	n, err := yaml.FromMap(u.Object)
	if err != nil {
		return ""
	}
	podSpec, _ := n.Pipe(yaml.Lookup(k.Workload.PodSpec()...))
	if podSpec == nil {
		return ""
	}
	for _, ref := range gen.PodReads(podSpec) {
		kind, name, _ := strings.Cut(ref, "/")
		if bundles[kind+"/"+u.GetNamespace()+"/"+name] {
			return kind + " " + u.GetNamespace() + "/" + name
		}
	}
	return ""
}

// pageSize bounds each list call: a cluster of ten thousand workloads is
// listed in pages, never in one response held at once by the server.
const pageSize = 500

func list(ctx context.Context, client dynamic.Interface, r schema.GroupVersionResource, selector string, visit func(*unstructured.Unstructured)) error {
	opts := metav1.ListOptions{Limit: pageSize, LabelSelector: selector}
	for {
		l, err := client.Resource(r).List(ctx, opts)
		if err != nil {
			if isNotServed(err) {
				return nil // a kind this cluster does not serve holds no consumer
			}
			return fmt.Errorf("listing %s: %w", r.Resource, err)
		}
		for i := range l.Items {
			visit(&l.Items[i])
		}
		if l.GetContinue() == "" {
			return nil
		}
		opts.Continue = l.GetContinue()
	}
}

// Lagging lists the consumers not at the owner's phase: an application
// with any object of another phase, and every application of
// spec.consumers with no object at all (it never picked up the state).
func Lagging(rot *spec.CARotation, consumers []Consumer) []Lag {
	phase := string(rot.Spec.Phase)
	seen := map[string]bool{}
	var out []Lag
	for _, c := range consumers {
		seen[c.App] = true
		for _, p := range slices.Sorted(maps.Keys(c.Phases)) {
			if p == phase {
				continue
			}
			objs := c.Phases[p]
			more := ""
			if len(objs) > 3 {
				more = fmt.Sprintf(" and %d more", len(objs)-3)
				objs = objs[:3]
			}
			out = append(out, Lag{App: c.App, Reason: fmt.Sprintf("%s reports %s (%s%s), not %s: sync it with the published state", c.App, p, strings.Join(objs, ", "), more, phase)})
		}
	}
	for _, app := range rot.Spec.Consumers {
		if !seen[app] {
			out = append(out, Lag{App: app, Reason: fmt.Sprintf("%s (spec.consumers) has no object reporting rotation %s: it never rendered the published state, or is not synced", app, rot.Metadata.Name)})
		}
	}
	return out
}

// isNotServed reports an API that does not serve a resource (no such
// CRD, or an aggregated API absent).
func isNotServed(err error) bool { return apierrors.IsNotFound(err) }
