package rotate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

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
// with spec.phase alone. spec.phaseSince becomes at (the move's time) in
// the same write when the rotation renders alerts (its phase-stuck alert
// counts from it) or the file already records it; otherwise the file
// stays as it was, with spec.phase alone changed.
func (p *Package) SetPosition(pos phases.Position, phaseHasSteps bool, at time.Time) error {
	fields := []specField{{"phase", string(pos.Phase)}}
	if phaseHasSteps || p.Rotation.Spec.Step != "" {
		fields = append(fields, specField{"step", string(pos.Step)})
	}
	if p.Rotation.Spec.Alerts != nil || !p.Rotation.Spec.PhaseSince.IsZero() {
		fields = append(fields, specField{"phaseSince", spec.TimestampOf(at).String()})
	}
	return p.editSpec(fields...)
}

// SetScope rewrites (or adds, after spec.phase) spec.scope in place.
func (p *Package) SetScope(scope phases.Scope) error {
	return p.editSpec(specField{"scope", string(scope)})
}

type specField struct{ key, value string }

// editedSpec is the CARotation file with the fields set, made in memory.
func (p *Package) editedSpec(fields ...specField) (before, after []byte, err error) {
	b, err := p.specBytes()
	if err != nil {
		return nil, nil, err
	}
	out := b
	for _, f := range fields {
		if out, err = setSpecScalar(out, f.key, f.value); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", p.File, err)
		}
	}
	return b, out, nil
}

// checkSpecEdits makes the edits a command will write in memory, so an
// edit carousel cannot make in place is refused before the command's first
// write, not after its material is written.
func (p *Package) checkSpecEdits(fields ...specField) error {
	if len(fields) == 0 {
		return nil
	}
	_, _, err := p.editedSpec(fields...)
	return err
}

// checkFunctionAnnotation is checkSpecEdits for the function annotation
// init adds.
func (p *Package) checkFunctionAnnotation() error {
	b, err := p.specBytes()
	if err != nil {
		return err
	}
	if _, _, err := addFunctionAnnotation(b); err != nil {
		return fmt.Errorf("%s: %w", p.File, err)
	}
	return nil
}

// editSpec sets the fields in one atomic rewrite of the CARotation file.
func (p *Package) editSpec(fields ...specField) error {
	b, out, err := p.editedSpec(fields...)
	if err != nil {
		return err
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
		case "phaseSince":
			p.Rotation.Spec.PhaseSince = spec.ParseTimestamp(f.value)
		}
	}
	return nil
}

func setPhaseText(b []byte, phase string) ([]byte, error) {
	return setSpecScalar(b, "phase", phase)
}

// carouselRoot returns the root mapping of the CARotation document in b.
func carouselRoot(b []byte) (*goyaml.Node, error) {
	// YAML reads a lone carriage return as a line break; the in-place
	// edits count lines by "\n" and would land on the wrong line.
	if bytes.Contains(bytes.ReplaceAll(b, []byte("\r\n"), nil), []byte("\r")) {
		return nil, errors.New("the file breaks lines with lone carriage returns, which carousel cannot edit in place: convert it to \\n (or \\r\\n) line endings")
	}
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
// spec.phase (or first, when phase is absent too). A spec in flow style
// (`spec: {...}`) gets the entry inside its braces, in the same places.
// The result is parsed again and must be the input with exactly that
// field set: an edit carousel cannot make in place is refused, never
// written half-right.
func setSpecScalar(b []byte, key, value string) ([]byte, error) {
	out, err := setSpecScalarText(b, key, value)
	if err != nil {
		return nil, err
	}
	if err := checkEdit(b, out, []string{"spec", key}, value); err != nil {
		return nil, fmt.Errorf("spec.%s: %w: set it to `%s` by hand", key, err, value)
	}
	return out, nil
}

func setSpecScalarText(b []byte, key, value string) ([]byte, error) {
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
		if specNode.Style&goyaml.FlowStyle != 0 {
			// Inside the braces: first for the phase, else after it.
			var before *goyaml.Node
			if key != "phase" {
				for i := 0; i+3 < len(specNode.Content); i += 2 {
					if specNode.Content[i].Value == "phase" {
						before = specNode.Content[i+2]
					}
				}
			}
			return insertFlow(lines, specNode, before, flowEntry(specNode, key, value))
		}
		if len(specNode.Content) == 0 {
			return nil, fmt.Errorf("spec.%s is missing and spec is not a mapping carousel can edit: add `%s: %s` under spec", key, key, value)
		}
		at := specNode.Content[0] // insert before the first field
		after := false
		if key != "phase" {
			if ph := fieldKey(specNode, "phase"); ph != nil {
				at, after = ph, true
			}
		}
		indent := strings.Repeat(" ", at.Column-1)
		if !plainValue.MatchString(value) {
			// A time (spec.phaseSince) is quoted, as a flow entry's is:
			// unquoted, YAML 1.1 readers take it for a timestamp.
			value = strconv.Quote(value)
		}
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
		return nil, fmt.Errorf("spec.%s is not a scalar carousel can edit in place: set it to `%s` by hand", key, value)
	}
	if v.Line-1 >= len(lines) {
		return nil, fmt.Errorf("spec.%s at line %d is not a scalar carousel can edit in place", key, v.Line)
	}
	line := lines[v.Line-1]
	col := v.Column - 1
	if v.Style&goyaml.TaggedStyle != 0 || v.Anchor != "" {
		// `!!str steady`, `&p steady`: the position is the tag's or the
		// anchor's; the scalar follows them.
		for range 2 {
			if col < len(line) && (line[col] == '!' || line[col] == '&') {
				for col < len(line) && line[col] != ' ' && line[col] != '\t' {
					col++
				}
				for col < len(line) && (line[col] == ' ' || line[col] == '\t') {
					col++
				}
			}
		}
	}
	width := len(v.Value)
	if v.Style&(goyaml.DoubleQuotedStyle|goyaml.SingleQuotedStyle) != 0 {
		col++ // keep the quotes
	} else if !plainValue.MatchString(value) {
		// A plain time was read as a timestamp, not text: written
		// quoted, as an insert writes it.
		value = strconv.Quote(value)
	}
	if col+width > len(line) || string(line[col:col+width]) != v.Value {
		return nil, fmt.Errorf("spec.%s at line %d is not a scalar carousel can edit in place: set it to `%s` by hand", key, v.Line, value)
	}
	edited := append(append(append([]byte{}, line[:col]...), value...), line[col+width:]...)
	lines[v.Line-1] = edited
	return bytes.Join(lines, nil), nil
}

// plainValue matches the values carousel writes (phase, step and scope
// names) that need no quotes, in a block or a flow mapping.
var plainValue = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*$`)

// flowEntry is `key: value` for a flow mapping, quoted like its first key
// (a JSON-style file gets "key": "value").
func flowEntry(m *goyaml.Node, key, value string) string {
	quote := len(m.Content) > 0 && m.Content[0].Style&goyaml.DoubleQuotedStyle != 0
	if quote || !plainValue.MatchString(value) {
		value = strconv.Quote(value)
	}
	if quote {
		key = strconv.Quote(key)
	}
	return key + ": " + value
}

// insertFlow inserts entry into the flow mapping m: before the key node
// before (or m's first key when nil), or between the braces of an empty
// mapping. Only the inserted characters change.
func insertFlow(lines [][]byte, m, before *goyaml.Node, entry string) ([]byte, error) {
	at, text := before, entry+", "
	if at == nil && len(m.Content) > 0 {
		at = m.Content[0]
	}
	if at == nil {
		// `{}`: the position of the mapping is its opening brace.
		at, text = m, entry
	}
	i, col := at.Line-1, at.Column-1
	if at == m {
		col++
	}
	if i < 0 || i >= len(lines) || col <= 0 || col > len(lines[i]) || (at == m && lines[i][col-1] != '{') {
		return nil, errors.New("cannot find where to insert it in the flow mapping")
	}
	line := lines[i]
	lines[i] = append(append(append([]byte{}, line[:col]...), text...), line[col:]...)
	return bytes.Join(lines, nil), nil
}

// checkEdit parses the CARotation of before and after and fails unless
// after is before with the string at path set to value and nothing else
// changed: the guard of every in-place edit.
func checkEdit(before, after []byte, path []string, value string) error {
	decode := func(b []byte) (map[string]any, error) {
		root, err := carouselRoot(b)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := root.Decode(&m); err != nil {
			return nil, err
		}
		return m, nil
	}
	want, err := decode(before)
	if err != nil {
		return err
	}
	got, err := decode(after)
	if err != nil {
		return fmt.Errorf("the edited file does not parse (%v)", err)
	}
	m := want
	for _, k := range path[:len(path)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			if m[k] != nil {
				return errors.New("not a mapping carousel can edit in place")
			}
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[path[len(path)-1]] = value
	if !reflect.DeepEqual(want, got) {
		return errors.New("not a place carousel can edit in place (the edit would change more than the field)")
	}
	return nil
}

// functionAnnotation is the annotation that makes kustomize run the
// CARotation as an exec KRM function (examples/cluster-ca).
const functionAnnotation = "config.kubernetes.io/function"

// functionExec is the value of the function annotation init adds.
const functionExec = "exec:\n  path: carousel\n"

// addFunctionAnnotation adds metadata.annotations[config.kubernetes.io/function]
// = {exec: {path: carousel}} in place, unless a function annotation is set.
// It reports whether it changed anything. Block mappings get the literal
// block the examples use; a metadata or annotations mapping in flow style
// (`metadata: {name: x}`) gets the same value as a quoted flow entry. The
// result is parsed again and must be the input with exactly the annotation
// added.
func addFunctionAnnotation(b []byte) ([]byte, bool, error) {
	const what = "add under metadata:\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: carousel"
	out, changed, err := addFunctionAnnotationText(b)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %s", err, what)
	}
	if !changed {
		return b, false, nil
	}
	if err := checkEdit(b, out, []string{"metadata", "annotations", functionAnnotation}, functionExec); err != nil {
		return nil, false, fmt.Errorf("metadata.annotations is %w: %s", err, what)
	}
	return out, true, nil
}

func addFunctionAnnotationText(b []byte) ([]byte, bool, error) {
	root, err := carouselRoot(b)
	if err != nil {
		return nil, false, err
	}
	meta := field(root, "metadata")
	metaKey := fieldKey(root, "metadata")
	if meta == nil || meta.Kind != goyaml.MappingNode || (meta.Style&goyaml.FlowStyle == 0 && len(meta.Content) == 0) {
		return nil, false, errors.New("metadata is not a mapping carousel can edit")
	}
	anns := field(meta, "annotations")
	if anns != nil && field(anns, functionAnnotation) != nil {
		return b, false, nil
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	flowValue := strconv.Quote(functionExec)
	switch {
	case anns == nil && meta.Style&goyaml.FlowStyle != 0:
		k, fn := "annotations", functionAnnotation
		if len(meta.Content) > 0 && meta.Content[0].Style&goyaml.DoubleQuotedStyle != 0 {
			k, fn = strconv.Quote(k), strconv.Quote(fn)
		}
		out, err := insertFlow(lines, meta, nil, k+": {"+fn+": "+flowValue+"}")
		return out, err == nil, err
	case anns != nil && anns.Kind == goyaml.MappingNode && anns.Style&goyaml.FlowStyle != 0:
		fn := functionAnnotation
		if len(anns.Content) > 0 && anns.Content[0].Style&goyaml.DoubleQuotedStyle != 0 {
			fn = strconv.Quote(fn)
		}
		out, err := insertFlow(lines, anns, nil, fn+": "+flowValue)
		return out, err == nil, err
	}
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
	case anns.Kind == goyaml.MappingNode && len(anns.Content) > 0:
		first := anns.Content[0]
		ins = body(strings.Repeat(" ", first.Column-1))
		at = first.Line - 1
	default:
		return nil, false, errors.New("metadata.annotations is not a mapping carousel can edit")
	}
	if at < 0 || at > len(lines) {
		return nil, false, errors.New("metadata: cannot find where to insert the annotation")
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
