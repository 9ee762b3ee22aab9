package examples

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
)

// The presets list the routes (scopes) each system is known to support
// (spec.routes). Where the repository runs the system's own CA code, each
// route it lists beyond the CA rotation is held to it here: the example,
// started on that route from steady, renders every phase with the real
// kustomize and sops, and the system's loader accepts every phase's CA
// Secret, trusting exactly the phase's set and issuing a certificate that
// verifies up to a CA the phase's leaves chain to. A route a preset leaves
// out is refused by start.

// demoAgeRecipient is the recipient of the demo identity the examples'
// material is encrypted to (hack/testdata/demo-age.key).
const demoAgeRecipient = "age1lp9r0dtnjv6nkxud78yj4n36hr7ddgsxlmlhnz68fjsqwrpheslst0yzfx"

// atSteadyWithoutNext copies an example and drops the next rotation's
// material it holds (the examples are committed started, so every phase
// renders), leaving a package at steady that a route can start from.
func atSteadyWithoutNext(t *testing.T, example string) string {
	t.Helper()
	tmp := t.TempDir()
	if err := os.CopyFS(tmp, os.DirFS(filepath.Join(testkit.Root(t), "examples", example))); err != nil {
		t.Fatal(err)
	}
	mat := filepath.Join(tmp, "material")
	news, _ := filepath.Glob(filepath.Join(mat, "*-new.yaml"))
	if len(news) == 0 {
		t.Fatalf("examples/%s holds no next material", example)
	}
	k, err := os.ReadFile(filepath.Join(mat, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range news {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
		k = bytes.Replace(k, []byte("- "+filepath.Base(f)+"\n"), nil, 1)
	}
	if err := os.WriteFile(filepath.Join(mat, "kustomization.yaml"), k, 0o644); err != nil {
		t.Fatal(err)
	}
	return tmp
}

// startRoute starts the route on the package in dir: emergency after
// marking the current CA compromised, as start says to.
func startRoute(t *testing.T, dir string, route phases.Scope) {
	t.Helper()
	cmd := testkit.Cmd{Dir: dir, AgeKey: true}
	args := []string{"start", "carousel.yaml", "--scope", string(route), "--age", demoAgeRecipient}
	if route == phases.ScopeEmergency {
		r := cmd.Run(t, args...)
		m := regexp.MustCompile(`compromised:\n  - ([0-9a-f]{64})\n`).FindStringSubmatch(r.Out)
		if r.Code == 0 || m == nil {
			t.Fatalf("start --scope emergency of an unmarked CA must refuse, printing the mark: exit %d\n%s", r.Code, r.Out)
		}
		f := filepath.Join(dir, "carousel.yaml")
		b, _ := os.ReadFile(f)
		if err := os.WriteFile(f, bytes.Replace(b, []byte("\nspec:\n"), []byte("\nspec:\n  compromised: ["+m[1]+"]\n"), 1), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd.Must(t, args...)
}

func TestEachPresetsRoutesAreAcceptedByTheSystemsOwnCACode(t *testing.T) {
	systems := []struct {
		example, loader, namespace, secret string
		routes                             []phases.Scope
	}{
		{"istio", "istio-cacerts", "istio-system", "cacerts", []phases.Scope{phases.ScopeRenew, phases.ScopeEmergency}},
		{"osm", "osm-tresor", "osm-system", "osm-ca-bundle", []phases.Scope{phases.ScopeRenew, phases.ScopeEmergency}},
	}
	for _, sys := range systems {
		pkg := testkit.Load(t, filepath.Join(testkit.Root(t), "examples", sys.example))
		listed := pkg.Rotation(t).Spec.Routes
		for _, route := range sys.routes {
			t.Run(sys.example+"/"+string(route), func(t *testing.T) {
				if !slices.Contains(listed, route) {
					t.Fatalf("examples/%s does not list %s in spec.routes (%v): the test and the preset disagree", sys.example, route, listed)
				}
				dir := atSteadyWithoutNext(t, sys.example)
				startRoute(t, dir, route)
				seen := map[string]bool{}
				loaderAcceptsEveryPhase(t, sys.loader, dir, func(phase phases.Phase) *yaml.RNode {
					return renderedSecret(t, dir, phase, sys.namespace, sys.secret)
				}, func(phase phases.Phase, state phases.State, root map[phases.Generation]string, out string) {
					if state.Scope != route {
						t.Fatalf("the package rotates in scope %s, not %s", state.Scope, route)
					}
					var chains []string
					for _, g := range state.ChainsTo {
						if state.Trusts(g) {
							chains = append(chains, root[g])
						}
					}
					var ok bool
					for _, fp := range chains {
						ok = ok || strings.Contains(out, "up to "+fp+"\n") || strings.Contains(out, "up to root "+fp+"\n")
					}
					if !ok {
						t.Fatalf("%s/%s: the loader's certificate does not verify up to a CA the phase's leaves chain to and it trusts (%v):\n%s", route, phase, chains, out)
					}
					if sys.loader == "istio-cacerts" {
						var trusted []string
						for _, g := range state.Trusted {
							trusted = append(trusted, root[g])
						}
						slices.Sort(trusted)
						if got := istioLoaderRoots(out); !slices.Equal(got, trusted) {
							t.Fatalf("%s/%s: root-cert.pem holds %v, the phase trusts %v", route, phase, got, trusted)
						}
					}
					seen[string(phase)] = true
				})
				if seq, _ := phases.Sequence(route); len(seen) != len(seq) {
					t.Fatalf("the loader judged %d of %d phases", len(seen), len(seq))
				}
			})
		}
	}
}

// TestAPresetRefusesARouteItLeavesOut: istio lists no cross-sign (istiod
// signs from cacerts, which carries no cross-certificate), so start
// refuses it, naming the routes, and writes nothing.
func TestAPresetRefusesARouteItLeavesOut(t *testing.T) {
	dir := atSteadyWithoutNext(t, "istio")
	before, _ := os.ReadFile(filepath.Join(dir, "carousel.yaml"))
	r := testkit.Cmd{Dir: dir, AgeKey: true}.Run(t, "start", "carousel.yaml", "--scope", "cross-sign")
	if r.Code == 0 || !strings.Contains(r.Out, "scope cross-sign is not among spec.routes") {
		t.Fatalf("start --scope cross-sign on istio must refuse, naming spec.routes: exit %d\n%s", r.Code, r.Out)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "carousel.yaml")); !bytes.Equal(before, after) {
		t.Error("the refused start changed the CARotation")
	}
	if news, _ := filepath.Glob(filepath.Join(dir, "material", "*-new.yaml")); len(news) > 0 {
		t.Errorf("the refused start wrote %v", news)
	}
}
