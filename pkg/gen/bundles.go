package gen

import (
	"fmt"
	"slices"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/spec"
	"github.com/carousel-dev/carousel/pkg/targets"
)

// renderBundles renders each bundle (the trusted set, as a ConfigMap or a
// Secret) into each of its namespaces.
func (r *renderer) renderBundles() part {
	var p part
	for _, b := range r.rot.Spec.Bundles {
		nss := b.Namespaces
		if b.AllNamespaces {
			nss = mergeSorted(nss, r.inputNamespaces())
		}
		for _, ns := range nss {
			var n *yaml.RNode
			if b.Kind == targets.Secret {
				n = r.labelled(newSecret(b.Name, ns, "Opaque"))
				setData(n, b.Key, b64(r.trust.pem))
			} else {
				n = r.labelled(yaml.MustParse(fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: %s\n  labels: {}\n", b.Name, ns)))
				v := yaml.NewStringRNode(string(r.trust.pem))
				v.YNode().Style = yaml.LiteralStyle
				_ = n.PipeE(yaml.LookupCreate(yaml.MappingNode, "data"), yaml.SetField(b.Key, v))
			}
			r.emit(&p, n, spec.Trust, r.trust.digest)
		}
	}
	return p
}

// inputNamespaces lists every namespace the input mentions, sorted.
func (r *renderer) inputNamespaces() []string {
	seen := map[string]bool{}
	for _, n := range r.items {
		if k, ok := r.kinds().Of(n); ok && k.Name == targets.Namespace {
			seen[n.GetName()] = true
		} else if ns := n.GetNamespace(); ns != "" {
			seen[ns] = true
		}
	}
	out := make([]string, 0, len(seen))
	for ns := range seen {
		out = append(out, ns)
	}
	slices.Sort(out)
	return out
}

func mergeSorted(a, b []string) []string {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}
