package fn

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
)

// refusedCase is a command refused before it writes: it must fail with
// fails and leave the package byte for byte as it was.
type refusedCase struct {
	name  string
	setup func(t *testing.T, dir, scratch string)
	args  func(scratch string) []string
	fails string
}

func refusedCases() []refusedCase {
	initialised := func(t *testing.T, dir, _ string) {
		crashPackage(t, dir)
		testkit.Cmd{Dir: dir}.Must(t, "init", "carousel.yaml", "--plaintext-keys")
	}
	args := func(a ...string) func(string) []string { return func(string) []string { return a } }
	return []refusedCase{{
		name:  "init --preset without an age recipient",
		setup: func(t *testing.T, dir, _ string) {},
		args:  args("init", "--preset", "linkerd", "carousel.yaml"),
		fails: "no age recipient is configured",
	}, {
		name:  "init --preset with an age recipient sops refuses",
		setup: func(t *testing.T, dir, _ string) {},
		args:  args("init", "--preset", "linkerd", "carousel.yaml", "--age", "notakey"),
		fails: "unknown recipient type",
	}, {
		name:  "init --preset --ca-key without --ca-cert",
		setup: func(t *testing.T, dir, _ string) {},
		args:  args("init", "--preset", "linkerd", "carousel.yaml", "--ca-key", "ca.key", "--plaintext-keys"),
		fails: "--ca-key needs --ca-cert",
	}, {
		name: "init of a CARotation whose annotations it cannot add to",
		setup: func(t *testing.T, dir, _ string) {
			b := strings.Replace(bareRotation, "  name: mesh\n", "  name: mesh\n  annotations: # none yet\n", 1)
			if err := os.WriteFile(filepath.Join(dir, "carousel.yaml"), []byte(b), 0o644); err != nil {
				t.Fatal(err)
			}
		},
		args:  args("init", "carousel.yaml", "--plaintext-keys"),
		fails: "add under metadata",
	}, {
		name: "start from cleanup with a phase it cannot set back to steady",
		setup: func(t *testing.T, dir, scratch string) {
			initialised(t, dir, scratch)
			testkit.Cmd{Dir: dir}.Must(t, "start", "carousel.yaml", "--plaintext-keys")
			setPhaseText(t, dir, phases.Cleanup)
			f := filepath.Join(dir, "carousel.yaml")
			b, _ := os.ReadFile(f)
			if err := os.WriteFile(f, []byte(strings.Replace(string(b), "  phase: cleanup", "  phase: >-\n    cleanup", 1)), 0o644); err != nil {
				t.Fatal(err)
			}
		},
		args:  args("start", "carousel.yaml", "--plaintext-keys"),
		fails: "by hand",
	}, {
		name: "renew of a leaf with a scope it cannot change",
		setup: func(t *testing.T, dir, scratch string) {
			initialised(t, dir, scratch)
			f := filepath.Join(dir, "carousel.yaml")
			b, _ := os.ReadFile(f)
			b = []byte(strings.Replace(string(b), "  phase: steady", "  phase: steady\n  scope: >-\n    ca", 1))
			if err := os.WriteFile(f, b, 0o644); err != nil {
				t.Fatal(err)
			}
		},
		// The leaves expire within 100,000 h (10 years), the CA does not: a
		// leaf re-issue, scope leaf.
		args:  args("renew", "carousel.yaml", "--before", "100000h", "--plaintext-keys"),
		fails: "by hand",
	}}
}

// Every command validates, then writes: a refused one leaves the package
// byte for byte as it was (fn/crash_test.go kills these at every file
// syscall too).
func TestARefusedCommandWritesNothing(t *testing.T) {
	for _, c := range refusedCases() {
		t.Run(c.name, func(t *testing.T) {
			dir, scratch := filepath.Join(t.TempDir(), "pkg"), t.TempDir()
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			c.setup(t, dir, scratch)
			before := stateHash(t, dir)
			r := testkit.Cmd{Dir: dir}.Run(t, c.args(scratch)...)
			if r.Err == nil {
				t.Fatalf("%v was not refused:\n%s", c.args(scratch), r.Out)
			}
			if stateHash(t, dir) != before {
				t.Errorf("the refused %v changed the package:\n%s", c.args(scratch), r.Out)
			}
			if !strings.Contains(r.Out, c.fails) {
				t.Errorf("the refusal does not say %q:\n%s", c.fails, r.Out)
			}
		})
	}
}
