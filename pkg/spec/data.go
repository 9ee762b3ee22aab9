package spec

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/krmio"
)

// maxAliasNodes bounds how many nodes alias expansion may add while a
// config is turned into data. A CARotation written by hand has a few
// hundred nodes; an "alias bomb" (a few lines of anchors that each alias
// the previous one ten times) expands to billions and would exhaust memory
// before any check ran.
const maxAliasNodes = 100_000

// toData turns a YAML node into the JSON data model (map[string]any, []any,
// string, int64, float64, bool, nil) that the schema validator and the Go
// types read. It never panics: what JSON cannot hold (a mapping key that is
// not a scalar, a key given twice, an alias that contains itself, a NaN)
// becomes a FieldError at its path and the offending entry is left out, so
// every other field is still checked in the same run.
//
// Why not the RNode's own MarshalJSON: it fails on exactly these inputs, and
// kube-openapi then validates a nil document (a panic), or the caller's
// MustString panics.
func toData(n *yaml.Node) (any, FieldErrors) {
	c := &converter{active: map[*yaml.Node]bool{}}
	v := c.convert(n, "")
	return v, c.errs
}

type converter struct {
	errs FieldErrors
	// active are the anchors being expanded on the current path (an alias
	// to one of them is a cycle).
	active map[*yaml.Node]bool
	// expanded counts nodes visited through aliases.
	expanded int
	// exhausted is set once the alias budget is spent: one error, then stop.
	exhausted bool
}

func (c *converter) fail(path, format string, args ...any) {
	c.errs = append(c.errs, FieldError{Path: pathOrRoot(path), Message: fmt.Sprintf(format, args...)})
}

func pathOrRoot(p string) string {
	if p == "" {
		return "."
	}
	return p
}

func child(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (c *converter) convert(n *yaml.Node, path string) any {
	if n == nil || c.exhausted {
		return nil
	}
	if n.Anchor != "" && n.Kind != yaml.AliasNode {
		// An alias to this node from inside it would never end.
		c.active[n] = true
		defer delete(c.active, n)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil
		}
		return c.convert(n.Content[0], path)
	case yaml.AliasNode:
		return c.alias(n, path)
	case yaml.MappingNode:
		return c.mapping(n, path)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for i, e := range n.Content {
			out = append(out, c.convert(e, fmt.Sprintf("%s[%d]", path, i)))
		}
		return out
	case yaml.ScalarNode:
		return c.scalar(n, path)
	}
	c.fail(path, "is not valid YAML (node kind %d)", n.Kind)
	return nil
}

func (c *converter) alias(n *yaml.Node, path string) any {
	target := n.Alias
	if target == nil {
		c.fail(path, "is an alias to an unknown anchor")
		return nil
	}
	if c.active[target] {
		c.fail(path, "is an alias (*%s) inside its own anchor: the value would be infinite", target.Anchor)
		return nil
	}
	c.expanded += size(target, maxAliasNodes-c.expanded+1)
	if c.expanded > maxAliasNodes {
		c.exhausted = true
		c.fail(path, "aliases expand to more than %d nodes (an alias bomb?): write the values out", maxAliasNodes)
		return nil
	}
	return c.convert(target, path)
}

// size counts the nodes under n, following aliases, stopping at limit (so a
// bomb is measured in bounded time).
func size(n *yaml.Node, limit int) int {
	count := 0
	var walk func(*yaml.Node, int)
	walk = func(n *yaml.Node, depth int) {
		if n == nil || count >= limit || depth > 10_000 {
			return
		}
		count++
		if n.Kind == yaml.AliasNode {
			walk(n.Alias, depth+1)
			return
		}
		for _, e := range n.Content {
			walk(e, depth+1)
		}
	}
	walk(n, 0)
	return count
}

func (c *converter) mapping(n *yaml.Node, path string) any {
	out := map[string]any{}
	seen := map[string]bool{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key, ok := c.key(k, path)
		if !ok {
			continue
		}
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if seen[key] {
			c.fail(child(path, key), "is given twice")
			continue
		}
		seen[key] = true
		out[key] = c.convert(v, child(path, key))
	}
	if len(n.Content)%2 != 0 {
		c.fail(path, "is a mapping with a key and no value")
	}
	// A merge key (<<: *base) adds the fields of its mappings that the
	// mapping does not set itself, as YAML 1.1 defines.
	for _, m := range merges {
		for _, src := range c.mergeSources(m, path) {
			merged, _ := c.convert(src, path).(map[string]any)
			for k, v := range merged {
				if _, set := out[k]; !set {
					out[k] = v
				}
			}
		}
	}
	return out
}

func (c *converter) mergeSources(m *yaml.Node, path string) []*yaml.Node {
	resolve := func(n *yaml.Node) *yaml.Node {
		if n != nil && n.Kind == yaml.AliasNode {
			return n.Alias
		}
		return n
	}
	switch t := resolve(m); {
	case t == nil:
	case t.Kind == yaml.MappingNode:
		return []*yaml.Node{m}
	case t.Kind == yaml.SequenceNode:
		var out []*yaml.Node
		for _, e := range t.Content {
			if r := resolve(e); r != nil && r.Kind == yaml.MappingNode {
				out = append(out, e)
				continue
			}
			c.fail(path, "a merge key (<<) takes mappings only")
			return nil
		}
		return out
	}
	c.fail(path, "a merge key (<<) takes a mapping or a list of mappings")
	return nil
}

// key reads a mapping key: JSON (and so every Kubernetes object) has string
// keys only. A scalar key of another type (1, true) is taken as its text,
// as Kubernetes' YAML reader does.
func (c *converter) key(k *yaml.Node, path string) (string, bool) {
	if k.Kind == yaml.AliasNode && k.Alias != nil {
		k = k.Alias
	}
	if k.Kind != yaml.ScalarNode {
		c.fail(path, "has a key that is a %s: keys must be strings", krmio.KindOf(k))
		return "", false
	}
	return k.Value, true
}

func (c *converter) scalar(n *yaml.Node, path string) any {
	switch n.ShortTag() {
	case "!!null":
		return nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err == nil {
			return b
		}
	case "!!int":
		if i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64); err == nil {
			return i
		}
		var i int64
		if err := n.Decode(&i); err == nil {
			return i
		}
		var f float64
		if err := n.Decode(&f); err == nil && !math.IsInf(f, 0) {
			return f
		}
		c.fail(path, "%q is not a number JSON can hold", n.Value)
		return nil
	case "!!float":
		var f float64
		if err := n.Decode(&f); err == nil {
			if math.IsNaN(f) || math.IsInf(f, 0) {
				c.fail(path, "%s is not a number JSON can hold", n.Value)
				return nil
			}
			return f
		}
	}
	// Strings, and every other tag (timestamps, binary, custom tags) as
	// the text written: JSON has no type for them.
	return n.Value
}
