package rotate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	goyaml "go.yaml.in/yaml/v3"

	"github.com/carousel-dev/carousel/pkg/atomicfile"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// SetPhase rewrites spec.phase in the CARotation file (adding it when it is
// absent: the default phase is steady). Only the phase's characters change:
// the scalar is replaced at its position in the source, so comments,
// quoting and formatting elsewhere stay byte for byte (a re-serialisation
// would re-quote flow scalars and move comments). The file is replaced in
// one atomic write: a kill leaves the old phase or the new one.
func (p *Package) SetPhase(phase phases.Phase) error {
	return p.editSpec(specField{"phase", string(phase)})
}

// SetPosition rewrites spec.phase and spec.step in one atomic write. The
// step is written when the phase has several steps or the file already
// names one, so a rotation whose phases are one step each keeps a file
// with spec.phase alone.
func (p *Package) SetPosition(pos phases.Position, phaseHasSteps bool) error {
	fields := []specField{{"phase", string(pos.Phase)}}
	if phaseHasSteps || p.Rotation.Spec.Step != "" {
		fields = append(fields, specField{"step", string(pos.Step)})
	}
	return p.editSpec(fields...)
}

// SetScope rewrites (or adds, after spec.phase) spec.scope in place.
func (p *Package) SetScope(scope phases.Scope) error {
	return p.editSpec(specField{"scope", string(scope)})
}

type specField struct{ key, value string }

// editSpec sets the fields in one atomic rewrite of the CARotation file.
func (p *Package) editSpec(fields ...specField) error {
	b, err := os.ReadFile(p.File)
	if err != nil {
		return err
	}
	out := b
	for _, f := range fields {
		if out, err = setSpecScalar(out, f.key, f.value); err != nil {
			return fmt.Errorf("%s: %w", p.File, err)
		}
	}
	if bytes.Equal(out, b) {
		return nil
	}
	perm := os.FileMode(0o644)
	if fi, err := os.Stat(p.File); err == nil {
		perm = fi.Mode().Perm()
	}
	if err := atomicfile.WriteFile(p.File, out, perm); err != nil {
		return err
	}
	for _, f := range fields {
		switch f.key {
		case "phase":
			p.Rotation.Spec.Phase = phases.Phase(f.value)
		case "scope":
			p.Rotation.Spec.Scope = phases.Scope(f.value)
		case "step":
			p.Rotation.Spec.Step = phases.Step(f.value)
		}
	}
	return nil
}

func setPhaseText(b []byte, phase string) ([]byte, error) {
	return setSpecScalar(b, "phase", phase)
}

// carouselRoot returns the root mapping of the CARotation document in b.
func carouselRoot(b []byte) (*goyaml.Node, error) {
	dec := goyaml.NewDecoder(bytes.NewReader(b))
	for {
		var doc goyaml.Node
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, errors.New("no CARotation found")
			}
			return nil, err
		}
		if len(doc.Content) == 0 {
			continue
		}
		root := doc.Content[0]
		if k := field(root, "kind"); k != nil && k.Value == spec.Kind {
			return root, nil
		}
	}
}

// setSpecScalar replaces spec.<key> at its source position, or inserts it:
// spec.phase as the first field of spec, other keys on the line after
// spec.phase (or first, when phase is absent too).
func setSpecScalar(b []byte, key, value string) ([]byte, error) {
	root, err := carouselRoot(b)
	if err != nil {
		return nil, err
	}
	specNode := field(root, "spec")
	if specNode == nil || specNode.Kind != goyaml.MappingNode {
		return nil, errors.New("the CARotation has no spec")
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	v := field(specNode, key)
	if v == nil {
		if specNode.Style&goyaml.FlowStyle != 0 || len(specNode.Content) == 0 {
			return nil, fmt.Errorf("spec.%s is missing and spec is not a block mapping carousel can edit: add `%s: %s` under spec", key, key, value)
		}
		at := specNode.Content[0] // insert before the first field
		after := false
		if key != "phase" {
			if ph := fieldKey(specNode, "phase"); ph != nil {
				at, after = ph, true
			}
		}
		indent := strings.Repeat(" ", at.Column-1)
		ins := []byte(indent + key + ": " + value + "\n")
		i := at.Line - 1
		if after {
			i = at.Line
		}
		if i > len(lines) {
			return nil, fmt.Errorf("spec.%s: cannot find where to insert it", key)
		}
		if i == len(lines) && len(lines) > 0 && !bytes.HasSuffix(lines[i-1], []byte("\n")) {
			ins = append([]byte("\n"), ins...)
		}
		lines = append(lines[:i], append([][]byte{ins}, lines[i:]...)...)
		return bytes.Join(lines, nil), nil
	}
	if v.Kind != goyaml.ScalarNode {
		return nil, fmt.Errorf("spec.%s is not a scalar: set it to `%s`", key, value)
	}
	line := lines[v.Line-1]
	col := v.Column - 1
	width := len(v.Value)
	if v.Style&(goyaml.DoubleQuotedStyle|goyaml.SingleQuotedStyle) != 0 {
		col++ // keep the quotes
	}
	if col+width > len(line) || string(line[col:col+width]) != v.Value {
		return nil, fmt.Errorf("spec.%s at line %d is not a scalar carousel can edit in place", key, v.Line)
	}
	edited := append(append(append([]byte{}, line[:col]...), value...), line[col+width:]...)
	lines[v.Line-1] = edited
	return bytes.Join(lines, nil), nil
}

// functionAnnotation is the annotation that makes kustomize run the
// CARotation as an exec KRM function (examples/cluster-ca).
const functionAnnotation = "config.kubernetes.io/function"

// addFunctionAnnotation adds metadata.annotations[config.kubernetes.io/function]
// = {exec: {path: carousel}} in place, unless a function annotation is set.
// It reports whether it changed anything.
func addFunctionAnnotation(b []byte) ([]byte, bool, error) {
	root, err := carouselRoot(b)
	if err != nil {
		return nil, false, err
	}
	meta := field(root, "metadata")
	metaKey := fieldKey(root, "metadata")
	const what = "add under metadata:\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: carousel"
	if meta == nil || meta.Kind != goyaml.MappingNode || meta.Style&goyaml.FlowStyle != 0 || len(meta.Content) == 0 {
		return nil, false, fmt.Errorf("metadata is not a block mapping carousel can edit: %s", what)
	}
	anns := field(meta, "annotations")
	if anns != nil && field(anns, functionAnnotation) != nil {
		return b, false, nil
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	body := func(indent string) string {
		return indent + functionAnnotation + ": |\n" + indent + "  exec:\n" + indent + "    path: carousel\n"
	}
	var ins string
	var at int // insert before this 0-based line
	switch {
	case anns == nil:
		first := meta.Content[0]
		ind := strings.Repeat(" ", first.Column-1)
		step := strings.Repeat(" ", first.Column-metaKey.Column)
		ins = ind + "annotations:\n" + body(ind+step)
		at = first.Line - 1
	case anns.Kind == goyaml.MappingNode && anns.Style&goyaml.FlowStyle == 0 && len(anns.Content) > 0:
		first := anns.Content[0]
		ins = body(strings.Repeat(" ", first.Column-1))
		at = first.Line - 1
	default:
		return nil, false, fmt.Errorf("metadata.annotations is not a block mapping carousel can edit: %s", what)
	}
	lines = append(lines[:at], append([][]byte{[]byte(ins)}, lines[at:]...)...)
	return bytes.Join(lines, nil), true, nil
}

// fieldKey returns the key node of a mapping entry (for its position).
func fieldKey(m *goyaml.Node, key string) *goyaml.Node {
	if m == nil || m.Kind != goyaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i]
		}
	}
	return nil
}

func field(m *goyaml.Node, key string) *goyaml.Node {
	if m == nil || m.Kind != goyaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// WithFunctionAnnotation is b as init leaves it: with the exec function
// annotation added unless one is set. init --preset (pkg/presets) uses it to
// recognise a CARotation file an interrupted init already annotated as the
// preset it wrote, so the rerun completes instead of refusing.
func WithFunctionAnnotation(b []byte) ([]byte, error) {
	out, _, err := addFunctionAnnotation(b)
	return out, err
}
