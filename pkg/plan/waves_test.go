package plan_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/plan"
	"github.com/carousel-dev/carousel/pkg/spec"
)

func deployment(ns, name, podAnnotations string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata: {name: ` + name + `, namespace: ` + ns + `}
spec:
  selector: {matchLabels: {app: ` + name + `}}
  template:
    metadata:
      labels: {app: ` + name + `}
      annotations: {` + podAnnotations + `}
    spec:
      containers: [{name: app, image: app}]
`
}

// TestPlanRollsTheControlPlaneBeforeTheDataPlane: with Linkerd's control
// plane in waves 0 to 2 (identity, destination, proxy-injector) and the
// meshed workloads in wave 3, the move into trust-new rolls them in that
// order, kube-system's add-ons first within wave 0, and the pull request
// shows each wave.
func TestPlanRollsTheControlPlaneBeforeTheDataPlane(t *testing.T) {
	pkg := testkit.Load(t, filepath.Join(testkit.Root(t), "examples", "cluster-ca"))
	cfg := pkg.WithPhase(t, phases.Steady)
	restarts, _ := cfg.Pipe(yaml.Lookup("spec", "restarts"))
	// kube-proxy as an add-on that reads a rendered bundle (trust), so it
	// rolls with trust-new's objects: the example's rule consumes
	// in-cluster-config, which rolls in the step after the node steps.
	first, _ := restarts.Elements()
	if err := first[0].PipeE(yaml.SetField("consumes", yaml.MustParse("[trust]"))); err != nil {
		t.Fatal(err)
	}
	rules := yaml.MustParse(`
- {namespace: linkerd, name: linkerd-identity, wave: 0}
- {namespace: linkerd, name: linkerd-destination, wave: 1}
- {namespace: linkerd, name: linkerd-proxy-injector, wave: 2}
- {namespaceAnnotations: {linkerd.io/inject: enabled}, optOut: {annotations: {linkerd.io/inject: disabled}}, wave: 3}
`)
	els, _ := rules.Elements()
	for _, e := range els {
		restarts.YNode().Content = append(restarts.YNode().Content, e.YNode())
	}
	rot, err := spec.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	items := pkg.CopyItems()
	for _, d := range []string{
		"apiVersion: v1\nkind: Namespace\nmetadata: {name: linkerd, annotations: {linkerd.io/inject: disabled}}\n",
		"apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, annotations: {linkerd.io/inject: enabled}}\n",
		// Listed data plane first: the order must come from the waves.
		deployment("shop", "cart", ""),
		deployment("shop", "legacy", "linkerd.io/inject: disabled"),
		deployment("linkerd", "linkerd-proxy-injector", ""),
		deployment("linkerd", "linkerd-destination", ""),
		deployment("linkerd", "linkerd-identity", ""),
	} {
		items = append(items, yaml.MustParse(d))
	}
	p, err := plan.Build(rot, cfg, items, testkit.Now)
	if err != nil {
		t.Fatal(err)
	}
	if p.Next == nil || p.Next.To != phases.TrustNew {
		t.Fatalf("no move to trust-new: %+v", p.Next)
	}
	waveOf := map[string]int{} // object -> index of its wave
	var names []string
	for i, w := range p.Next.Waves {
		names = append(names, w.Name)
		for _, o := range w.Objects {
			waveOf[o] = i
		}
	}
	order := []string{
		"DaemonSet kube-system/kube-proxy",
		"Deployment linkerd/linkerd-identity",
		"Deployment linkerd/linkerd-destination",
		"Deployment linkerd/linkerd-proxy-injector",
		"Deployment shop/cart",
	}
	for i, o := range order {
		if _, ok := waveOf[o]; !ok {
			t.Fatalf("%s does not roll; waves %q", o, names)
		}
		if i > 0 && waveOf[o] <= waveOf[order[i-1]] {
			t.Errorf("%s rolls in %q, not after %s (%q)", o, names[waveOf[o]], order[i-1], names[waveOf[order[i-1]]])
		}
	}
	if _, ok := waveOf["Deployment shop/legacy"]; ok {
		t.Error("shop/legacy opted out of the mesh, yet rolls")
	}
	want := []string{"1. material and trust", "2. cluster add-ons (wave 0)", "3. workloads (wave 0)", "4. workloads (wave 1)", "5. workloads (wave 2)", "6. workloads (wave 3)"}
	if !slices.Equal(names, want) {
		t.Errorf("waves %q, want %q", names, want)
	}
	_, body := p.PullRequest(p.Next, nil)
	last := -1
	for _, w := range want {
		i := strings.Index(body, "**"+w+"**")
		if i <= last {
			t.Errorf("the pull request does not show %q after the waves before it:\n%s", w, body)
		}
		last = i
	}
}
