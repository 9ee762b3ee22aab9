package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/kio"

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

// TestGoldenPhases renders every phase of every example through the
// function and compares the ResourceList it writes with the golden file
// testdata/golden/<example>/<phase>.yaml (go test ./fn -update rewrites them).
func TestGoldenPhases(t *testing.T) {
	extra, _ := filepath.Glob(filepath.Join("testdata", "packages", "*"))
	for _, dir := range append(testkit.Examples(t), extra...) {
		pkg := testkit.Load(t, dir)
		for _, phase := range pkg.Phases(t) {
			t.Run(filepath.Base(dir)+"/"+string(phase), func(t *testing.T) {
				out, err := run(t, testkit.ResourceList(t, pkg.WithPhase(t, phase), pkg.CopyItems()))
				if err != nil {
					t.Fatalf("render failed: %v\n%s", err, out)
				}
				golden := filepath.Join("testdata", "golden", filepath.Base(dir), string(phase)+".yaml")
				if *update {
					if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(golden, out, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run `go test ./fn -run TestGoldenPhases -update` to create it)", err)
				}
				if !bytes.Equal(out, want) {
					t.Errorf("output differs from %s; if the change is intended, run `go test ./fn -run TestGoldenPhases -update` and review the diff", golden)
				}
			})
		}
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

// TestLeafReissueRollsOnlyTheReissuedHolders compares the one-leaf re-issue
// of examples/neuvector (--leaf internal) with the all-leaves re-issue of
// testdata/packages/neuvector-all-leaves: only holders of re-issued leaves
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
	all := rolls(filepath.Join("testdata", "packages", "neuvector-all-leaves"))
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
