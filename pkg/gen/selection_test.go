package gen_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// renderWithRules renders the example at phase with the documented mesh
// restart rules (pkg/consumers/testdata, shown in docs/spec.md) appended to
// its own, and extra input items.
func renderWithRules(t *testing.T, phase phases.Phase, meshes []string, extra ...string) gen.Output {
	t.Helper()
	pkg := example(t)
	cfg := pkg.WithPhase(t, phase)
	restarts, err := cfg.Pipe(yaml.Lookup("spec", "restarts"))
	if err != nil || restarts == nil {
		t.Fatalf("the example has no restarts: %v", err)
	}
	for _, m := range meshes {
		b, err := os.ReadFile(filepath.Join("..", "consumers", "testdata", m+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		rules, err := yaml.Parse(string(b))
		if err != nil {
			t.Fatal(err)
		}
		els, _ := rules.Elements()
		for _, e := range els {
			restarts.YNode().Content = append(restarts.YNode().Content, e.YNode())
		}
	}
	rot, err := spec.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	items := pkg.CopyItems()
	for _, e := range extra {
		items = append(items, yaml.MustParse(e))
	}
	return gen.Render(gen.Input{Rotation: rot, Config: cfg, Items: items, Now: testkit.Now})
}

func namespace(name, meta string) string {
	return "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + name + "\n" + meta
}

func deployment(ns, name, podMeta string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ` + name + `
  namespace: ` + ns + `
spec:
  selector: {matchLabels: {app: ` + name + `}}
  template:
    metadata:
      labels: {app: ` + name + `}
` + podMeta + `    spec:
      containers: [{name: app, image: app}]
`
}

// TestRestartRulesRollExactlyTheWorkloadsTheMeshInjects renders a phase
// that changes the trusted set over Namespaces and Deployments opted in and
// out every way Linkerd and Istio read: exactly the workloads the meshes
// inject carry the restart annotation (in the rules' wave), every other one
// comes out byte-identical, and a workload whose Namespace the input lacks
// is named in a warning instead of guessed at.
func TestRestartRulesRollExactlyTheWorkloadsTheMeshInjects(t *testing.T) {
	type wl struct {
		ns, name, podMeta string
		wave              int // Linkerd's rules say 3, Istio's 1
	}
	workloads := []struct {
		wl
		rolls bool
	}{
		{wl{"meshed", "web", "", 3}, true},
		{wl{"meshed", "batch", "      annotations: {linkerd.io/inject: disabled}\n", 0}, false},
		{wl{"plain", "api", "      annotations: {linkerd.io/inject: enabled}\n", 3}, true},
		{wl{"plain", "worker", "", 0}, false},
		{wl{"plain", "annotated", "      annotations: {sidecar.istio.io/inject: \"true\"}\n", 0}, false},
		{wl{"plain", "sidecar", "      annotations: {note: x}\n", 0}, false},
		{wl{"injected", "shop", "", 1}, true},
		{wl{"injected", "cron", "      annotations: {sidecar.istio.io/inject: \"false\"}\n", 0}, false},
		{wl{"revision", "cart", "", 1}, true},
		{wl{"ghost", "lost", "", 0}, false},
	}
	extra := []string{
		namespace("meshed", "  annotations: {linkerd.io/inject: enabled}\n"),
		namespace("plain", "  labels: {linkerd.io/inject: enabled}\n"),
		namespace("injected", "  labels: {istio-injection: enabled}\n"),
		namespace("revision", "  labels: {istio.io/rev: default}\n"),
	}
	inputs := map[string]string{}
	for _, w := range workloads {
		d := deployment(w.ns, w.name, w.podMeta)
		extra = append(extra, d)
		inputs[w.ns+"/"+w.name] = yaml.MustParse(d).MustString()
	}
	out := renderWithRules(t, phases.TrustNew, []string{"linkerd", "istio"}, extra...)
	if out.Failed() {
		t.Fatalf("render failed: %v", out.Results)
	}
	key := gen.RestartAnnotation("cluster-ca")
	restarts := map[string]gen.Restart{}
	for _, r := range out.Restarts {
		restarts[r.Namespace+"/"+r.Name] = r
	}
	for _, w := range workloads {
		id := w.ns + "/" + w.name
		var got *yaml.RNode
		for _, n := range out.Items {
			if n.GetKind() == "Deployment" && n.GetNamespace() == w.ns && n.GetName() == w.name {
				got = n
			}
		}
		if got == nil {
			t.Fatalf("%s is missing from the output", id)
		}
		v, _ := got.Pipe(yaml.Lookup("spec", "template", "metadata", "annotations", key))
		switch {
		case w.rolls && (v == nil || restarts[id].Hash == ""):
			t.Errorf("%s: the mesh injects it, but it does not roll", id)
		case w.rolls && restarts[id].Wave != w.wave:
			t.Errorf("%s: wave %d, the rules say %d", id, restarts[id].Wave, w.wave)
		case !w.rolls && got.MustString() != inputs[id]:
			t.Errorf("%s: the mesh does not inject it, yet it changed:\n%s", id, got.MustString())
		}
	}
	var ghost []string
	for _, w := range warnings(out) {
		if strings.Contains(w, `namespace "ghost"`) {
			ghost = append(ghost, w)
		}
	}
	// Istio's rules reading the Namespace (linkerd's two, istio's six) each warn once.
	if len(ghost) == 0 || !slices.ContainsFunc(ghost, func(w string) bool {
		return strings.Contains(w, "cannot see it") && strings.Contains(w, "spec.restarts[2]")
	}) {
		t.Errorf("no warning names the namespace the input lacks: %q", warnings(out))
	}
	for _, w := range warnings(out) {
		for _, ns := range []string{"meshed", "plain", "injected", "revision"} {
			if strings.Contains(w, `namespace "`+ns+`"`) {
				t.Errorf("a Namespace of the input is warned about: %s", w)
			}
		}
	}
}

// TestWithoutRulesTheNamespaceOptInRollsNothing is the first try: a
// Deployment in a Namespace annotated linkerd.io/inject: enabled rolls only
// once a rule says the Namespace's annotation selects it.
func TestWithoutRulesTheNamespaceOptInRollsNothing(t *testing.T) {
	ns := namespace("meshed", "  annotations: {linkerd.io/inject: enabled}\n")
	d := deployment("meshed", "web", "")
	for _, tc := range []struct {
		name   string
		meshes []string
		rolls  bool
	}{
		{"the example's own rules leave a meshed Deployment alone", nil, false},
		{"Linkerd's rules roll it", []string{"linkerd"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := renderWithRules(t, phases.TrustNew, tc.meshes, ns, d)
			rolled := slices.ContainsFunc(out.Restarts, func(r gen.Restart) bool { return r.Name == "web" && r.Hash != "" })
			if rolled != tc.rolls {
				t.Errorf("rolled = %v, want %v", rolled, tc.rolls)
			}
		})
	}
}
