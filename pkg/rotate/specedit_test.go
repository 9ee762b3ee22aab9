package rotate

import (
	"os"
	"strings"
	"testing"

	"github.com/carousel-dev/carousel/pkg/phases"
)

func TestSetPhaseKeepsCommentsAndFormatting(t *testing.T) {
	p := newPackage(t)
	if err := p.SetPhase(phases.TrustNew); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p.File)
	want := strings.Replace(rotation, "phase: steady", "phase: trust-new", 1)
	if string(b) != want {
		t.Fatalf("SetPhase changed more than the phase:\n--- want\n%s\n--- got\n%s", want, b)
	}
}

func TestAMissingPhaseOrScopeIsInsertedAndNothingElseChanges(t *testing.T) {
	noPhase := strings.Replace(rotation, "  phase: steady # advanced one PR at a time\n", "", 1)
	for _, tc := range []struct {
		name, in, key, value, want string
	}{
		{"the phase goes first under spec", noPhase, "phase", "trust-new",
			strings.Replace(noPhase, "spec:\n", "spec:\n  phase: trust-new\n", 1)},
		{"the scope goes after the phase", rotation, "scope", "leaf",
			strings.Replace(rotation, "# advanced one PR at a time\n", "# advanced one PR at a time\n  scope: leaf\n", 1)},
		{"the scope goes first without a phase", noPhase, "scope", "leaf",
			strings.Replace(noPhase, "spec:\n", "spec:\n  scope: leaf\n", 1)},
		{"an existing phase is replaced in place", rotation, "phase", "cleanup",
			strings.Replace(rotation, "phase: steady", "phase: cleanup", 1)},
		{"the phase's start goes after the phase, quoted", rotation, "phaseSince", "2027-01-01T00:00:00Z",
			strings.Replace(rotation, "# advanced one PR at a time\n", "# advanced one PR at a time\n  phaseSince: \"2027-01-01T00:00:00Z\"\n", 1)},
		{"an unquoted phase start is replaced in place, quoted", strings.Replace(rotation, "# advanced one PR at a time\n", "# advanced one PR at a time\n  phaseSince: 2026-01-01T00:00:00Z\n", 1), "phaseSince", "2027-01-01T00:00:00Z",
			strings.Replace(rotation, "# advanced one PR at a time\n", "# advanced one PR at a time\n  phaseSince: \"2027-01-01T00:00:00Z\"\n", 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := setSpecScalar([]byte(tc.in), tc.key, tc.value)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("--- want\n%s\n--- got\n%s", tc.want, got)
			}
		})
	}
}

func TestTheFunctionAnnotationIsAddedInPlaceOnce(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"without annotations", rotation, strings.Replace(rotation, "metadata:\n", "metadata:\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: carousel\n", 1)},
		{"beside other annotations", strings.Replace(rotation, "metadata:\n", "metadata:\n  annotations:\n    team: mesh\n", 1),
			strings.Replace(rotation, "metadata:\n", "metadata:\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: carousel\n    team: mesh\n", 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, changed, err := addFunctionAnnotation([]byte(tc.in))
			if err != nil || !changed {
				t.Fatalf("changed=%v err=%v", changed, err)
			}
			if string(got) != tc.want {
				t.Fatalf("--- want\n%s\n--- got\n%s", tc.want, got)
			}
			again, changed, err := addFunctionAnnotation(got)
			if err != nil || changed || string(again) != string(got) {
				t.Fatalf("a second pass changed the file: %v %v", changed, err)
			}
		})
	}
}

// A spec or metadata in flow style (`metadata: {name: x}`, as hack/bench.sh
// writes) is edited inside its braces; nothing else changes.
func TestFlowStyleMappingsAreEditedInPlace(t *testing.T) {
	const flow = "apiVersion: carousel.dev/v1alpha1\nkind: CARotation\nmetadata: {name: many} # generated\nspec:\n  ca: {}\n  leaves: [{name: a, secret: {name: a, namespace: ns}}]\n"
	const flowSpec = "apiVersion: carousel.dev/v1alpha1\nkind: CARotation\nmetadata: {name: many}\nspec: {phase: cleanup, ca: {}, leaves: []}\n"
	const json = `{"apiVersion": "carousel.dev/v1alpha1", "kind": "CARotation", "metadata": {"name": "many"}, "spec": {"ca": {}}}` + "\n"
	for _, tc := range []struct {
		name, in, key, value, want string
	}{
		{"the scope goes into a block spec", flow, "scope", "leaf",
			strings.Replace(flow, "spec:\n", "spec:\n  scope: leaf\n", 1)},
		{"the scope goes after the phase of a flow spec", flowSpec, "scope", "leaf",
			strings.Replace(flowSpec, "ca: {}", "scope: leaf, ca: {}", 1)},
		{"the phase of a flow spec is replaced", flowSpec, "phase", "steady",
			strings.Replace(flowSpec, "cleanup", "steady", 1)},
		{"the phase goes first into a JSON spec", json, "phase", "trust-new",
			strings.Replace(json, `"spec": {`, `"spec": {"phase": "trust-new", `, 1)},
		{"an empty flow spec gets the field between its braces", "apiVersion: carousel.dev/v1alpha1\nkind: CARotation\nmetadata: {name: x}\nspec: {}\n", "scope", "leaf",
			"apiVersion: carousel.dev/v1alpha1\nkind: CARotation\nmetadata: {name: x}\nspec: {scope: leaf}\n"},
		{"a tagged phase keeps its tag", strings.Replace(rotation, "phase: steady", "phase: !!str steady", 1), "phase", "trust-new",
			strings.Replace(rotation, "phase: steady", "phase: !!str trust-new", 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := setSpecScalar([]byte(tc.in), tc.key, tc.value)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("--- want\n%s\n--- got\n%s", tc.want, got)
			}
		})
	}
	for _, tc := range []struct {
		name, in, want string
	}{
		{"flow metadata", flow, strings.Replace(flow, "{name: many}", `{annotations: {config.kubernetes.io/function: "exec:\n  path: carousel\n"}, name: many}`, 1)},
		{"flow annotations", strings.Replace(flow, "{name: many}", "{name: many, annotations: {team: mesh}}", 1),
			strings.Replace(flow, "{name: many}", `{name: many, annotations: {config.kubernetes.io/function: "exec:\n  path: carousel\n", team: mesh}}`, 1)},
		{"empty flow annotations under block metadata", strings.Replace(rotation, "metadata:\n", "metadata:\n  annotations: {}\n", 1),
			strings.Replace(rotation, "metadata:\n", "metadata:\n  annotations: {config.kubernetes.io/function: \"exec:\\n  path: carousel\\n\"}\n", 1)},
		{"JSON", json, strings.Replace(json, `"metadata": {`, `"metadata": {"annotations": {"config.kubernetes.io/function": "exec:\n  path: carousel\n"}, `, 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, changed, err := addFunctionAnnotation([]byte(tc.in))
			if err != nil || !changed {
				t.Fatalf("changed=%v err=%v", changed, err)
			}
			if string(got) != tc.want {
				t.Fatalf("--- want\n%s\n--- got\n%s", tc.want, got)
			}
			again, changed, err := addFunctionAnnotation(got)
			if err != nil || changed || string(again) != string(got) {
				t.Fatalf("a second pass changed the file: %v %v", changed, err)
			}
		})
	}
}

// What the editor cannot change in place is refused, with the edit to make
// by hand, never written half-right.
func TestAnEditCarouselCannotMakeInPlaceIsRefused(t *testing.T) {
	for _, tc := range []struct{ name, in, key string }{
		{"a block scalar phase", strings.Replace(rotation, "phase: steady # advanced one PR at a time", "phase: >-\n    steady", 1), "phase"},
		{"an aliased phase", strings.NewReplacer("phase: steady # advanced one PR at a time", "phase: *p", "name: mesh", "name: &p mesh").Replace(rotation), "phase"},
		{"a phase with escapes", strings.Replace(rotation, "phase: steady", `phase: "stea\x64y"`, 1), "phase"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := setSpecScalar([]byte(tc.in), tc.key, "trust-new"); err == nil {
				t.Fatalf("edited:\n%s", got)
			} else if !strings.Contains(err.Error(), "by hand") {
				t.Fatalf("the refusal does not say what to do: %v", err)
			}
		})
	}
	if got, _, err := addFunctionAnnotation([]byte(strings.Replace(rotation, "metadata:\n", "metadata:\n  annotations: ~\n", 1))); err == nil {
		t.Fatalf("null annotations edited:\n%s", got)
	}
}

// FuzzSpecEdit: no CARotation file makes the in-place editor panic, and
// every edit it makes is the input with exactly the field set (checkEdit)
// that a second pass leaves alone.
func FuzzSpecEdit(f *testing.F) {
	for _, s := range []string{rotation, strings.Replace(rotation, "metadata:\n  name: mesh\n", "metadata: {name: mesh}\n", 1),
		"apiVersion: carousel.dev/v1alpha1\nkind: CARotation\nmetadata: {name: x}\nspec: {phase: cleanup, ca: {}}\n",
		`{"apiVersion": "carousel.dev/v1alpha1", "kind": "CARotation", "metadata": {}, "spec": {}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, e := range []specField{{"phase", "trust-new"}, {"scope", "leaf"}} {
			out, err := setSpecScalar(b, e.key, e.value)
			if err != nil {
				continue
			}
			again, err := setSpecScalar(out, e.key, e.value)
			if err != nil || string(again) != string(out) {
				t.Fatalf("setting spec.%s twice: %v\n%s\n---\n%s", e.key, err, out, again)
			}
		}
		if out, changed, err := addFunctionAnnotation(b); err == nil && changed {
			if again, changed, err := addFunctionAnnotation(out); err != nil || changed || string(again) != string(out) {
				t.Fatalf("annotating twice: %v %v\n%s", changed, err, out)
			}
		}
	})
}
