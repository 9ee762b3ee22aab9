package krmio

import (
	"fmt"
	"sync"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// SetString sets field name of mapping m to the string value, with the
// same result as m.PipeE(yaml.SetField(name, yaml.NewStringRNode(value))):
// a new field is appended, double-quoted when a YAML 1.1 reader would take
// the value for a number, a bool or null ("1e3", "yes"); an existing
// field's value is replaced and keeps its style.
//
// Why not kyaml: its FieldSetter decides the quoting by unmarshalling every
// value with a YAML 1.1 parser, and the renderer sets one restart
// annotation per rolled workload, most with one of a few values; that
// parse was a sixth of a render. SetString asks kyaml's own
// yaml.IsValueNonString once per distinct value.
func SetString(m *yaml.RNode, name, value string) error {
	y := m.YNode()
	if y == nil || y.Kind != yaml.MappingNode {
		return fmt.Errorf("setting %s: not a mapping", name)
	}
	v := yaml.NewStringRNode(value).YNode()
	if v.Tag == yaml.NodeTagString && v.Style == 0 && nonString(value) {
		v.Style = yaml.DoubleQuotedStyle
	}
	existing := -1
	for i := 0; i+1 < len(y.Content); i += 2 {
		if y.Content[i].Value == name {
			existing = i + 1 // the first of duplicate keys, as kyaml's
			break
		}
	}
	if existing >= 0 {
		v.Style = y.Content[existing].Style
		*y.Content[existing] = *v
		return nil
	}
	y.Content = append(y.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: name}, v)
	return nil
}

// nonStrings caches yaml.IsValueNonString by value. The values are
// digests and names, a bounded few per render; the cache is dropped when
// it grows past maxNonStrings, so a long-lived process stays bounded.
var (
	nonStringsMu sync.Mutex
	nonStrings   = map[string]bool{}
)

const maxNonStrings = 1 << 16

func nonString(value string) bool {
	nonStringsMu.Lock()
	b, ok := nonStrings[value]
	nonStringsMu.Unlock()
	if ok {
		return b
	}
	b = yaml.IsValueNonString(value)
	nonStringsMu.Lock()
	if len(nonStrings) >= maxNonStrings {
		nonStrings = map[string]bool{}
	}
	nonStrings[value] = b
	nonStringsMu.Unlock()
	return b
}

// SetMetadataMap replaces metadata.<field> (labels, annotations) of n by m,
// with the same result as kyaml's n.SetLabels(m) and n.SetAnnotations(m):
// the field is removed and, unless m is empty, appended again at the end of
// metadata as a block mapping in key order, each value set as SetString
// sets it (and so without a YAML 1.1 parse per value).
func SetMetadataMap(n *yaml.RNode, field string, m map[string]string) error {
	meta, err := n.Pipe(yaml.LookupCreate(yaml.MappingNode, yaml.MetadataField))
	if err != nil {
		return err
	}
	if err := meta.PipeE(yaml.Clear(field)); err != nil {
		return err
	}
	if len(m) == 0 {
		return nil
	}
	mapping := &yaml.Node{Kind: yaml.MappingNode}
	y := meta.YNode()
	y.Content = append(y.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: field}, mapping)
	values := yaml.NewRNode(mapping)
	for _, k := range yaml.SortedMapKeys(m) {
		if err := SetString(values, k, m[k]); err != nil {
			return err
		}
	}
	return nil
}
