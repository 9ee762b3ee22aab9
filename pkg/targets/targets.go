package targets

import (
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Names of the kinds other packages refer to by name. Only kinds whose name
// is spelled out in code have a constant; the table below is the registry.
const (
	Secret    = "Secret"
	ConfigMap = "ConfigMap"
	Namespace = "Namespace"
	Pod       = "Pod"
)

// Kind is one Kubernetes kind carousel reads, renders or edits.
type Kind struct {
	// Name is the kind, as in an object's `kind` field.
	Name string
	// Resource is where the API serves it: status reads live objects by it,
	// and an input object is this kind only when its apiVersion is in
	// Resource.Group.
	Resource schema.GroupVersionResource
	// Workload is set for kinds that run pods: carousel finds the Secrets and
	// ConfigMaps they read in their pod spec, and rolls them when it can.
	Workload *Workload
	// CABundle is set for kinds whose objects hold a caBundle the API server
	// uses to trust a webhook or an aggregated API: carousel injects the
	// trusted set there.
	CABundle *CABundle
}

// Workload is how a kind runs pods.
type Workload struct {
	// Template is the path of its pod template (whose spec is the pod spec
	// and whose metadata.annotations carry the restart annotation). It is
	// empty for a Pod, whose own spec is the pod spec.
	Template []string
	// Roll says what changing the template does.
	Roll Roll
	// RolloutRule reads what the kind's controller reports of a rollout,
	// after the generation check every kind shares (Workload.Rollout); nil:
	// the generation check is all there is (a ReplicaSet).
	RolloutRule RolloutRule
}

// Roll is what changing a workload's pod template does to its pods.
type Roll int

const (
	// NotRolled kinds have no template carousel can change to replace their
	// pods (a Pod, a Job): carousel warns that they keep the old material
	// until they are recreated.
	NotRolled Roll = iota
	// Rolled kinds have a controller that replaces their pods when the
	// template changes: status waits for the rollout and for stale pods.
	Rolled
	// NextRun kinds (a CronJob) start new pods from the template on their
	// next run: there is no rollout to wait for.
	NextRun
)

func (r Roll) String() string {
	switch r {
	case Rolled:
		return "rolled"
	case NextRun:
		return "next-run"
	}
	return "not-rolled"
}

// CABundle says where an object keeps its caBundle fields.
type CABundle struct {
	// Path leads to the map holding `caBundle`. With Each set, it is
	// relative to each entry of that list.
	Path []string
	// Each names a list of named entries that each hold a caBundle (a
	// webhook configuration's webhooks[*].clientConfig); a spec may pick
	// entries by name.
	Each string
}

// kinds is the registry: adding a kind carousel handles is one entry here.
// Its order is the order kinds are listed in messages.
var kinds = []Kind{
	{Name: Secret, Resource: core("secrets")},
	{Name: ConfigMap, Resource: core("configmaps")},
	{Name: Namespace, Resource: core("namespaces")},

	{Name: "ValidatingWebhookConfiguration", Resource: gvr("admissionregistration.k8s.io", "validatingwebhookconfigurations"),
		CABundle: &CABundle{Each: "webhooks", Path: []string{"clientConfig"}}},
	{Name: "MutatingWebhookConfiguration", Resource: gvr("admissionregistration.k8s.io", "mutatingwebhookconfigurations"),
		CABundle: &CABundle{Each: "webhooks", Path: []string{"clientConfig"}}},
	{Name: "APIService", Resource: gvr("apiregistration.k8s.io", "apiservices"),
		CABundle: &CABundle{Path: []string{"spec"}}},
	{Name: "CustomResourceDefinition", Resource: gvr("apiextensions.k8s.io", "customresourcedefinitions"),
		CABundle: &CABundle{Path: []string{"spec", "conversion", "webhook", "clientConfig"}}},

	// OSM's MeshRootCertificate (spec.meshRootCertificates): rendered, so
	// status reads it back.
	{Name: "MeshRootCertificate", Resource: schema.GroupVersionResource{Group: "config.openservicemesh.io", Version: "v1alpha2", Resource: "meshrootcertificates"}},

	{Name: "Deployment", Resource: gvr("apps", "deployments"),
		Workload: &Workload{Template: []string{"spec", "template"}, Roll: Rolled, RolloutRule: deploymentRollout}},
	{Name: "DaemonSet", Resource: gvr("apps", "daemonsets"),
		Workload: &Workload{Template: []string{"spec", "template"}, Roll: Rolled, RolloutRule: daemonSetRollout}},
	{Name: "StatefulSet", Resource: gvr("apps", "statefulsets"),
		Workload: &Workload{Template: []string{"spec", "template"}, Roll: Rolled, RolloutRule: statefulSetRollout}},
	// A ReplicaSet's controller creates pods from a changed template but does
	// not replace running ones: status lists those as stale until deleted.
	{Name: "ReplicaSet", Resource: gvr("apps", "replicasets"),
		Workload: &Workload{Template: []string{"spec", "template"}, Roll: Rolled}},
	// Argo Rollouts' Rollout: a Deployment's pod template under a
	// controller that replaces pods by canary or blue-green steps. A
	// Rollout that names a Deployment's template (spec.workloadRef) has
	// none of its own: the Deployment is the consumer carousel rolls.
	{Name: "Rollout", Resource: schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "rollouts"},
		Workload: &Workload{Template: []string{"spec", "template"}, Roll: Rolled, RolloutRule: argoRollout}},
	{Name: "CronJob", Resource: gvr("batch", "cronjobs"),
		Workload: &Workload{Template: []string{"spec", "jobTemplate", "spec", "template"}, Roll: NextRun}},
	{Name: "Job", Resource: gvr("batch", "jobs"),
		Workload: &Workload{Template: []string{"spec", "template"}, Roll: NotRolled}},
	{Name: Pod, Resource: core("pods"),
		Workload: &Workload{Roll: NotRolled}},
}

func core(resource string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Version: "v1", Resource: resource}
}

func gvr(group, resource string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: group, Version: "v1", Resource: resource}
}

// Registry is a set of kinds carousel knows: the built-in table, extended
// by a rotation with the workload kinds its spec declares
// (spec.workloadKinds). Everything that asks what a kind is asks the
// rotation's registry, so a declared kind is rolled, gated and warned about
// exactly as a built-in one.
type Registry struct{ kinds []Kind }

// Builtin is the registry of the kinds carousel knows without being told.
func Builtin() Registry { return Registry{kinds: kinds} }

// With returns the registry with more kinds after the built-in ones. The
// caller (spec validation) refuses a kind whose name is already known.
func (r Registry) With(extra ...Kind) Registry {
	if len(extra) == 0 {
		return r
	}
	return Registry{kinds: append(slices.Clip(r.kinds), extra...)}
}

// All returns every kind, in registry order.
func (r Registry) All() []Kind { return slices.Clone(r.kinds) }

// Lookup returns the kind called name.
func (r Registry) Lookup(name string) (Kind, bool) {
	for _, k := range r.kinds {
		if k.Name == name {
			return k, true
		}
	}
	return Kind{}, false
}

// Of returns the kind of an object: its kind must be known and its
// apiVersion in the kind's API group (any version), so an unrelated custom
// resource that reuses a name (a Deployment of some other group) is not
// mistaken for it.
func (r Registry) Of(n *yaml.RNode) (Kind, bool) {
	k, ok := r.Lookup(n.GetKind())
	if !ok {
		return Kind{}, false
	}
	group, _, found := strings.Cut(n.GetApiVersion(), "/")
	if !found {
		group = "" // the core group: "v1"
	}
	if group != k.Resource.Group {
		return Kind{}, false
	}
	return k, true
}

// CABundleKinds names the kinds whose caBundle carousel can manage.
func (r Registry) CABundleKinds() []string {
	return r.names(func(k Kind) bool { return k.CABundle != nil })
}

// RolledKinds names the workload kinds carousel rolls through their pod
// template: the kinds a restart rule may name and status reports on.
func (r Registry) RolledKinds() []string {
	return r.names(func(k Kind) bool { return k.Workload != nil && k.Workload.Roll != NotRolled })
}

// IsWorkload says whether kind runs pods (rolled by carousel or not).
func (r Registry) IsWorkload(kind string) bool {
	k, ok := r.Lookup(kind)
	return ok && k.Workload != nil
}

func (r Registry) names(keep func(Kind) bool) []string {
	var out []string
	for _, k := range r.kinds {
		if keep(k) {
			out = append(out, k.Name)
		}
	}
	return out
}

// PodSpec returns the path of a workload's pod spec.
func (w Workload) PodSpec() []string {
	if len(w.Template) == 0 {
		return []string{"spec"}
	}
	return append(slices.Clone(w.Template), "spec")
}

// Annotations returns the path of a workload's pod-template annotations,
// where the restart annotation goes; nil for a kind without a template.
func (w Workload) Annotations() []string {
	if len(w.Template) == 0 {
		return nil
	}
	return append(slices.Clone(w.Template), "metadata", "annotations")
}

// Paths returns the paths of the maps of n that hold a caBundle. For a
// kind with a list of entries (webhooks), only the entries named in only
// are returned, or every entry when only is empty; entries are addressed
// by name ([name=<n>]), as kyaml's Lookup reads them.
func (c CABundle) Paths(n *yaml.RNode, only []string) [][]string {
	if c.Each == "" {
		return [][]string{slices.Clone(c.Path)}
	}
	list, _ := n.Pipe(yaml.Lookup(c.Each))
	if list == nil {
		return nil
	}
	var out [][]string
	els, _ := list.Elements()
	for _, e := range els {
		f := e.Field("name")
		if f == nil {
			continue // an entry without a name cannot be addressed (nor is it valid)
		}
		name := yaml.GetValue(f.Value)
		if len(only) > 0 && !slices.Contains(only, name) {
			continue
		}
		out = append(out, append([]string{c.Each, "[name=" + name + "]"}, c.Path...))
	}
	return out
}
