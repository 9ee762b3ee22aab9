package gen

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/consumers"
	"github.com/carousel-dev/carousel/pkg/krmio"
	"github.com/carousel-dev/carousel/pkg/spec"
	"github.com/carousel-dev/carousel/pkg/targets"
)

// Restart is a workload annotated to roll on the material it consumes.
type Restart struct {
	Kind, Namespace, Name string
	// Consumes lists what it consumes ("trust", "leaf:<name>", "ca"), sorted.
	Consumes []string
	// Hash is the annotation value; empty when the workload carries no
	// annotation in the phase because what it consumes is unchanged since
	// before the rotation (adoption rolls nothing).
	Hash string
	// Wave is the lowest wave of the restart rules selecting it (0 when
	// none does): `carousel plan` rolls lower waves first.
	Wave int
}

// RestartAnnotation is the pod-template annotation of a rotation. Its value
// is a hash of exactly the material the workload consumes in the phase, so
// it changes (and the workload rolls) when, and only when, that material does.
func RestartAnnotation(rotation string) string { return spec.AnnotationPrefix + rotation }

// rollWorkloads annotates every workload whose pod spec or a restart rule
// says it consumes managed material, and returns every consumer. Workloads
// that consume nothing carousel manages are left byte-for-byte as they
// came, and so are consumers whose content is still the baseline's (see
// baseline): they are returned with an empty Hash. Which kinds are
// workloads, where their pod template is and whether carousel can roll
// them comes from the targets registry.
func (r *renderer) rollWorkloads(managed map[objID]Managed, base *baseline) []Restart {
	var restarts []Restart
	sel := r.newSelector()
	for _, n := range r.items {
		kind, ok := r.kinds().Of(n)
		if !ok {
			r.warnUnknownWorkload(n, managed)
			continue
		}
		if kind.Workload == nil {
			continue
		}
		w := kind.Workload
		podSpec := krmio.Get(n, w.PodSpec()...)
		lines := map[string]string{} // what -> line of the hash
		baseLines := map[string]string{}
		if podSpec != nil {
			for _, ref := range podRefs(podSpec) {
				id := objID{ref.kind, n.GetNamespace(), ref.name}
				if r.nodeTrust() && ref == kubeRootCA {
					// kube-controller-manager's copy of --root-ca-file.
					lines[spec.InClusterConfig] = r.published.digest
					if base != nil {
						baseLines[spec.InClusterConfig] = base.r.published.digest
					}
					continue
				}
				if _, ok := managed[id]; !ok {
					r.refuseMovedNamespace(n, ref, managed)
				}
				if m, ok := managed[id]; ok {
					key := m.Carries + " " + id.String()
					lines[key] = r.readDigest(m)
					if base != nil {
						if bm, ok := base.managed[id]; ok && bm.Carries == m.Carries {
							baseLines[key] = base.r.readDigest(bm)
						}
					}
				}
			}
		}
		selection := sel.selection(n)
		for _, c := range selection.Consumes {
			lines[c] = r.consumedDigest(c)
			if base != nil {
				baseLines[c] = base.r.consumedDigest(c)
			}
		}
		if len(lines) == 0 {
			continue
		}
		if w.Roll == targets.NotRolled {
			r.warnAt(n, "spec", "%s %s/%s consumes material of rotation %q but has no template carousel can roll: it keeps the old material until it is recreated; use a Deployment, DaemonSet, StatefulSet or CronJob",
				n.GetKind(), n.GetNamespace(), n.GetName(), r.rot.Metadata.Name)
			continue
		}
		hash, consumes := restartHash(lines)
		restart := Restart{Kind: n.GetKind(), Namespace: n.GetNamespace(), Name: n.GetName(), Consumes: consumes, Wave: selection.Wave}
		if base != nil && maps.Equal(lines, baseLines) && !base.anyPromoted(consumes) {
			restarts = append(restarts, restart) // unchanged since before the rotation: no annotation
			continue
		}
		meta, err := n.Pipe(yaml.LookupCreate(yaml.MappingNode, w.Annotations()...))
		if err != nil {
			r.errorAt(n, strings.Join(w.Annotations(), "."), err)
			continue
		}
		_ = krmio.SetString(meta, RestartAnnotation(r.rot.Metadata.Name), hash)
		restart.Hash = hash
		restarts = append(restarts, restart)
	}
	return restarts
}

// restartHash is the annotation value for the lines a workload consumes
// ("<carries> <object>" or a restart rule's consumption -> digest), and the
// kinds of material it consumes, sorted.
func restartHash(lines map[string]string) (string, []string) {
	keys := slices.Sorted(maps.Keys(lines))
	hashed := make([]string, len(keys))
	consumes := map[string]bool{}
	for i, k := range keys {
		hashed[i] = k + "=" + lines[k]
		consumes[strings.Fields(k)[0]] = true
	}
	return hashLines(hashed...)[:16], slices.Sorted(maps.Keys(consumes))
}

// leafName returns the leaf of a "leaf:<name>" consumption.
func leafName(what string) (string, bool) {
	name, ok := strings.CutPrefix(what, spec.LeafPrefix)
	return name, ok
}

// selector applies the spec's restart rules to the input's workloads, with
// the input's Namespace objects, through the matcher status uses too.
type selector struct {
	r          *renderer
	namespaces consumers.Namespaces
	warned     map[string]bool // rule index + namespace already warned about
}

func (r *renderer) newSelector() *selector {
	return &selector{r: r, namespaces: consumers.InItems(r.items), warned: map[string]bool{}}
}

// selection returns what the restart rules say a workload consumes. A rule
// that reads the workload's Namespace when the input holds no such
// Namespace selects nothing there: carousel cannot see the labels a mesh
// injects by, so it warns once per rule and namespace rather than guess.
func (s *selector) selection(n *yaml.RNode) consumers.Selection {
	w, ok := consumers.WorkloadOf(s.r.kinds(), n)
	if !ok {
		return consumers.Selection{}
	}
	sel := consumers.Select(s.r.rot.Spec.Restarts, w, s.namespaces)
	if sel.Selected() {
		return sel // another rule (a pod opt-in) found it: nothing to add
	}
	for _, i := range sel.Unseen {
		key := fmt.Sprint(i, "/", w.Namespace)
		if s.warned[key] {
			continue
		}
		s.warned[key] = true
		field := fmt.Sprintf("spec.restarts[%d]", i)
		s.r.results = append(s.r.results, result(framework.Warning, s.r.in.Config, field, fmt.Sprintf(
			"%s selects by the labels or annotations of namespace %q, which is not in the input: carousel cannot see it, so the rule selects no workload there (such as %s %s/%s); add the Namespace object to the package",
			field, w.Namespace, w.Kind, w.Namespace, w.Name)))
	}
	return sel
}

// kubeRootCA is the ConfigMap kube-controller-manager writes into every
// namespace from --root-ca-file: pods read it through in-cluster config.
var kubeRootCA = ref{targets.ConfigMap, "kube-root-ca.crt"}

// nodeTrust reports whether a node step publishes the rotation's trusted
// set to in-cluster-config consumers (runbook: kubernetes).
func (r *renderer) nodeTrust() bool { return r.rot.Features().NodeTrust }

// readDigest is what a pod reading a managed object sees. A service-account
// token Secret's ca.crt is rewritten by kube-controller-manager's token
// controller from --root-ca-file, so with a node step its pods see the
// published set, not what the rotation rendered into it, until that step
// has run.
func (r *renderer) readDigest(m Managed) string {
	if r.nodeTrust() && m.Kind == targets.Secret && m.Object != nil && stringField(m.Object, "type") == ServiceAccountTokenType {
		return r.published.digest
	}
	return m.Digest
}

// consumedDigest is the digest of a "trust", "ca" or "leaf:<name>"
// consumption (see ConsumptionDigests); "" when the material behind it is
// missing, which only a baseline lacks: no content to compare with.
func (r *renderer) consumedDigest(c string) string {
	return r.consumptionDigests()[c]
}

type ref struct{ kind, name string }

// podRefs lists the ConfigMaps and Secrets a pod spec reads: volumes,
// projected sources, env and envFrom of every container kind.
func podRefs(podSpec *yaml.RNode) []ref {
	var out []ref
	add := func(kind string, n *yaml.RNode, path ...string) {
		if n == nil {
			return
		}
		if v := krmio.Value(n, path...); v != "" {
			out = append(out, ref{kind, v})
		}
	}
	vols := krmio.Get(podSpec, "volumes")
	if vols != nil {
		els, _ := vols.Elements()
		for _, v := range els {
			add(targets.Secret, v, "secret", "secretName")
			add(targets.ConfigMap, v, "configMap", "name")
			srcs := krmio.Get(v, "projected", "sources")
			if srcs != nil {
				ss, _ := srcs.Elements()
				for _, s := range ss {
					add(targets.Secret, s, "secret", "name")
					add(targets.ConfigMap, s, "configMap", "name")
				}
			}
		}
	}
	for _, kind := range []string{"containers", "initContainers", "ephemeralContainers"} {
		cs := krmio.Get(podSpec, kind)
		if cs == nil {
			continue
		}
		els, _ := cs.Elements()
		for _, c := range els {
			if env := krmio.Get(c, "env"); env != nil {
				es, _ := env.Elements()
				for _, e := range es {
					add(targets.Secret, e, "valueFrom", "secretKeyRef", "name")
					add(targets.ConfigMap, e, "valueFrom", "configMapKeyRef", "name")
				}
			}
			if envFrom := krmio.Get(c, "envFrom"); envFrom != nil {
				es, _ := envFrom.Elements()
				for _, e := range es {
					add(targets.Secret, e, "secretRef", "name")
					add(targets.ConfigMap, e, "configMapRef", "name")
				}
			}
		}
	}
	return out
}

// PodReads lists the ConfigMaps and Secrets a pod spec reads, as
// "ConfigMap/<name>" and "Secret/<name>" (in the pod's namespace): the
// references a restart hash is made of, for readers of live objects.
func PodReads(podSpec *yaml.RNode) []string {
	var out []string
	for _, r := range podRefs(podSpec) {
		out = append(out, r.kind+"/"+r.name)
	}
	return out
}

// podTemplatePaths are where custom workload kinds keep a pod template:
// most copy a Deployment's spec.template (OpenKruise's CloneSet, Argo
// Rollouts), job-like ones a CronJob's spec.jobTemplate.
var podTemplatePaths = [][]string{{"spec", "template"}, {"spec", "jobTemplate", "spec", "template"}}

// warnUnknownWorkload warns of an object of a kind carousel does not know
// (a custom resource, or a known kind of another API group) whose pod
// template reads material the rotation renders: carousel cannot roll it,
// so its pods keep the old material until something else replaces them.
func (r *renderer) warnUnknownWorkload(n *yaml.RNode, managed map[objID]Managed) {
	for _, path := range podTemplatePaths {
		podSpec, _ := n.Pipe(yaml.Lookup(append(slices.Clone(path), "spec")...))
		if podSpec == nil {
			continue
		}
		if c, _ := podSpec.Pipe(yaml.Lookup("containers")); c == nil {
			continue
		}
		for _, ref := range podRefs(podSpec) {
			if _, ok := managed[objID{ref.kind, n.GetNamespace(), ref.name}]; ok {
				r.warnAt(n, strings.Join(path, "."), "%s %s/%s (%s) reads %s %s of rotation %q, but carousel does not know kind %s and cannot roll it: its pods keep the old material until they are replaced; declare its kind in spec.workloadKinds (kind: %s, apiVersion: %s, resource: <its plural>, template: <path of its pod template>) so carousel rolls and gates on it, or roll it by hand in each phase that changes what it reads (carousel plan)",
					n.GetKind(), n.GetNamespace(), n.GetName(), n.GetApiVersion(), ref.kind, ref.name, r.rot.Metadata.Name, n.GetKind(), n.GetKind(), n.GetApiVersion())
				return
			}
		}
	}
}

// previousNamespacesAnnotation is where kustomize records, on each object
// its namespace transformer (a kustomization's namespace:) moved, the
// namespaces it was in, first the original. Exec functions see it.
const previousNamespacesAnnotation = "internal.config.kubernetes.io/previousNamespaces"

// refuseMovedNamespace refuses a workload that kustomize's namespace:
// moved, before carousel ran, away from a Secret or ConfigMap the rotation
// renders in its old namespace: kustomize applies namespace: to a
// kustomization's resources before its transformers, so the workload now
// reads an object of that name in a namespace where nothing renders it,
// and never rolls. An overlay's namespace: moves the rendered objects too.
func (r *renderer) refuseMovedNamespace(n *yaml.RNode, ref ref, managed map[objID]Managed) {
	prev, ok := n.GetAnnotations()[previousNamespacesAnnotation]
	if !ok {
		return
	}
	was, _, _ := strings.Cut(prev, ",")
	if was == n.GetNamespace() {
		return
	}
	if _, ok := managed[objID{ref.kind, was, ref.name}]; !ok {
		return
	}
	r.errorAt(n, "metadata.namespace", fmt.Errorf("%s %s was moved from namespace %s to %s by kustomize's namespace: before rotation %q ran, but the rotation renders the %s %s it reads in %s: in %s it would read an object nothing renders, and never roll. Move namespace: to an overlay that lists this package as a base (the overlay moves the rendered objects with the workloads), or name namespace %s in the spec",
		n.GetKind(), n.GetName(), was, n.GetNamespace(), r.rot.Metadata.Name, ref.kind, ref.name, was, n.GetNamespace(), n.GetNamespace()))
}
