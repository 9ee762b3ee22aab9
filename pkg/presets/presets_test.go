package presets

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/rotate"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// exampleOf is the example package each preset is kept in step with.
var exampleOf = map[string]string{
	"istio":                  "istio",
	"istio-multicluster":     "istio-multicluster/clusters/east",
	"kubernetes":             "cluster-ca",
	"kubernetes-front-proxy": "front-proxy-ca",
	"linkerd":                "linkerd",
	"linkerd-cert-manager":   "linkerd-cert-manager",
	"linkerd-multicluster":   "linkerd-multicluster/clusters/east",
	"neuvector":              "neuvector",
	"osm":                    "osm",
	"osm-mrc":                "osm-mrc",
	"rke":                    "rke",
}

func load(t *testing.T, b []byte) *spec.CARotation {
	t.Helper()
	n, err := yaml.Parse(string(b))
	if err != nil {
		t.Fatal(err)
	}
	r, err := spec.Load(n)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// normalize removes what a preset writes out and an example leaves to a
// default that Load does not fill in: the empty key encoding (what
// carousel always wrote: SEC 1 for ECDSA) and the spelling of a duration.
func normalize(s *spec.Spec) {
	enc := func(k *spec.Key) {
		if k.Encoding == "" && strings.HasPrefix(k.Algorithm, "ecdsa-") {
			k.Encoding = spec.KeyEncodingSEC1
		}
	}
	enc(&s.CA.Key)
	for i := range s.Leaves {
		enc(&s.Leaves[i].Key)
	}
	s.ExpiryWarning = spec.DurationOf(s.ExpiryWarning.Value())
}

func specJSON(t *testing.T, s spec.Spec) string {
	t.Helper()
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestEveryPresetSpecIsItsExamplesSpec keeps a preset and the example of
// its system from drifting apart: the examples' tests run against the real
// systems, so the preset is what they prove. Where they differ on purpose
// the example is brought to the preset first:
//   - ca.validity: the examples' CA lives 20 years so the committed
//     material outlives the test suite; a preset's is the default 10 years.
//   - kubernetes: examples/cluster-ca also carries its demo applications'
//     leaves (policy-webhook, metrics-client), their caBundles and
//     kubeconfig, and Argo CD sync waves; the preset has none of these.
func TestEveryPresetSpecIsItsExamplesSpec(t *testing.T) {
	root := testkit.Root(t)
	for _, p := range All() {
		t.Run(p.Name, func(t *testing.T) {
			ex, ok := exampleOf[p.Name]
			if !ok {
				t.Fatalf("preset %s has no example to be kept in step with: add it to exampleOf", p.Name)
			}
			b, err := os.ReadFile(filepath.Join(root, "examples", ex, "carousel.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			want, got := load(t, b).Spec, load(t, p.YAML).Spec
			want.CA.Validity = got.CA.Validity
			if strings.HasSuffix(p.Name, "-multicluster") {
				// Each cluster names its own intermediate.
				want.CA.CommonName = got.CA.CommonName
			}
			if p.Name == "kubernetes" {
				want.Leaves, want.CABundles, want.Kubeconfigs, want.RenderedAnnotations = nil, nil, nil, nil
				// The example opts in to an in-cluster CA Secret, which the
				// preset leaves out (the key stays off the cluster).
				want.CA.Secret, want.CA.TrustedAnnotations = nil, nil
			}
			normalize(&want)
			normalize(&got)
			if w, g := specJSON(t, want), specJSON(t, got); w != g {
				t.Errorf("preset %s and examples/%s differ:\n%s", p.Name, ex, testkit.Diff("examples/"+ex, "preset "+p.Name, []byte(w), []byte(g)))
			}
		})
	}
}

// TestEveryPresetWritesOutItsDefaults holds a preset to what the issue
// asks: no hidden default a reviewer cannot see. Defaulting the loaded
// preset must change nothing but the spellings normalize accepts.
func TestEveryPresetWritesOutItsDefaults(t *testing.T) {
	for _, p := range All() {
		t.Run(p.Name, func(t *testing.T) {
			n, err := yaml.Parse(string(p.YAML))
			if err != nil {
				t.Fatal(err)
			}
			var raw struct {
				Spec spec.Spec `json:"spec"`
			}
			b, err := n.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &raw); err != nil {
				t.Fatal(err)
			}
			defaulted := load(t, p.YAML).Spec
			for _, s := range []*spec.Spec{&raw.Spec, &defaulted} {
				normalize(s)
			}
			if w, g := specJSON(t, raw.Spec), specJSON(t, defaulted); w != g {
				t.Errorf("spec.Load fills in defaults the preset does not write out:\n%s", testkit.Diff("as written", "defaulted", []byte(w), []byte(g)))
			}
		})
	}
}

func TestEveryPresetHasADescriptionAndANameLine(t *testing.T) {
	if len(All()) == 0 {
		t.Fatal("no preset is embedded")
	}
	for _, p := range All() {
		if p.Description == "" || strings.HasPrefix(p.Description, "#") {
			t.Errorf("preset %s: its first line must be \"# description: ...\", is %q", p.Name, p.Description)
		}
		out, err := Render(p, "renamed")
		if err != nil {
			t.Fatalf("preset %s: %v", p.Name, err)
		}
		if got := load(t, out).Metadata.Name; got != "renamed" {
			t.Errorf("preset %s with name renamed: metadata.name is %q", p.Name, got)
		}
	}
}

func TestWriteRefusesADifferentFileAndLeavesItAsItIs(t *testing.T) {
	p, err := Get("linkerd")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "carousel.yaml")
	before := []byte("# mine\n")
	if err := os.WriteFile(path, before, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Write(path, p, ""); err == nil || !strings.Contains(err.Error(), "not overwritten") {
		t.Fatalf("Write over a different file: %v, want a refusal saying it is not overwritten", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatalf("the file changed:\n%s", after)
	}
}

func TestWriteOfTheSameBytesAgainIsANoOp(t *testing.T) {
	p, err := Get("osm")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "carousel.yaml")
	if wrote, err := Write(path, p, ""); err != nil || !wrote {
		t.Fatalf("first Write: wrote %v, %v", wrote, err)
	}
	fi, _ := os.Stat(path)
	if wrote, err := Write(path, p, ""); err != nil || wrote {
		t.Fatalf("second Write: wrote %v, %v; want no write and no error", wrote, err)
	}
	if b, _ := os.ReadFile(path); string(b) != string(p.YAML) || fi.Size() != int64(len(p.YAML)) {
		t.Fatal("the file is not the preset")
	}
}

func TestAnUnknownPresetIsRefusedNamingThePresets(t *testing.T) {
	_, err := Get("linkerd2")
	if err == nil {
		t.Fatal("Get(linkerd2) succeeded")
	}
	for _, n := range Names() {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("the refusal %q does not name preset %s", err, n)
		}
	}
}

func TestABadNameIsRefusedBeforeAnyWrite(t *testing.T) {
	p, _ := Get("istio")
	path := filepath.Join(t.TempDir(), "carousel.yaml")
	if _, err := Write(path, p, "Not_A_Name"); err == nil {
		t.Fatal("Write with name Not_A_Name succeeded")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("a file was written: %v", err)
	}
}

// TestWriteGoesOnOverThePresetInitAnnotated is the rerun of an init
// --preset killed after init added the function annotation: the file is
// still the preset, so the rerun goes on instead of refusing.
func TestWriteGoesOnOverThePresetInitAnnotated(t *testing.T) {
	p, err := Get("linkerd")
	if err != nil {
		t.Fatal(err)
	}
	annotated, err := rotate.WithFunctionAnnotation(p.YAML)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "carousel.yaml")
	if err := os.WriteFile(path, annotated, 0o644); err != nil {
		t.Fatal(err)
	}
	if wrote, err := Write(path, p, ""); err != nil || wrote {
		t.Fatalf("Write over the annotated preset: wrote %v, %v; want no write and no error", wrote, err)
	}
	if b, _ := os.ReadFile(path); string(b) != string(annotated) {
		t.Fatal("the file changed")
	}
}

// TestTheKubernetesPresetKeepsTheCAKeyOutOfTheCluster: a Secret holding the
// cluster CA's key lets anyone who can read it sign a system:masters client
// certificate. The preset renders none; an in-cluster CA Secret is an
// explicit opt-in (spec.ca.secret).
func TestTheKubernetesPresetKeepsTheCAKeyOutOfTheCluster(t *testing.T) {
	p, err := Get("kubernetes")
	if err != nil {
		t.Fatal(err)
	}
	if s := load(t, p.YAML).Spec.CA.Secret; s != nil {
		t.Fatalf("the kubernetes preset renders the CA key into Secret %s/%s", s.Namespace, s.Name)
	}
}
