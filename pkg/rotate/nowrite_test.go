package rotate

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carousel-dev/carousel/pkg/phases"
)

// flowRotation is a CARotation as hack/bench.sh generates it: metadata and
// the leaves in flow style.
const flowRotation = `apiVersion: carousel.dev/v1alpha1
kind: CARotation
metadata: {name: many}
spec:
  ca: {}
  leaves:
  - {name: leaf-1, secret: {name: leaf-1, namespace: ns}, dnsNames: [leaf-1.ns.svc]}
`

func packageOf(t *testing.T, body string) *Package {
	t.Helper()
	file := filepath.Join(t.TempDir(), "carousel.yaml")
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// snapshot is every file under dir: its path, mode and bytes.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		v := info.Mode().String()
		if d.Type().IsRegular() {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			v += "\n" + string(b)
		}
		out[path] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameFiles(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	for path, v := range after {
		if w, ok := before[path]; !ok {
			t.Errorf("%s wrote %s", what, path)
		} else if w != v {
			t.Errorf("%s changed %s", what, path)
		}
	}
	for path := range before {
		if _, ok := after[path]; !ok {
			t.Errorf("%s removed %s", what, path)
		}
	}
}

// init on a flow-style metadata (`metadata: {name: many}`) used to write
// the material and then fail: "metadata is not a block mapping".
func TestInitAnnotatesAFlowStyleMetadataAndStartRuns(t *testing.T) {
	p := packageOf(t, flowRotation)
	if _, err := Init(p, plaintext); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p.File)
	want := strings.Replace(flowRotation, "{name: many}", `{annotations: {config.kubernetes.io/function: "exec:\n  path: carousel\n"}, name: many}`, 1)
	if string(b) != want {
		t.Fatalf("--- want\n%s\n--- got\n%s", want, b)
	}
	p, err := Load(p.File)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Start(p, plaintext, StartRequest{Scope: phases.ScopeLeaf}); err != nil {
		t.Fatal(err)
	}
	if p.Rotation.Spec.Scope != phases.ScopeLeaf {
		t.Fatalf("the scope is %s", p.Rotation.Spec.Scope)
	}
}

// A spec edit carousel cannot make in place is refused before anything is
// written: the package stays byte for byte as it was.
func TestACommandThatCannotEditTheSpecWritesNothing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spec  string
		setup func(t *testing.T, p *Package)
		run   func(p *Package) error
	}{{
		name: "init, annotations it cannot add to",
		spec: strings.Replace(rotation, "  name: mesh\n", "  name: mesh\n  annotations: # none yet\n", 1),
		run:  func(p *Package) error { _, err := Init(p, plaintext); return err },
	}, {
		name: "start from cleanup, a phase it cannot set back to steady",
		spec: rotation,
		setup: func(t *testing.T, p *Package) {
			if _, err := Init(p, plaintext); err != nil {
				t.Fatal(err)
			}
			if _, err := Start(p, plaintext, StartRequest{}); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(p.File)
			b = []byte(strings.Replace(string(b), "phase: steady # advanced one PR at a time", "phase: >-\n    cleanup", 1))
			if err := os.WriteFile(p.File, b, 0o644); err != nil {
				t.Fatal(err)
			}
		},
		run: func(p *Package) error { _, err := Start(p, plaintext, StartRequest{}); return err },
	}, {
		name: "start --scope leaf, a scope it cannot change",
		spec: strings.Replace(rotation, "  phase: steady # advanced one PR at a time\n", "  phase: steady\n  scope: >-\n    ca\n", 1),
		setup: func(t *testing.T, p *Package) {
			if _, err := Init(p, plaintext); err != nil {
				t.Fatal(err)
			}
		},
		run: func(p *Package) error {
			_, err := Start(p, plaintext, StartRequest{Scope: phases.ScopeLeaf})
			return err
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			p := packageOf(t, tc.spec)
			if tc.setup != nil {
				tc.setup(t, p)
			}
			p, err := Load(p.File)
			if err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, filepath.Dir(p.File))
			err = tc.run(p)
			if err == nil {
				t.Fatal("not refused")
			}
			sameFiles(t, "the refused command", before, snapshot(t, filepath.Dir(p.File)))
			if !strings.Contains(err.Error(), "by hand") && !strings.Contains(err.Error(), "add under metadata") {
				t.Errorf("the refusal does not say what edit to make by hand: %v", err)
			}
		})
	}
}
