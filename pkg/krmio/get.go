package krmio

import "sigs.k8s.io/kustomize/kyaml/yaml"

// Get returns the node at path below n (each element a field name of a
// mapping), or nil when a field is missing or a node on the way is not a
// mapping. It is yaml.Lookup for plain field names, without the filters:
// kyaml builds a PathGetter, cleans the path, and allocates an RNode and
// a field path per step on every call, and the renderer looks up a few
// dozen fields of every workload (volumes, containers, env, template
// metadata), which at 1,000 workloads made lookups a quarter of a render.
// Get walks the mapping's content and allocates one RNode for the result.
//
// List selectors ("[name=x]") and creation are not Get's: use kyaml there.
func Get(n *yaml.RNode, path ...string) *yaml.RNode {
	if n == nil {
		return nil
	}
	y := n.YNode()
	for _, field := range path {
		y = field1(y, field)
		if y == nil {
			return nil
		}
	}
	return yaml.NewRNode(y)
}

// field1 is the value of field in mapping y, or nil. An alias is followed,
// as kyaml's RNode.YNode follows it.
func field1(y *yaml.Node, field string) *yaml.Node {
	if y.Kind == yaml.DocumentNode && len(y.Content) == 1 {
		y = y.Content[0]
	}
	if y.Kind == yaml.AliasNode && y.Alias != nil {
		y = y.Alias
	}
	if y.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(y.Content); i += 2 {
		if y.Content[i].Value == field {
			v := y.Content[i+1]
			if v.Kind == yaml.AliasNode && v.Alias != nil {
				v = v.Alias
			}
			return v
		}
	}
	return nil
}

// Value is the scalar value at path below n ("" when there is none).
func Value(n *yaml.RNode, path ...string) string {
	v := Get(n, path...)
	if v == nil || v.YNode().Kind != yaml.ScalarNode {
		return ""
	}
	return v.YNode().Value
}
