package gen

import (
	"crypto/x509"
	"fmt"
	"slices"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/krmio"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// A cluster of a shared root (spec.sharedRoot) renders from the root's
// published state as well as from its own material (docs/fleet.md, "The
// root's published state"). The state says which roots the root's owner
// holds and the phase every cluster has reached; the cluster's own
// material says which intermediate signs and which roots its chains end
// in. The render holds the second to the first, so a cluster cannot come
// to trust a root its peers were never given (an intermediate signed by
// another root, a stale root after the owner's cleanup) and cannot fall
// behind the fleet (a rollback past the phase the root recorded).

// isRootState reports whether n is the shared root's state the rotation
// names (spec.rootState): consumed by the render, never output.
func (r *renderer) isRootState(n *yaml.RNode) bool {
	name := r.rot.Spec.RootState
	if name == "" {
		return false
	}
	id := krmio.Identity(n)
	return id.APIVersion == spec.APIVersion && id.Kind == spec.StateKind && id.Name == name
}

// rootRoots are the roots a shared root's state publishes: every
// generation of the phase's CA material (the old root kept for rollback
// through distrust-old), and at steady the new one once `start` made it,
// so a cluster may trust it from its own trust-new on.
func (r *renderer) rootRoots() []*x509.Certificate {
	gens := slices.Clone(r.state.CAPresent)
	if _, ok := r.set.CA[phases.New]; ok && !slices.Contains(gens, phases.New) && r.state.Phase == phases.Steady {
		gens = append(gens, phases.New)
	}
	return r.trustCerts(gens)
}

// checkRootState holds the cluster's phase and trusted roots to the shared
// root's published state.
func (r *renderer) checkRootState() {
	if r.rot.Spec.RootState == "" {
		return
	}
	var node *yaml.RNode
	for _, n := range r.rootStates {
		if node != nil {
			r.errorAt(n, "metadata.name", fmt.Errorf("a second %s %q: the package must list the shared root's state once", spec.StateKind, r.rot.Spec.RootState))
			return
		}
		node = n
	}
	if node == nil {
		r.configError("spec.rootState", fmt.Errorf("no %s %q among the resources: list the shared root's state directory (the root's spec.publish) in this package's kustomization.yaml resources (docs/fleet.md, \"The root's published state\")", spec.StateKind, r.rot.Spec.RootState))
		return
	}
	st, err := spec.LoadState(node)
	if err != nil {
		r.results = append(r.results, spec.ErrorResults(node, err)...)
		return
	}
	if st.Spec.Roots == "" {
		r.errorAt(node, "spec.roots", fmt.Errorf("is empty: %q is not the state of a shared root (one listing spec.clusters), or predates roots; run `carousel publish` on the root", st.Metadata.Name))
		return
	}
	roots, err := pki.ParseCerts([]byte(st.Spec.Roots))
	if err != nil {
		r.errorAt(node, "spec.roots", err)
		return
	}
	if st.Spec.Scope != r.rot.Spec.Scope {
		r.configError("spec.scope", fmt.Errorf("is %s, the shared root %s rotates in scope %s: their phases cannot be compared", r.rot.Spec.Scope, st.Metadata.Name, st.Spec.Scope))
		return
	}
	mine, err1 := phases.Index(r.rot.Spec.Scope, r.rot.Spec.Phase)
	theirs, err2 := phases.Index(st.Spec.Scope, st.Spec.Phase)
	if err2 != nil {
		r.errorAt(node, "spec.phase", err2)
		return
	}
	if err1 == nil && mine < theirs {
		r.configError("spec.phase", fmt.Errorf("%s is behind the shared root %s, at %s: the root records the phase every cluster has reached, and a cluster behind it may trust a root its peers no longer do; move this cluster to %s, or the root back first", r.rot.Spec.Phase, st.Metadata.Name, st.Spec.Phase, st.Spec.Phase))
	}
	held := map[string]bool{}
	for _, c := range roots {
		held[pki.Fingerprint(c)] = true
	}
	for _, c := range r.trust.certs {
		if !held[pki.Fingerprint(c)] {
			r.configError("spec.ca", fmt.Errorf("phase %s trusts the root %q (sha256 %s), which the shared root %s does not hold at %s: this cluster's intermediate chains to another root. Have the root's owner sign its request (`carousel sign`) and import the certificate with that chain", r.rot.Spec.Phase, c.Subject.CommonName, pki.Fingerprint(c), st.Metadata.Name, st.Spec.Phase))
		}
	}
}
