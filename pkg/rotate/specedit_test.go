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
