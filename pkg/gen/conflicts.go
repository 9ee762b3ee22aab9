package gen

import (
	"fmt"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// checkConflicts refuses input objects carousel renders itself, so a
// stale copy never shadows (or duplicates) the phase's object. It needs
// every rendered object, so it runs after all the renderers.
func (r *renderer) checkConflicts(rendered []*yaml.RNode) {
	ids := map[objID]bool{}
	for _, n := range rendered {
		ids[idOf(n)] = true
	}
	for _, n := range r.items {
		if ids[idOf(n)] {
			r.errorAt(n, "metadata.name", fmt.Errorf("%s %s/%s is rendered by rotation %q: remove it from the input", n.GetKind(), n.GetNamespace(), n.GetName(), r.rot.Metadata.Name))
		}
	}
}
