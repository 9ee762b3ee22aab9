package fn

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
)

// bundleWorkload is a Deployment that mounts the CA bundle, so the plan
// rolls it when it is part of the package.
func bundleWorkload(name string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata: {name: ` + name + `, namespace: shop}
spec:
  selector: {matchLabels: {app: ` + name + `}}
  template:
    metadata: {labels: {app: ` + name + `}}
    spec:
      containers:
      - name: c
        image: registry.example.dev/` + name + `:1
        volumeMounts: [{name: ca, mountPath: /ca}]
      volumes:
      - name: ca
        configMap: {name: cluster-ca-bundle}
`
}

// plan reads what kustomize builds: the package of examplePackage moved to
// root/pkg, with a base beside it, an unlisted workload and a saved function
// output (a ResourceList) in its folder.
func TestPlanReadsWhatKustomizeBuilds(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "pkg")
	if err := os.Rename(examplePackage(t, phases.Steady), dir); err != nil {
		t.Fatal(err)
	}
	writeFile := func(path, text string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(filepath.Join(root, "base", "kustomization.yaml"), "resources:\n- checkout.yaml\n")
	writeFile(filepath.Join(root, "base", "checkout.yaml"), bundleWorkload("checkout"))
	kust := filepath.Join(dir, "kustomization.yaml")
	b, err := os.ReadFile(kust)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(kust, strings.Replace(string(b), "- material\n", "- material\n- ../base\n", 1))
	writeFile(filepath.Join(dir, "unlisted.yaml"), bundleWorkload("unlisted"))
	pkg := testkit.Load(t, filepath.Join(testkit.Root(t), "examples", "cluster-ca"))
	writeFile(filepath.Join(dir, "rendered", "steady.yaml"), string(testkit.ResourceList(t, pkg.Config, pkg.Render(t, phases.Steady).Items)))

	out := offline.Must(t, "plan", filepath.Join(dir, "carousel.yaml")).Stdout
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"a workload from a ../ base rolls", strings.Contains(out, "Deployment shop/checkout")},
		{"a workload in a file the kustomization does not list is not planned", !strings.Contains(out, "shop/unlisted")},
		{"a saved function output is not planned", !strings.Contains(out, "ResourceList")},
	} {
		if !tt.ok {
			t.Errorf("%s; the plan:\n%s", tt.name, out)
		}
	}
}
