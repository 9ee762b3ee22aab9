package kbuild

import (
	"bytes"
	"slices"

	"sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/kustomize/kyaml/resid"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// finish ends the root's build in-process after its last function, the
// way kustomize's build ends: local-config resources dropped, the
// root's order (legacy by default), build annotations removed, each
// resource written through JSON. It declines (ok false) when it cannot end
// the same way: a generated name still needs its hash suffix (and every
// reference to it fixing, which only kustomize's build does), or the
// kustomization asks for legacy order with its own kind lists. A second
// kustomize build of the output then finishes instead.
//
// Why: the second build would cost as much as the first (kustomize's
// accumulation and reference fixing grow with the square of the
// resources), where finishing here costs little more than writing.
func finish(k *kust, items []*yaml.RNode) (out []byte, ok bool, err error) {
	order := sortOrder(k.sort)
	if order == "" {
		return nil, false, nil
	}
	keep := make([]*yaml.RNode, 0, len(items))
	for _, n := range items {
		a := n.GetAnnotations()
		if a[needsHash] == "enabled" {
			return nil, false, nil
		}
		if v, local := a[localCfg]; local && v != "false" {
			continue
		}
		keep = append(keep, n)
	}
	if order == "legacy" {
		keep = legacyOrder(keep)
	}
	var buf bytes.Buffer
	for i, n := range keep {
		r := &resource.Resource{RNode: *n}
		r.RemoveBuildAnnotations()
		if err := r.SetOrigin(nil); err != nil {
			return nil, false, err
		}
		if err := r.ClearTransformations(); err != nil {
			return nil, false, err
		}
		y, err := r.AsYAML()
		if err != nil {
			return nil, false, err
		}
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(y)
	}
	return buf.Bytes(), true, nil
}

// legacyOrder sorts as kustomize's default ("legacy") order does: by kind,
// with kyaml's ranking of kinds (Namespaces first, webhook configurations
// last), then by namespace and name. Namespaces of different groups, one
// of them the core group, compare the other way round, as kustomize's
// legacy sorter has them.
func legacyOrder(nodes []*yaml.RNode) []*yaml.RNode {
	type entry struct {
		id   resid.ResId
		key  string
		node *yaml.RNode
	}
	es := make([]entry, len(nodes))
	for i, n := range nodes {
		id := resid.FromRNode(n)
		ns, name := id.Namespace, id.Name
		if ns == "" {
			ns = "~X"
		}
		if name == "" {
			name = "~N"
		}
		es[i] = entry{id: id, key: ns + "|" + name, node: n}
	}
	slices.SortStableFunc(es, func(a, b entry) int {
		ga, gb := a.id.Gvk, b.id.Gvk
		if !ga.Equals(gb) {
			if ga.Kind == "Namespace" && gb.Kind == "Namespace" && (ga.Group == "" || gb.Group == "") {
				ga, gb = gb, ga
			}
			if ga.IsLessThan(gb) {
				return -1
			}
			return 1
		}
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return 0
	})
	out := make([]*yaml.RNode, len(es))
	for i, e := range es {
		out[i] = e.node
	}
	return out
}
