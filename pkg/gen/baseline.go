package gen

import (
	"slices"

	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/phases"
)

// baseline is what consumers read at the rotation's steady phase over the
// same material: the content they ran with before the rotation began. A
// workload whose hash in the phase equals its baseline hash, and whose
// material was never promoted, carries no restart annotation: adopting
// carousel (rendering steady over workloads that never carried one) and
// phases that change nothing a workload reads leave its pod template
// byte-identical. Once a rotation has been promoted (its material replaced
// what was there before), consumers of that material keep the annotation
// at steady, so finishing a rotation never rolls anything either.
type baseline struct {
	r       *renderer
	managed map[objID]Managed
	// promoted lists the consumptions ("trust", "ca", "leaf:<name>")
	// whose steady material replaced earlier material: their consumers
	// have carried the restart annotation since that rotation.
	promoted map[string]bool
}

// baseline renders the steady phase's managed objects over copies of the
// input objects renderers edit (workloads are never edited by renderers, so
// they are shared). Without the steady CA (removed by hand, or unlisted by
// a promotion under way) it returns nil and every consumer is annotated; a
// leaf whose steady generation is missing has no baseline content, so its
// consumers are annotated too.
func (r *renderer) baseline(managed map[objID]Managed) *baseline {
	steady, err := phases.LookupAt(r.rot.Spec.Scope, phases.Position{Phase: phases.Steady}, r.rot.Features())
	if err != nil {
		return nil
	}
	if r.state.Phase == steady.Phase {
		return &baseline{r: r, managed: managed, promoted: r.promotedConsumptions()}
	}
	for _, g := range append(slices.Clone(steady.Trusted), steady.Signer) {
		if _, ok := r.set.CA[g]; !ok {
			return nil
		}
	}
	b := &renderer{in: r.in, rot: r.rot, state: steady, set: r.set, trust: newTrustSet(r.trustCerts(steady.Trusted)), published: newTrustSet(r.trustCerts(steady.Published))}
	b.items = r.baselineItems()
	_, bm := compose(b.renderParts()) // its results are not the phase's: dropped
	return &baseline{r: b, managed: bm, promoted: b.promotedConsumptions()}
}

// anyPromoted reports whether any of the consumptions was promoted.
func (b *baseline) anyPromoted(consumes []string) bool {
	return slices.ContainsFunc(consumes, func(c string) bool { return b.promoted[c] })
}

// promotedConsumptions lists, of the consumptions of a steady renderer,
// those whose material replaced earlier material.
func (r *renderer) promotedConsumptions() map[string]bool {
	out := map[string]bool{}
	for what := range r.consumptionDigests() {
		var k material.KeyPair
		var ok bool
		if name, isLeaf := leafName(what); isLeaf {
			k, ok = r.set.Leaves[name][r.state.Leaves]
		} else {
			k, ok = r.set.CA[r.state.Signer]
		}
		if ok && k.Promoted() {
			out[what] = true
		}
	}
	return out
}
