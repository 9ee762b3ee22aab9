package fninput_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/fninput"
	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/spec"
)

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func replaceIn(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s does not contain %q", path, old)
	}
	write(t, path, strings.Replace(string(b), old, new, 1))
}

func move(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

// busyPackage is the cluster-ca example laid out the ways real packages
// are, returning the package folder (root/pkg):
//   - shop.yaml and a ConfigMap come from a base outside the folder (../base);
//   - monitoring.yaml and a ConfigMap come from a component (../comp);
//   - a patch and a builtin transformer listed before carousel change
//     resources the function then sees;
//   - the folder also holds files kustomize does not build: an unlisted
//     workload, a saved `kustomize build` output and a saved function
//     output (a ResourceList).
func busyPackage(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "pkg")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(testkit.Root(t), "examples", "cluster-ca"))); err != nil {
		t.Fatal(err)
	}
	kust := filepath.Join(dir, "kustomization.yaml")
	move(t, filepath.Join(dir, "shop.yaml"), filepath.Join(root, "base", "shop.yaml"))
	write(t, filepath.Join(root, "base", "checkout.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: checkout, namespace: shop}\ndata: {from: base}\n")
	write(t, filepath.Join(root, "base", "kustomization.yaml"), "resources:\n- shop.yaml\n- checkout.yaml\n")
	replaceIn(t, kust, "- shop.yaml\n", "- ../base\n")
	move(t, filepath.Join(dir, "monitoring.yaml"), filepath.Join(root, "comp", "monitoring.yaml"))
	write(t, filepath.Join(root, "comp", "scrape.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: scrape, namespace: monitoring}\ndata: {from: component}\n")
	write(t, filepath.Join(root, "comp", "kustomization.yaml"), "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources:\n- monitoring.yaml\n- scrape.yaml\n")
	replaceIn(t, kust, "- monitoring.yaml\n", "")
	replaceIn(t, kust, "transformers:\n- carousel.yaml\n", `components:
- ../comp
patches:
- target: {kind: Deployment, name: storefront}
  patch: |
    - op: add
      path: /metadata/labels
      value: {tier: web}
transformers:
- team.yaml
- carousel.yaml
`)
	write(t, filepath.Join(dir, "team.yaml"), `apiVersion: builtin
kind: AnnotationsTransformer
metadata: {name: team}
annotations: {example.dev/team: platform}
fieldSpecs:
- {path: metadata/annotations, create: true}
`)
	write(t, filepath.Join(dir, "unlisted.yaml"), `apiVersion: apps/v1
kind: Deployment
metadata: {name: unlisted, namespace: shop}
spec:
  selector: {matchLabels: {app: unlisted}}
  template:
    metadata: {labels: {app: unlisted}}
    spec:
      containers:
      - name: c
        image: registry.example.dev/unlisted:1
        volumeMounts: [{name: ca, mountPath: /ca}]
      volumes:
      - name: ca
        configMap: {name: cluster-ca-bundle}
`)
	rendered := testkit.Kustomize(t, filepath.Join(testkit.Root(t), "examples", "cluster-ca"), "")
	write(t, filepath.Join(dir, "rendered.yaml"), string(rendered))
	pkg := testkit.Load(t, filepath.Join(testkit.Root(t), "examples", "cluster-ca"))
	write(t, filepath.Join(dir, "out", "function-output.yaml"),
		string(testkit.ResourceList(t, pkg.Config, pkg.Render(t, phases.Steady).Items)))
	return dir
}

func has(items []*yaml.RNode, kind, ns, name string) bool {
	return testkit.Find(items, kind, ns, name) != nil
}

func TestBuildReadsWhatKustomizeBuilds(t *testing.T) {
	dir := busyPackage(t)
	kustBefore, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	items, err := fninput.Build(filepath.Join(dir, "carousel.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ok   func() bool
	}{
		{"a file the kustomization does not list is not an input", func() bool {
			return !has(items, "Deployment", "shop", "unlisted")
		}},
		{"a saved kustomize build output is not an input", func() bool {
			// The render holds Secrets and bundles the function makes.
			return !has(items, "Secret", "policy", "policy-webhook-tls") && !has(items, "ConfigMap", "kube-public", "cluster-info")
		}},
		{"a saved function output (a ResourceList) is not an input", func() bool {
			return !has(items, "ResourceList", "", "")
		}},
		{"a base outside the folder (../) is an input", func() bool {
			return has(items, "ConfigMap", "shop", "checkout") && has(items, "Deployment", "shop", "storefront")
		}},
		{"a component's resources are inputs", func() bool {
			return has(items, "ConfigMap", "monitoring", "scrape") && has(items, "StatefulSet", "monitoring", "prometheus")
		}},
		{"every KeyPair of the material kustomization is an input", func() bool {
			n := 0
			for _, it := range items {
				if it.GetKind() == "KeyPair" {
					n++
				}
			}
			return n == 6
		}},
		{"patches apply before the function", func() bool {
			return testkit.Find(items, "Deployment", "shop", "storefront").GetLabels()["tier"] == "web"
		}},
		{"transformers listed before carousel apply", func() bool {
			for _, it := range items {
				if it.GetAnnotations()["example.dev/team"] != "platform" {
					return false
				}
			}
			return true
		}},
		{"the CARotation is not an input", func() bool {
			return !has(items, spec.Kind, "", "cluster-ca")
		}},
		{"the kustomization on disk is left as it was", func() bool {
			b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
			return err == nil && bytes.Equal(b, kustBefore)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.ok() {
				t.Fatalf("input was:\n%s", names(items))
			}
		})
	}
}

func names(items []*yaml.RNode) string {
	var b strings.Builder
	for _, n := range items {
		b.WriteString(n.GetKind() + " " + n.GetNamespace() + "/" + n.GetName() + "\n")
	}
	return b.String()
}

func TestBuildStopsAtTheCarouselTransformer(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(testkit.Root(t), "examples", "cluster-ca"))); err != nil {
		t.Fatal(err)
	}
	replaceIn(t, filepath.Join(dir, "kustomization.yaml"), "transformers:\n- carousel.yaml\n", "transformers:\n- carousel.yaml\n- after.yaml\nsortOptions: {order: fifo}\n")
	write(t, filepath.Join(dir, "after.yaml"), "apiVersion: builtin\nkind: AnnotationsTransformer\nmetadata: {name: after}\nannotations: {example.dev/after: carousel}\nfieldSpecs:\n- {path: metadata/annotations, create: true}\n")
	items, err := fninput.Build(filepath.Join(dir, "carousel.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range items {
		if _, ok := n.GetAnnotations()["example.dev/after"]; ok {
			t.Fatalf("a transformer listed after carousel ran before it, on %s %s", n.GetKind(), n.GetName())
		}
	}
	// kustomization order, as the function receives it (no sorting yet).
	if items[0].GetKind() != "Namespace" || items[len(items)-1].GetKind() != "KeyPair" {
		t.Fatalf("want the kustomization's order (namespaces first, material last), got:\n%s", names(items))
	}
}

func TestBuildRefusesWhatKustomizeWouldNotRun(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		says  string
	}{
		{"a folder without a kustomization", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "kustomization.yaml")); err != nil {
				t.Fatal(err)
			}
		}, "has no kustomization.yaml"},
		{"a kustomization that does not list the CARotation as a transformer", func(t *testing.T, dir string) {
			replaceIn(t, filepath.Join(dir, "kustomization.yaml"), "transformers:\n- carousel.yaml\n", "")
		}, "no transformers entry names carousel.yaml"},
		{"a kustomization listing a file that is missing", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "material", "ca-new.yaml")); err != nil {
				t.Fatal(err)
			}
		}, "ca-new.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.CopyFS(dir, os.DirFS(filepath.Join(testkit.Root(t), "examples", "cluster-ca"))); err != nil {
				t.Fatal(err)
			}
			tt.setup(t, dir)
			_, err := fninput.Build(filepath.Join(dir, "carousel.yaml"))
			if err == nil || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("want an error saying %q, got %v", tt.says, err)
			}
		})
	}
}

func TestEncryptedKeyPairsPassThroughAndStillDecrypt(t *testing.T) {
	dir := filepath.Join(testkit.Root(t), "examples", "cluster-ca")
	items, err := fninput.Build(filepath.Join(dir, "carousel.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, it := range items {
		if it.GetKind() != "KeyPair" {
			continue
		}
		n++
		file := filepath.Join(dir, "material", strings.TrimPrefix(it.GetName(), "cluster-ca-")+".yaml")
		onDisk, err := yaml.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := it.Pipe(yaml.Lookup("data", "tls.key"))
		want, _ := onDisk.Pipe(yaml.Lookup("data", "tls.key"))
		if yaml.GetValue(got) != yaml.GetValue(want) || !strings.HasPrefix(yaml.GetValue(got), "ENC[") {
			t.Fatalf("%s: the encrypted key changed on the way", it.GetName())
		}
		plain := testkit.Decrypt(t, it) // fails the test if sops refuses it
		if k, _ := plain.Pipe(yaml.Lookup("data", "tls.key")); k == nil || strings.HasPrefix(yaml.GetValue(k), "ENC[") {
			t.Fatalf("%s did not decrypt", it.GetName())
		}
	}
	if n != 6 {
		t.Fatalf("want the 6 KeyPairs, got %d", n)
	}
}

// asKustomizePrints formats rendered items the way kustomize prints a
// function's output: read back into a resource map, sorted (legacy order),
// and encoded; by kustomize's own library, on an in-memory filesystem.
func asKustomizePrints(t *testing.T, items []*yaml.RNode) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := (kio.ByteWriter{Writer: &b}).Write(items); err != nil {
		t.Fatal(err)
	}
	fs := filesys.MakeFsInMemory()
	if err := fs.WriteFile("/out/kustomization.yaml", []byte("resources:\n- out.yaml\n")); err != nil {
		t.Fatal(err)
	}
	if err := fs.WriteFile("/out/out.yaml", b.Bytes()); err != nil {
		t.Fatal(err)
	}
	opts := krusty.MakeDefaultOptions()
	opts.Reorder = krusty.ReorderOptionLegacy // the kustomize CLI's default
	m, err := krusty.MakeKustomizer(opts).Run(fs, "/out")
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func loadRotation(t *testing.T, file string) (*yaml.RNode, *spec.CARotation) {
	t.Helper()
	n, err := yaml.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	rot, err := spec.Load(n)
	if err != nil {
		t.Fatal(err)
	}
	return n, rot
}

// The input Build returns, rendered in-process, is byte for byte what the
// real kustomize renders with the real carousel binary: for every example
// package and every phase, and for a package with a base, a component,
// patches, a transformer before carousel and files kustomize does not read.
func TestBuildRendersExactlyLikeKustomize(t *testing.T) {
	type pkg struct{ name, dir string }
	var pkgs []pkg
	for _, dir := range testkit.Examples(t) {
		pkgs = append(pkgs, pkg{filepath.Base(dir), dir})
	}
	pkgs = append(pkgs, pkg{"busy", ""})
	for _, p := range pkgs {
		t.Run(p.name, func(t *testing.T) {
			var src string
			if p.dir == "" {
				src = busyPackage(t)
			} else {
				src = p.dir
			}
			_, rot := loadRotation(t, filepath.Join(src, "carousel.yaml"))
			seq, err := phases.Sequence(rot.Spec.Scope)
			if err != nil {
				t.Fatal(err)
			}
			for _, phase := range seq {
				t.Run(string(phase), func(t *testing.T) {
					// A copy (the busy package with its base and component beside it).
					root := t.TempDir()
					dir := root
					if p.dir == "" {
						if err := os.CopyFS(root, os.DirFS(filepath.Dir(src))); err != nil {
							t.Fatal(err)
						}
						dir = filepath.Join(root, "pkg")
					} else if err := os.CopyFS(root, os.DirFS(src)); err != nil {
						t.Fatal(err)
					}
					testkit.SetPhase(t, dir, phase)
					want := testkit.KustomizeDir(t, dir)
					file := filepath.Join(dir, "carousel.yaml")
					items, err := fninput.Build(file)
					if err != nil {
						t.Fatal(err)
					}
					cfg, rot := loadRotation(t, file)
					out := gen.Render(gen.Input{Rotation: rot, Config: cfg, Items: items, Now: testkit.Now})
					if out.Failed() {
						t.Fatalf("render failed: %v", out.Results)
					}
					if got := asKustomizePrints(t, out.Items); !bytes.Equal(got, want) {
						t.Fatalf("the in-process render differs from kustomize build (%d vs %d bytes)", len(got), len(want))
					}
				})
			}
		})
	}
}
