package examples

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/types"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
)

// buildPhases are the phases every example is built at: every phase of a
// CA rotation and the leaf re-issue. A package whose rotation has no such
// phase must fail both ways.
var buildPhases = []phases.Phase{phases.Steady, phases.TrustNew, phases.SignNew, phases.DistrustOld, phases.Cleanup, phases.Reissue}

// TestCarouselBuildIsKustomizeWithExecOnEveryExample builds every
// kustomization under examples/ whose build runs a carousel function, at
// every phase, with the real kustomize --enable-alpha-plugins
// --enable-exec (carousel as an exec function, bin/carousel) and with
// `carousel build` (no program), and wants the same bytes, or a failure
// both ways. examples/container names carousel's container image, which
// no Docker engine here can run: kustomize runs the same config as exec,
// carousel build the container config as it is.
func TestCarouselBuildIsKustomizeWithExecOnEveryExample(t *testing.T) {
	t.Parallel()
	src := filepath.Join(testkit.Root(t), "examples")
	roots := functionRoots(t, src)
	for _, must := range []string{"cluster-ca", "argocd/app", "container", "fleet/clusters/prod-eu", "kpt", "multi-app/apps/orders", "multi-app/platform/rotation", "osm-mrc"} {
		if !slices.Contains(roots, must) {
			t.Fatalf("%s is not among the builds that run carousel (%v): the detection is broken", must, roots)
		}
	}
	bin := testkit.Carousel(t)
	env := []string{testkit.BinFirstOnPath(t), "SOPS_AGE_KEY_FILE=" + filepath.Join(testkit.Root(t), testkit.AgeKeyFile), testkit.NowEnv()}
	for _, phase := range buildPhases {
		t.Run(string(phase), func(t *testing.T) {
			t.Parallel()
			ours, theirs := t.TempDir(), t.TempDir()
			for _, dir := range []string{ours, theirs} {
				if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
					t.Fatal(err)
				}
				testkit.SetPhase(t, dir, phase)
				setFleetPhase(t, dir, phase)
			}
			containerAsExec(t, filepath.Join(theirs, "container", "carousel.yaml"), bin)
			for _, rel := range roots {
				if rel == "multi-app/team-ledger/ledger" {
					// Its state is a remote resource: kustomize fetches it
					// (examples/multiapp_test.go), carousel build refuses.
					r := testkit.Cmd{Env: env}.Run(t, "build", filepath.Join(ours, rel))
					if r.Code == 0 || !strings.Contains(r.Stderr, "fetches nothing") {
						t.Errorf("%s: a remote resource was not refused:\n%s", rel, r.Out)
					}
					continue
				}
				cmd := exec.Command(testkit.Tool(t, "kustomize"), "build", "--enable-alpha-plugins", "--enable-exec", filepath.Join(theirs, rel))
				cmd.Env = append(os.Environ(), env...)
				var want, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &want, &stderr
				errWant := cmd.Run()
				r := testkit.Cmd{Env: env}.Run(t, "build", filepath.Join(ours, rel))
				switch {
				case errWant != nil && r.Err != nil && phase == phases.Steady:
					// Every example renders its committed phase: a test that
					// only saw failures would compare nothing.
					t.Errorf("%s at steady fails both ways: %v: %s\n%s", rel, errWant, stderr.String(), r.Out)
				case errWant != nil && r.Err != nil:
				case errWant != nil:
					t.Errorf("%s at %s: kustomize failed (%v: %s), carousel build did not", rel, phase, errWant, stderr.String())
				case r.Err != nil:
					t.Errorf("%s at %s: carousel build failed, kustomize did not:\n%s", rel, phase, r.Out)
				case r.Stdout != want.String():
					t.Errorf("%s at %s: carousel build differs from kustomize --enable-exec:\n%s", rel, phase, testkit.Diff("kustomize", "carousel build", want.Bytes(), []byte(r.Stdout)))
				}
			}
		})
	}
}

// functionRoots lists the kustomizations under dir (relative paths) whose
// build runs a carousel function: one of their transformers (a file, an
// inline entry, or a directory's build) is a function config, or a
// kustomization they include runs one.
func functionRoots(t *testing.T, dir string) []string {
	t.Helper()
	var roots []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "kustomization.yaml" {
			return err
		}
		if runsCarousel(t, filepath.Dir(p), 0) {
			rel, _ := filepath.Rel(dir, filepath.Dir(p))
			roots = append(roots, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return roots
}

var functionAnnotation = regexp.MustCompile(`config\.kubernetes\.io/function:[\s|]*(exec:\s*\n?\s*path:\s*\S*carousel|container:\s*\n?\s*image:\s*\S*/carousel[:@\s])`)

func runsCarousel(t *testing.T, dir string, depth int) bool {
	t.Helper()
	if depth > 10 {
		t.Fatalf("%s: kustomizations nest too deep", dir)
	}
	b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return false
	}
	var k types.Kustomization
	if err := k.Unmarshal(b); err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	k.FixKustomization()
	// A configs directory yields function configs from its resources.
	configsIn := func(d string) bool {
		found := false
		_ = filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err == nil && !e.IsDir() && strings.HasSuffix(p, ".yaml") {
				c, _ := os.ReadFile(p)
				found = found || functionAnnotation.Match(c)
			}
			return nil
		})
		return found
	}
	for _, e := range k.Transformers {
		p := filepath.Join(dir, e)
		if functionAnnotation.MatchString(e) {
			return true
		}
		if fi, err := os.Stat(p); err == nil {
			if fi.IsDir() {
				rb, _ := os.ReadFile(filepath.Join(p, "kustomization.yaml"))
				var rk types.Kustomization
				_ = rk.Unmarshal(rb)
				for _, r := range rk.Resources {
					if configsIn(filepath.Join(p, r)) {
						return true
					}
				}
			} else if c, _ := os.ReadFile(p); functionAnnotation.Match(c) {
				return true
			}
		}
	}
	for _, r := range append(k.Resources, k.Components...) {
		if fi, err := os.Stat(filepath.Join(dir, r)); err == nil && fi.IsDir() && runsCarousel(t, filepath.Join(dir, r), depth+1) {
			return true
		}
	}
	return false
}

var fleetPhase = regexp.MustCompile(`(?m)^(\s*value:\s*)(steady|trust-new|sign-new|distrust-old|cleanup|reissue)\s*$`)

// setFleetPhase sets the phase the fleet's cluster overlays patch in.
func setFleetPhase(t *testing.T, dir string, phase phases.Phase) {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(dir, "fleet", "clusters", "*", "rotation", "kustomization.yaml"))
	if len(matches) == 0 {
		t.Fatal("no fleet cluster patches the phase")
	}
	for _, p := range matches {
		b, err := os.ReadFile(p)
		if err != nil || !fleetPhase.Match(b) {
			t.Fatalf("%s patches no phase: %v", p, err)
		}
		if err := os.WriteFile(p, fleetPhase.ReplaceAll(b, []byte("${1}"+string(phase))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

var containerFunction = regexp.MustCompile(`(?m)^(\s*)container:\n\s*image: \S+\n(\s*network: \w+\n)?`)

// containerAsExec rewrites a container function config to run bin as exec.
func containerAsExec(t *testing.T, file, bin string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil || !containerFunction.Match(b) {
		t.Fatalf("%s names no container function: %v", file, err)
	}
	if err := os.WriteFile(file, containerFunction.ReplaceAll(b, []byte("${1}exec:\n${1}  path: "+bin+"\n")), 0o644); err != nil {
		t.Fatal(err)
	}
}
