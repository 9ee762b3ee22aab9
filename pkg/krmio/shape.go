package krmio

import (
	"fmt"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/kio/kioutil"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// ShapeError says why a resource cannot be read as a KRM resource.
type ShapeError struct {
	// Field is the path of the offending field ("" for the whole resource).
	Field   string
	Message string
}

func (e *ShapeError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// CheckShape reports the first way a resource is not the shape kyaml's
// accessors assume: a mapping whose apiVersion, kind, metadata.name and
// metadata.namespace are strings and whose labels and annotations are
// mappings of strings. kyaml reads these fields by walking a mapping's
// key/value pairs without checking it is a mapping, so `metadata: [a]` or
// `labels: [a]` makes GetName or GetLabels panic (index out of range); an
// alias there reads as empty. Every resource is checked before anything
// reads it, and a bad one is reported instead.
func CheckShape(n *yaml.RNode) *ShapeError {
	if n == nil || n.YNode() == nil {
		return &ShapeError{Message: "is empty, not a resource"}
	}
	y := unwrap(n.YNode())
	if y == nil || y.Kind != yaml.MappingNode {
		return &ShapeError{Message: fmt.Sprintf("is a %s, not a resource (a YAML mapping)", KindOf(y))}
	}
	for _, f := range []string{yaml.APIVersionField, yaml.KindField} {
		if err := checkScalar(lookup(y, f), f); err != nil {
			return err
		}
	}
	meta := lookup(y, yaml.MetadataField)
	if isNull(meta) {
		return nil
	}
	if meta.Kind != yaml.MappingNode {
		return &ShapeError{Field: "metadata", Message: fmt.Sprintf("must be a mapping, not a %s", KindOf(meta))}
	}
	for _, f := range []string{yaml.NameField, yaml.NamespaceField} {
		if err := checkScalar(lookup(meta, f), "metadata."+f); err != nil {
			return err
		}
	}
	for _, f := range []string{yaml.LabelsField, yaml.AnnotationsField} {
		m := lookup(meta, f)
		if isNull(m) {
			continue
		}
		path := "metadata." + f
		if m.Kind != yaml.MappingNode {
			return &ShapeError{Field: path, Message: fmt.Sprintf("must be a mapping of strings, not a %s", KindOf(m))}
		}
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, v := m.Content[i], m.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return &ShapeError{Field: path, Message: fmt.Sprintf("has a key that is a %s: keys must be strings", KindOf(k))}
			}
			if err := checkScalar(v, path+"."+k.Value); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkScalar(v *yaml.Node, path string) *ShapeError {
	if v == nil || v.Kind == yaml.ScalarNode {
		return nil
	}
	return &ShapeError{Field: path, Message: fmt.Sprintf("must be a string, not a %s", KindOf(v))}
}

func unwrap(y *yaml.Node) *yaml.Node {
	if y != nil && y.Kind == yaml.DocumentNode {
		if len(y.Content) != 1 {
			return nil
		}
		return y.Content[0]
	}
	return y
}

// lookup returns the value of key in a mapping (nil when y is not one).
func lookup(y *yaml.Node, key string) *yaml.Node {
	if y == nil || y.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(y.Content); i += 2 {
		if k := y.Content[i]; k.Kind == yaml.ScalarNode && k.Value == key {
			return y.Content[i+1]
		}
	}
	return nil
}

func isNull(y *yaml.Node) bool {
	return y == nil || y.Kind == yaml.ScalarNode && y.ShortTag() == "!!null"
}

// KindOf names a YAML node's kind for messages ("a list", "a scalar").
func KindOf(y *yaml.Node) string {
	if y == nil {
		return "nothing"
	}
	switch y.Kind {
	case yaml.DocumentNode:
		return "document"
	case yaml.SequenceNode:
		return "list"
	case yaml.MappingNode:
		return "mapping"
	case yaml.AliasNode:
		return "alias (write the value out: aliases are not read here)"
	case yaml.ScalarNode:
		if y.ShortTag() == "!!null" {
			return "null"
		}
		return "scalar"
	}
	return "node"
}

// CheckItems checks the shape of every item of a ResourceList and returns
// an error result for each one kyaml cannot read safely.
func CheckItems(items []*yaml.RNode) framework.Results {
	var out framework.Results
	for i, n := range items {
		if err := CheckShape(n); err != nil {
			out = append(out, ResultAt(framework.Error, n, err.Field,
				fmt.Sprintf("items[%d] is not a resource carousel can read: %s", i, err.Message)))
		}
	}
	return out
}

// Identity reads apiVersion, kind, name and namespace without kyaml's
// accessors, so it is safe on any node: fields of the wrong shape read as "".
func Identity(n *yaml.RNode) yaml.ResourceIdentifier {
	var id yaml.ResourceIdentifier
	if n == nil {
		return id
	}
	y := unwrap(n.YNode())
	str := func(v *yaml.Node) string {
		if v != nil && v.Kind == yaml.ScalarNode {
			return v.Value
		}
		return ""
	}
	meta := lookup(y, yaml.MetadataField)
	id.APIVersion = str(lookup(y, yaml.APIVersionField))
	id.Kind = str(lookup(y, yaml.KindField))
	id.Name = str(lookup(meta, yaml.NameField))
	id.Namespace = str(lookup(meta, yaml.NamespaceField))
	return id
}

// StringMap reads metadata.labels or metadata.annotations without kyaml's
// accessors: nil when the field is missing or not a mapping of strings.
func StringMap(n *yaml.RNode, field string) map[string]string {
	if n == nil {
		return nil
	}
	m := lookup(lookup(unwrap(n.YNode()), yaml.MetadataField), field)
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	out := make(map[string]string, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode || v.Kind != yaml.ScalarNode {
			return nil
		}
		out[k.Value] = v.Value
	}
	return out
}

// ResultAt builds a KRM result pointing at a resource (by its identity and
// the file it came from), and a field of it. Safe on any node.
func ResultAt(sev framework.Severity, n *yaml.RNode, field, msg string) *framework.Result {
	res := &framework.Result{Severity: sev, Message: msg}
	if n != nil {
		if id := Identity(n); id != (yaml.ResourceIdentifier{}) {
			res.ResourceRef = &id
		}
		anns := StringMap(n, yaml.AnnotationsField)
		for _, k := range []string{kioutil.PathAnnotation, kioutil.LegacyPathAnnotation} {
			if p := anns[k]; p != "" {
				res.File = &framework.File{Path: p}
				break
			}
		}
	}
	if field != "" {
		res.Field = &framework.Field{Path: field}
	}
	return res
}
