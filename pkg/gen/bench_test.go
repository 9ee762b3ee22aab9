package gen_test

import (
	"fmt"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// BenchmarkRenderTrustNew renders trust-new for the example plus 1,000
// Deployments (half mounting the bundle) across 100 namespaces: the
// in-process cost of the renderer without YAML reading and writing.
func BenchmarkRenderTrustNew(b *testing.B) {
	pkg := example(b)
	cfg := pkg.WithPhase(b, phases.TrustNew)
	rot, err := spec.Load(cfg)
	if err != nil {
		b.Fatal(err)
	}
	var extra []*yaml.RNode
	for i := 0; i < 1000; i++ {
		vol := ""
		if i%2 == 0 {
			vol = "      volumes:\n      - name: ca\n        configMap: {name: cluster-ca-bundle}\n"
		}
		extra = append(extra, yaml.MustParse(fmt.Sprintf("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app-%d, namespace: ns-%d}\nspec:\n  template:\n    spec:\n      containers:\n      - {name: c, image: x}\n%s", i, i%100, vol)))
	}
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		items := pkg.CopyItems()
		for _, n := range extra {
			items = append(items, n.Copy())
		}
		b.StartTimer()
		out := gen.Render(gen.Input{Rotation: rot, Config: cfg, Items: items, Now: testkit.Now})
		if out.Failed() {
			b.Fatal(out.Results)
		}
	}
}
