package fn

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/kio"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite golden files from the actual output")

func fixedClock() (time.Time, error) { return testkit.Now, nil }

// run executes the processor the way the binary does and returns stdout.
func run(t *testing.T, input []byte) ([]byte, error) {
	t.Helper()
	var out bytes.Buffer
	err := executeWith(input, &out)
	return out.Bytes(), err
}

func executeWith(input []byte, out *bytes.Buffer) error {
	rw := &kio.ByteReadWriter{Reader: bytes.NewReader(input), Writer: out, KeepReaderAnnotations: true}
	return framework.Execute(buildProcessor(fixedClock), rw)
}

// A render case is one folder under testdata/render: case.yaml names the
// package it renders (`example: <dir>` for a package under examples/, or
// none for the case's own input/), and expected/<phase>.yaml holds the
// ResourceList the function writes for each phase of its rotation.
type renderCase struct {
	name, dir, pkg string
}

// caseFile is the shape of testdata/render/<case>/case.yaml.
type caseFile struct {
	Example string `json:"example,omitempty"`
}

func renderCases(t *testing.T) []renderCase {
	t.Helper()
	root := filepath.Join("testdata", "render")
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var out []renderCase
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(root, e.Name())
		b, err := os.ReadFile(filepath.Join(dir, "case.yaml"))
		if err != nil {
			t.Fatalf("%v: every case says what it renders", err)
		}
		var c caseFile
		if err := sigsyaml.UnmarshalStrict(b, &c); err != nil {
			t.Fatalf("%s/case.yaml: %v", dir, err)
		}
		pkg := filepath.Join(dir, "input")
		if c.Example != "" {
			pkg = filepath.Join(testkit.Root(t), "examples", c.Example)
		}
		out = append(out, renderCase{name: e.Name(), dir: dir, pkg: pkg})
	}
	return out
}

// TestGoldenPhases renders every phase (and every step of a phase with
// several) of every case through the function and compares the
// ResourceList it writes with the case's expected/<phase>.yaml (the
// phase's first step, spec.step unset) or expected/<phase>.<step>.yaml
// (a later step), printing a unified diff on a mismatch
// (`make goldens` rewrites them).
func TestGoldenPhases(t *testing.T) {
	cases := renderCases(t)
	for _, c := range cases {
		pkg := testkit.Load(t, c.pkg)
		var names []string
		for _, pos := range pkg.Positions(t) {
			name, cfg := string(pos.Phase), pkg.WithPhase(t, pos.Phase)
			if !pkg.FirstStep(t, pos) {
				name, cfg = string(pos.Phase)+"."+string(pos.Step), pkg.WithPosition(t, pos)
			}
			names = append(names, name)
			t.Run(c.name+"/"+name, func(t *testing.T) {
				out, err := run(t, testkit.ResourceList(t, cfg, pkg.CopyItems()))
				if err != nil {
					t.Fatalf("render failed: %v\n%s", err, out)
				}
				golden(t, filepath.Join(c.dir, "expected", name+".yaml"), string(out))
			})
		}
		files, _ := filepath.Glob(filepath.Join(c.dir, "expected", "*.yaml"))
		for _, f := range files {
			if !slices.Contains(names, strings.TrimSuffix(filepath.Base(f), ".yaml")) {
				t.Errorf("%s is not a phase (or step) of the case's rotation: remove it", f)
			}
		}
	}
	// Every example has a case, so a new example is rendered and pinned too.
	for _, dir := range testkit.Examples(t) {
		name := filepath.Base(dir)
		if slices.ContainsFunc(cases, func(c renderCase) bool { return c.pkg == dir }) {
			continue
		}
		caseDir := filepath.Join("testdata", "render", name)
		if !*update {
			t.Errorf("examples/%s has no render case: run `make goldens` to create %s", name, caseDir)
			continue
		}
		if err := os.MkdirAll(caseDir, 0o755); err != nil {
			t.Fatal(err)
		}
		text := fmt.Sprintf("# Renders examples/%s: each phase of its rotation, through the function,\n# must equal expected/<phase>.yaml.\nexample: %s\n", name, name)
		if err := os.WriteFile(filepath.Join(caseDir, "case.yaml"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Errorf("created %s: run `make goldens` again to render its expected phases, and review them", caseDir)
	}
}

// golden compares got with the file at path, printing a unified diff when
// they differ; with -update it rewrites the file first. `make goldens` runs
// the tests that call it with -update: a new one goes in the Makefile's
// GOLDEN_TESTS.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (`make goldens` creates it)", err)
	}
	if d := testkit.Diff(path, "got", want, []byte(got)); d != "" {
		t.Errorf("output differs from %s; if the change is intended, run `make goldens` and review the diff:\n%s", path, d)
	}
}

// TestRenderingIsDeterministic renders each phase twice, in-process and
// through the real kustomize binary, and requires identical bytes.
func TestRenderingIsDeterministic(t *testing.T) {
	for _, dir := range testkit.Examples(t) {
		pkg := testkit.Load(t, dir)
		for _, phase := range pkg.Phases(t) {
			t.Run(filepath.Base(dir)+"/"+string(phase), func(t *testing.T) {
				input := testkit.ResourceList(t, pkg.WithPhase(t, phase), pkg.CopyItems())
				a, errA := run(t, input)
				b, errB := run(t, input)
				if errA != nil || errB != nil {
					t.Fatalf("render failed: %v %v", errA, errB)
				}
				if !bytes.Equal(a, b) {
					t.Fatal("two in-process renders of the same input differ")
				}
				k1 := testkit.Kustomize(t, dir, phase)
				k2 := testkit.Kustomize(t, dir, phase)
				if !bytes.Equal(k1, k2) {
					t.Fatal("two kustomize builds of the same package differ")
				}
			})
		}
	}
}

// TestLeafReissueRollsOnlyTheReissuedHolders compares the re-issue of
// examples/neuvector (its one leaf, which the manager does not hold) with
// the all-leaves re-issue of testdata/render/neuvector-all-leaves/input
// (where the manager holds a second leaf): only holders of re-issued leaves
// roll.
func TestLeafReissueRollsOnlyTheReissuedHolders(t *testing.T) {
	rolls := func(dir string) []string {
		pkg := testkit.Load(t, dir)
		steady, reissue := pkg.Render(t, "steady"), pkg.Render(t, "reissue")
		was := map[string]string{}
		for _, r := range steady.Restarts {
			was[r.Name] = r.Hash
		}
		var out []string
		for _, r := range reissue.Restarts {
			if was[r.Name] != r.Hash {
				out = append(out, r.Name)
			}
		}
		slices.Sort(out)
		return out
	}
	one := rolls(filepath.Join(testkit.Root(t), "examples", "neuvector"))
	all := rolls(filepath.Join("testdata", "render", "neuvector-all-leaves", "input"))
	wantOne := []string{"neuvector-controller-pod", "neuvector-enforcer-pod", "neuvector-scanner-pod"}
	if !slices.Equal(one, wantOne) {
		t.Errorf("re-issuing the internal leaf rolled %v, want %v", one, wantOne)
	}
	wantAll := append(slices.Clone(wantOne), "neuvector-manager-pod")
	slices.Sort(wantAll)
	if !slices.Equal(all, wantAll) {
		t.Errorf("re-issuing every leaf rolled %v, want %v", all, wantAll)
	}
}
