package gen_test

import (
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/phases"
)

// An Argo Rollouts Rollout as teams write one for the storefront: the
// Deployment's pod template under a canary strategy, mounting the
// example's trust bundle.
const storefrontRollout = `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: storefront-canary, namespace: shop}
spec:
  replicas: 3
  selector: {matchLabels: {app: storefront-canary}}
  strategy:
    canary:
      steps: [{setWeight: 20}, {pause: {}}]
  template:
    metadata: {labels: {app: storefront-canary}}
    spec:
      containers:
      - name: web
        image: registry.example.dev/storefront:2.4.1
        volumeMounts: [{name: trust, mountPath: /etc/trust}]
      volumes:
      - name: trust
        configMap: {name: cluster-ca-bundle}
`

// A workload kind carousel does not know (OpenKruise's CloneSet), mounting
// the same bundle.
var cloneSet = testkit.CloneSet("shop")

func restartAnnotation(t *testing.T, out gen.Output, kind, ns, name string) string {
	t.Helper()
	n := testkit.Find(out.Items, kind, ns, name)
	if n == nil {
		t.Fatalf("%s %s/%s is not in the output", kind, ns, name)
	}
	v, _ := n.Pipe(yaml.Lookup("spec", "template", "metadata", "annotations", gen.RestartAnnotation("cluster-ca")))
	return yaml.GetValue(v)
}

// TestARolloutRollsAsADeploymentWouldAndAnUnknownKindIsWarnedOf: many teams
// deploy with Argo Rollouts; a Rollout that reads the rotation's bundle
// rolls exactly when the trusted set changes, as a Deployment reading it
// does. A custom workload kind carousel does not know is not rolled: its
// pods would keep the old material unseen, so every render warns of it.
func TestARolloutRollsAsADeploymentWouldAndAnUnknownKindIsWarnedOf(t *testing.T) {
	var prev string
	for _, tc := range []struct {
		phase phases.Phase
		rolls bool
	}{{phases.Steady, false}, {phases.TrustNew, true}, {phases.SignNew, false}, {phases.DistrustOld, true}} {
		out := render(t, tc.phase, testkit.Now, storefrontRollout, cloneSet)
		if out.Failed() {
			t.Fatalf("%s: %v", tc.phase, out.Results)
		}
		got := restartAnnotation(t, out, "Rollout", "shop", "storefront-canary")
		if deploy := restartAnnotation(t, out, "Deployment", "shop", "storefront"); got != deploy {
			t.Errorf("%s: the Rollout's annotation %q is not the Deployment's %q, which reads the same bundle", tc.phase, got, deploy)
		}
		if (got != prev) != tc.rolls {
			t.Errorf("%s: rolls %v, want %v (%q -> %q)", tc.phase, got != prev, tc.rolls, prev, got)
		}
		prev = got
		found := false
		for _, r := range out.Restarts {
			found = found || r.Kind == "Rollout" && r.Name == "storefront-canary"
		}
		if !found {
			t.Errorf("%s: the Rollout is not among the workloads status checks", tc.phase)
		}
		if v := restartAnnotation(t, out, "CloneSet", "shop", "storefront-clones"); v != "" {
			t.Errorf("%s: a kind carousel does not know was annotated: %q", tc.phase, v)
		}
		var warned bool
		for _, w := range warnings(out) {
			warned = warned || strings.Contains(w, "CloneSet shop/storefront-clones (apps.kruise.io/v1alpha1) reads ConfigMap cluster-ca-bundle") && strings.Contains(w, "cannot roll it") && strings.Contains(w, "declare its kind in spec.workloadKinds")
		}
		if !warned {
			t.Errorf("%s: no warning of the CloneSet carousel cannot roll: %v", tc.phase, warnings(out))
		}
	}
}

// A platform's own workload kind, keeping its pod template at another path.
const platformApp = `apiVersion: platform.example.com/v1
kind: App
metadata: {name: storefront-app, namespace: shop}
spec:
  replicas: 2
  workload:
    template:
      metadata: {labels: {app: storefront-app}}
      spec:
        containers:
        - name: web
          image: registry.example.dev/storefront:2.4.1
          volumeMounts: [{name: trust, mountPath: /etc/trust}]
        volumes:
        - name: trust
          configMap: {name: cluster-ca-bundle}
`

// TestAKindTheSpecDeclaresRollsAsADeploymentWould: spec.workloadKinds
// teaches carousel OpenKruise's CloneSet (template at spec.template) and a
// platform's App (template at spec.workload.template): each is annotated at
// its own template path exactly when the Deployment reading the same bundle
// is, is among the workloads status checks, and is no longer warned of.
func TestAKindTheSpecDeclaresRollsAsADeploymentWould(t *testing.T) {
	declare := func(cfg *yaml.RNode) {
		kinds := yaml.MustParse(`- {kind: CloneSet, apiVersion: apps.kruise.io/v1alpha1, resource: clonesets}
- {kind: App, apiVersion: platform.example.com/v1, resource: apps, template: spec.workload.template}
`)
		if err := cfg.PipeE(yaml.Lookup("spec"), yaml.SetField("workloadKinds", kinds)); err != nil {
			t.Fatal(err)
		}
	}
	annotation := func(out gen.Output, kind, name string, path ...string) string {
		n := testkit.Find(out.Items, kind, "shop", name)
		if n == nil {
			t.Fatalf("%s shop/%s is not in the output", kind, name)
		}
		v, _ := n.Pipe(yaml.Lookup(append(path, "metadata", "annotations", gen.RestartAnnotation("cluster-ca"))...))
		return yaml.GetValue(v)
	}
	var prev string
	for _, tc := range []struct {
		phase phases.Phase
		rolls bool
	}{{phases.Steady, false}, {phases.TrustNew, true}, {phases.SignNew, false}, {phases.DistrustOld, true}} {
		out := renderWith(t, tc.phase, testkit.Now, declare, cloneSet, platformApp)
		if out.Failed() {
			t.Fatalf("%s: %v", tc.phase, out.Results)
		}
		deploy := restartAnnotation(t, out, "Deployment", "shop", "storefront")
		clones := annotation(out, "CloneSet", "storefront-clones", "spec", "template")
		app := annotation(out, "App", "storefront-app", "spec", "workload", "template")
		if clones != deploy || app != deploy {
			t.Errorf("%s: CloneSet %q and App %q, want the Deployment's %q: they read the same bundle", tc.phase, clones, app, deploy)
		}
		if (deploy != prev) != tc.rolls {
			t.Errorf("%s: rolls %v, want %v", tc.phase, deploy != prev, tc.rolls)
		}
		prev = deploy
		checked := map[string]bool{}
		for _, r := range out.Restarts {
			checked[r.Kind+"/"+r.Name] = true
		}
		if !checked["CloneSet/storefront-clones"] || !checked["App/storefront-app"] {
			t.Errorf("%s: declared kinds missing from the workloads status checks: %v", tc.phase, checked)
		}
		if w := warnings(out); len(w) > 0 && strings.Contains(strings.Join(w, "\n"), "cannot roll it") {
			t.Errorf("%s: a declared kind is still warned of: %v", tc.phase, w)
		}
	}
}
