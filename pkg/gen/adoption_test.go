package gen_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/rotate"
	"github.com/carousel-dev/carousel/pkg/targets"
)

// templates returns every rolled workload of items, serialised, by id.
func templates(items []*yaml.RNode) map[string]string {
	out := map[string]string{}
	for _, n := range items {
		if k, ok := targets.Builtin().Of(n); ok && k.Workload != nil {
			out[n.GetKind()+"/"+n.GetNamespace()+"/"+n.GetName()] = n.MustString()
		}
	}
	return out
}

func TestAdoptingCarouselAtSteadyLeavesEveryPodTemplateByteIdentical(t *testing.T) {
	for _, dir := range testkit.Examples(t) {
		pkg := testkit.Load(t, dir)
		in := templates(pkg.CopyItems())
		out := pkg.Render(t, phases.Steady)
		if len(out.Restarts) == 0 && pkg.Rotation(t).Spec.MeshRootCertificates == nil {
			t.Fatalf("%s: no consumers: the test proves nothing", dir)
		}
		for id, got := range templates(out.Items) {
			if got != in[id] {
				t.Errorf("%s: steady changed %s (an annotation a never-rotated package must not add):\n%s", filepath.Base(dir), id, testkit.Diff("input", "steady", []byte(in[id]), []byte(got)))
			}
		}
		for _, r := range out.Restarts {
			if r.Hash != "" {
				t.Errorf("%s: %s %s/%s carries restart hash %s at steady before any rotation", filepath.Base(dir), r.Kind, r.Namespace, r.Name, r.Hash)
			}
		}
	}
}

const cycleRotation = `apiVersion: carousel.dev/v1alpha1
kind: CARotation
metadata:
  name: mesh
spec:
  scope: SCOPE
  phase: steady
  ca:
    commonName: root.mesh
  leaves:
  - name: a
    secret: {name: a-tls, namespace: mesh}
  - name: b
    secret: {name: b-tls, namespace: mesh}
  bundles:
  - name: mesh-trust
    namespaces: [mesh]
`

const cycleWorkloads = `apiVersion: apps/v1
kind: Deployment
metadata: {name: truster, namespace: mesh}
spec:
  template:
    spec:
      containers: [{name: c, image: c}]
      volumes: [{name: t, configMap: {name: mesh-trust}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: holds-a, namespace: mesh}
spec:
  template:
    spec:
      containers: [{name: c, image: c}]
      volumes: [{name: t, secret: {secretName: a-tls}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: holds-b, namespace: mesh}
spec:
  template:
    spec:
      containers: [{name: c, image: c}]
      volumes: [{name: t, secret: {secretName: b-tls}}]
`

// renderPackage renders a rotate.Package's current phase over fresh copies
// of the workloads and the material its kustomization lists.
func renderPackage(t *testing.T, file string) gen.Output {
	t.Helper()
	p, err := rotate.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	set, err := p.Material()
	if err != nil {
		t.Fatal(err)
	}
	var in []*yaml.RNode
	for _, doc := range bytes.Split([]byte(cycleWorkloads), []byte("---\n")) {
		in = append(in, yaml.MustParse(string(doc)))
	}
	for _, n := range set.Nodes {
		in = append(in, n.Copy())
	}
	out := gen.Render(gen.Input{Rotation: p.Rotation, Config: p.Node, Items: in, Now: time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)})
	if out.Failed() {
		t.Fatalf("%s: %v", p.Rotation.Spec.Phase, out.Results)
	}
	return out
}

func TestFinishingARotationRollsNothingAndTheNextOneRollsWhatItChanges(t *testing.T) {
	for _, tc := range []struct {
		name  string
		scope phases.Scope
		only  []string
		// changed are the workloads the rotation must roll at some phase.
		changed []string
	}{
		{"a CA rotation", phases.ScopeCA, nil, []string{"truster", "holds-a", "holds-b"}},
		{"a re-issue of one leaf", phases.ScopeLeaf, []string{"a"}, []string{"holds-a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "carousel.yaml")
			text := bytes.ReplaceAll([]byte(cycleRotation), []byte("SCOPE"), []byte(tc.scope))
			if err := os.WriteFile(file, text, 0o644); err != nil {
				t.Fatal(err)
			}
			opts := rotate.Options{Plaintext: true, Stderr: &bytes.Buffer{}}
			p, err := rotate.Load(file)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := rotate.Init(p, opts); err != nil {
				t.Fatal(err)
			}
			seq, _ := phases.Sequence(tc.scope)
			var first, last map[string]string
			rolled := map[string]bool{}
			for round := 0; round < 2; round++ {
				p, err := rotate.Load(file)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := rotate.Start(p, opts, rotate.StartRequest{Only: tc.only}); err != nil {
					t.Fatal(err)
				}
				for i, ph := range seq {
					if err := p.SetPhase(ph); err != nil {
						t.Fatal(err)
					}
					got := templates(renderPackage(t, file).Items)
					if i == 0 && last != nil {
						for id := range got {
							if got[id] != last[id] {
								t.Errorf("round %d: promoting the finished rotation to steady changed %s:\n%s", round, id, testkit.Diff("finished", "steady", []byte(last[id]), []byte(got[id])))
							}
						}
					}
					if i == 0 && first == nil {
						first = got
					}
					if round == 0 {
						for id := range got {
							if got[id] != first[id] {
								rolled[id] = true
							}
						}
					}
					last = got
				}
			}
			var want []string
			for _, n := range tc.changed {
				want = append(want, "Deployment/mesh/"+n)
			}
			for id := range first {
				if rolled[id] != slices.Contains(want, id) {
					t.Errorf("%s rolled=%v during the first rotation, want %v", id, rolled[id], slices.Contains(want, id))
				}
			}
		})
	}
}
