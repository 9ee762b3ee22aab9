package gen

import (
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"slices"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/krmio"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// MarkerAnnotation is set, in a consumer package, on every workload that
// consumes the rotation and every object the package manages for it, with
// the phase the package rendered. It sits on the object's metadata, never on
// a pod template, so it rolls nothing; the owner's `advance` reads it from
// the cluster to find applications that have not caught up. The prefix is
// its own DNS subdomain so the name part can be the rotation's full name.
func MarkerAnnotation(rotation string) string { return "phase." + spec.AnnotationPrefix + rotation }

// ConsumerInput is what a consumer package's render reads: its config and
// its resources, the published CARotationState among them.
type ConsumerInput struct {
	Consumer *spec.CARotationConsumer
	// Config is the CARotationConsumer resource, for result references.
	Config *yaml.RNode
	Items  []*yaml.RNode
}

// RenderConsumer renders, in a package that is not the rotation's own, what
// the rotation's spec would render there: bundles and caBundles from the
// published trusted set, and restart annotations from the published
// digests. It runs the owner's own renderers and restart rule over a
// renderer whose material is the state, so a workload carries the hash it
// would carry in the owner's package, and one whose consumption is the
// baseline's carries none (adoption rolls nothing). The state is consumed:
// it never reaches the output.
func RenderConsumer(in ConsumerInput) Output {
	c := in.Consumer
	r := &renderer{in: Input{Config: in.Config, Items: in.Items}, consumer: true}
	var stateNode *yaml.RNode
	for _, n := range in.Items {
		id := krmio.Identity(n)
		if id.APIVersion == spec.APIVersion && id.Kind == spec.StateKind && id.Name == c.Spec.State {
			if stateNode != nil {
				r.errorAt(n, "metadata.name", fmt.Errorf("a second %s %q: the package must hold one state per rotation", spec.StateKind, id.Name))
				continue
			}
			stateNode = n
			continue
		}
		r.items = append(r.items, n)
	}
	if stateNode == nil {
		r.configError("spec.state", fmt.Errorf("no %s %q among the resources: list the owner's published state in the kustomization's resources (its directory in the same repository, or a remote resource pinned to a commit; docs/fleet.md)", spec.StateKind, c.Spec.State))
		return r.finish(nil, nil, nil)
	}
	if r.hasErrors() {
		return r.finish(nil, nil, nil)
	}
	st, err := spec.LoadState(stateNode)
	if err != nil {
		r.results = append(r.results, spec.ErrorResults(stateNode, err)...)
		return r.finish(nil, nil, nil)
	}
	trusted, err := pki.ParseCerts([]byte(st.Spec.Trusted))
	if err != nil {
		r.errorAt(stateNode, "spec.trusted", err)
		return r.finish(nil, nil, nil)
	}
	state, _ := phases.Lookup(st.Spec.Scope, st.Spec.Phase)
	r.state = state
	r.rot = &spec.CARotation{APIVersion: spec.APIVersion, Kind: spec.Kind, Metadata: spec.Metadata{Name: st.Metadata.Name},
		Spec: spec.Spec{Scope: st.Spec.Scope, Phase: st.Spec.Phase, RenderedAnnotations: c.Spec.RenderedAnnotations,
			Bundles: c.Spec.Bundles, CABundles: c.Spec.CABundles, Restarts: c.Spec.Restarts}}
	r.trust = newTrustSet(trusted)
	r.digests = st.Spec.Digests
	r.knownCAs = fingerprints(trusted)
	if r.trust.digest != st.Spec.Digests[spec.Trust] {
		r.errorAt(stateNode, "spec.digests.trust", errors.New("does not name spec.trusted: the state was changed after `carousel publish`; take the owner's published state as it is"))
	}
	if b := st.Spec.Baseline; b != nil {
		certs, err := pki.ParseCerts([]byte(b.Trusted))
		if err != nil {
			r.errorAt(stateNode, "spec.baseline.trusted", err)
		} else if newTrustSet(certs).digest != b.Digests[spec.Trust] {
			r.errorAt(stateNode, "spec.baseline.digests.trust", errors.New("does not name spec.baseline.trusted: the state was changed after `carousel publish`; take the owner's published state as it is"))
		}
	}
	for i, rs := range c.Spec.Restarts {
		for j, what := range rs.Consumes {
			if _, ok := st.Spec.Digests[what]; !ok {
				r.configError(fmt.Sprintf("spec.restarts[%d].consumes[%d]", i, j), fmt.Errorf("rotation %q publishes no %q (it publishes %v)", st.Metadata.Name, what, slices.Sorted(maps.Keys(st.Spec.Digests))))
			}
		}
	}
	if r.hasErrors() {
		return r.finish(nil, nil, nil)
	}
	rendered, managed := compose(r.renderParts())
	base, err := r.consumerBaseline(st, managed)
	if err != nil {
		r.errorAt(stateNode, "spec.baseline.trusted", err)
		return r.finish(nil, nil, nil)
	}
	restarts := r.rollWorkloads(managed, base)
	r.warnUnmanaged(managed)
	o := r.finish(rendered, managed, restarts)
	if o.Items != nil {
		r.mark(o, restarts)
	}
	return o
}

// consumerBaseline is baseline for a consumer: the state's steady trusted
// set and digests stand in for the steady material.
func (r *renderer) consumerBaseline(st *spec.CARotationState, managed map[objID]Managed) (*baseline, error) {
	b := st.Spec.Baseline
	if b == nil {
		return nil, nil
	}
	promoted := map[string]bool{}
	for _, p := range b.Promoted {
		promoted[p] = true
	}
	steady, _ := phases.Lookup(st.Spec.Scope, phases.Steady)
	if r.state.Phase == steady.Phase {
		return &baseline{r: r, managed: managed, promoted: promoted}, nil
	}
	certs, err := pki.ParseCerts([]byte(b.Trusted))
	if err != nil {
		return nil, err
	}
	for fp := range fingerprints(certs) {
		r.knownCAs[fp] = true
	}
	br := &renderer{in: r.in, rot: r.rot, state: steady, consumer: true, trust: newTrustSet(certs), digests: b.Digests, items: r.baselineItems()}
	_, bm := compose(br.renderParts())
	return &baseline{r: br, managed: bm, promoted: promoted}, nil
}

// mark sets the marker annotation on every consumer and managed object.
func (r *renderer) mark(o Output, restarts []Restart) {
	key := MarkerAnnotation(r.rot.Metadata.Name)
	ids := map[objID]bool{}
	for _, w := range restarts {
		ids[objID{w.Kind, w.Namespace, w.Name}] = true
	}
	for _, m := range o.Managed {
		ids[m.id()] = true
	}
	for _, n := range o.Items {
		if ids[idOf(n)] {
			setAnnotations(n, map[string]string{key: string(r.state.Phase)})
		}
	}
}

// baselineItems are the items a baseline renders over: the input objects
// renderers edit are copied (as the input held them, for one taken over),
// workloads, which renderers never edit, shared.
func (r *renderer) baselineItems() []*yaml.RNode {
	items := make([]*yaml.RNode, len(r.items))
	for i, n := range r.items {
		if k, ok := r.kinds().Of(n); ok && k.Workload != nil {
			items[i] = n
		} else if orig, ok := r.before[n]; ok {
			items[i] = orig.Copy()
		} else {
			items[i] = n.Copy()
		}
	}
	return items
}

// fingerprints indexes certificates by fingerprint.
func fingerprints(certs []*x509.Certificate) map[string]bool {
	out := map[string]bool{}
	for _, c := range certs {
		out[pki.Fingerprint(c)] = true
	}
	return out
}
