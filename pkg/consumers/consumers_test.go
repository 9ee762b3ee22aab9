package consumers

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/spec"
	"github.com/carousel-dev/carousel/pkg/targets"
)

// rulesOf loads a documented rule set (testdata/<mesh>.yaml) through the
// CARotation loader, so the rules tested here are ones the schema and
// Validate accept, and checks docs/spec.md shows them exactly.
func rulesOf(t *testing.T, mesh string) []spec.Restart {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", mesh+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := os.ReadFile(filepath.Join("..", "..", "docs", "spec.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(docs), string(b)) {
		t.Errorf("docs/spec.md does not show testdata/%s.yaml as it is tested", mesh)
	}
	doc := "apiVersion: carousel.dev/v1alpha1\nkind: CARotation\nmetadata: {name: mesh}\nspec:\n  ca: {}\n  restarts:\n" +
		"  " + strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", "\n  ") + "\n"
	rot, err := spec.Load(yaml.MustParse(doc))
	if err != nil {
		t.Fatalf("the %s rules do not load: %v", mesh, err)
	}
	return rot.Spec.Restarts
}

type meta struct{ labels, annotations map[string]string }

func (m meta) ns() Namespaces {
	return func(string) (Namespace, bool) { return Namespace{Labels: m.labels, Annotations: m.annotations}, true }
}

func l(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// TestRulesSelectExactlyWhatTheMeshInjects holds the documented Linkerd and
// Istio rule sets to each system's own decision: Linkerd's truth table in
// linkerd2 pkg/inject/report.go (disableByAnnotation, origin webhook; the
// value "ingress" counts as "enabled"), and Istio's four injector webhooks'
// namespaceSelector/objectSelector followed by injectRequired
// (pkg/kube/inject/inject.go: the sidecar.istio.io/inject label wins over
// the annotation of that name; "false" opts out).
func TestRulesSelectExactlyWhatTheMeshInjects(t *testing.T) {
	const linkerd, istio = "linkerd", "istio"
	tests := []struct {
		name     string
		mesh     string
		ns, pod  meta
		selected bool
	}{
		{"a Namespace annotated linkerd.io/inject: enabled meshes a pod that says nothing", linkerd,
			meta{annotations: l("linkerd.io/inject", "enabled")}, meta{}, true},
		{"a pod annotated linkerd.io/inject: disabled stays out of a Namespace annotated enabled", linkerd,
			meta{annotations: l("linkerd.io/inject", "enabled")}, meta{annotations: l("linkerd.io/inject", "disabled")}, false},
		{"a pod annotated linkerd.io/inject: enabled is meshed in a Namespace that says nothing", linkerd,
			meta{}, meta{annotations: l("linkerd.io/inject", "enabled")}, true},
		{"a pod annotated enabled is meshed even in a Namespace annotated disabled (the pod wins when the Namespace does not opt in)", linkerd,
			meta{annotations: l("linkerd.io/inject", "disabled")}, meta{annotations: l("linkerd.io/inject", "enabled")}, true},
		{"a Namespace annotated disabled meshes a pod that says nothing: no", linkerd,
			meta{annotations: l("linkerd.io/inject", "disabled")}, meta{}, false},
		{"neither the Namespace nor the pod says anything: not meshed", linkerd,
			meta{}, meta{}, false},
		{"a pod annotated disabled in a Namespace that says nothing: not meshed", linkerd,
			meta{}, meta{annotations: l("linkerd.io/inject", "disabled")}, false},
		{"ingress mode on the pod meshes it", linkerd,
			meta{}, meta{annotations: l("linkerd.io/inject", "ingress")}, true},
		{"ingress mode on the Namespace meshes its pods", linkerd,
			meta{annotations: l("linkerd.io/inject", "ingress")}, meta{}, true},
		{"a Namespace label linkerd.io/inject: enabled is not the annotation Linkerd reads", linkerd,
			meta{labels: l("linkerd.io/inject", "enabled")}, meta{}, false},
		{"a pod label linkerd.io/inject: enabled is not the annotation Linkerd reads", linkerd,
			meta{}, meta{labels: l("linkerd.io/inject", "enabled")}, false},
		{"a pod label linkerd.io/inject: disabled does not opt out of a Namespace annotated enabled", linkerd,
			meta{annotations: l("linkerd.io/inject", "enabled")}, meta{labels: l("linkerd.io/inject", "disabled")}, true},

		{"a Namespace labelled istio-injection=enabled injects a pod that says nothing", istio,
			meta{labels: l("istio-injection", "enabled")}, meta{}, true},
		{"a pod labelled sidecar.istio.io/inject=false stays out of a Namespace labelled istio-injection=enabled", istio,
			meta{labels: l("istio-injection", "enabled")}, meta{labels: l("sidecar.istio.io/inject", "false")}, false},
		{"a pod annotated sidecar.istio.io/inject: false stays out of a Namespace labelled istio-injection=enabled", istio,
			meta{labels: l("istio-injection", "enabled")}, meta{annotations: l("sidecar.istio.io/inject", "false")}, false},
		{"the pod's label wins over its annotation: labelled true and annotated false is injected", istio,
			meta{labels: l("istio-injection", "enabled")}, meta{labels: l("sidecar.istio.io/inject", "true"), annotations: l("sidecar.istio.io/inject", "false")}, true},
		{"the pod's label wins over its annotation: labelled false and annotated true stays out", istio,
			meta{labels: l("istio-injection", "enabled")}, meta{labels: l("sidecar.istio.io/inject", "false"), annotations: l("sidecar.istio.io/inject", "true")}, false},
		{"a pod labelled sidecar.istio.io/inject=true is injected in a Namespace without injection labels", istio,
			meta{}, meta{labels: l("sidecar.istio.io/inject", "true")}, true},
		{"a pod only annotated sidecar.istio.io/inject: true in a Namespace without injection labels is not (the webhook selects by label)", istio,
			meta{}, meta{annotations: l("sidecar.istio.io/inject", "true")}, false},
		{"istio-injection=disabled on the Namespace wins over a pod labelled sidecar.istio.io/inject=true", istio,
			meta{labels: l("istio-injection", "disabled")}, meta{labels: l("sidecar.istio.io/inject", "true")}, false},
		{"a Namespace labelled istio.io/rev=default injects a pod that says nothing", istio,
			meta{labels: l("istio.io/rev", "default")}, meta{}, true},
		{"a pod annotated sidecar.istio.io/inject: false stays out of a Namespace labelled istio.io/rev=default", istio,
			meta{labels: l("istio.io/rev", "default")}, meta{annotations: l("sidecar.istio.io/inject", "false")}, false},
		{"a Namespace labelled istio.io/rev of another revision is that revision's, not these rules'", istio,
			meta{labels: l("istio.io/rev", "canary")}, meta{}, false},
		{"istio-injection=enabled beside istio.io/rev injects (the default revision's namespace webhook)", istio,
			meta{labels: l("istio-injection", "enabled", "istio.io/rev", "canary")}, meta{}, true},
		{"a pod labelled istio.io/rev=default is injected in a Namespace without injection labels", istio,
			meta{}, meta{labels: l("istio.io/rev", "default")}, true},
		{"a pod labelled istio.io/rev=default and annotated sidecar.istio.io/inject: false stays out", istio,
			meta{}, meta{labels: l("istio.io/rev", "default"), annotations: l("sidecar.istio.io/inject", "false")}, false},
		{"istio-injection=enabled as a Namespace annotation is not the label Istio reads", istio,
			meta{annotations: l("istio-injection", "enabled")}, meta{}, false},
		{"neither the Namespace nor the pod says anything: not injected", istio,
			meta{}, meta{}, false},
	}
	rules := map[string][]spec.Restart{linkerd: rulesOf(t, linkerd), istio: rulesOf(t, istio)}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := Workload{Kind: "Deployment", Namespace: "app", Name: "web", PodLabels: tc.pod.labels, PodAnnotations: tc.pod.annotations}
			s := Select(rules[tc.mesh], w, tc.ns.ns())
			if s.Selected() != tc.selected {
				t.Errorf("selected = %v (rules %v), %s injects: %v", s.Selected(), s.Rules, tc.mesh, tc.selected)
			}
			wave := map[string]int{linkerd: 3, istio: 1}[tc.mesh]
			if tc.selected && (s.Wave != wave || strings.Join(s.Consumes, ",") != spec.Trust) {
				t.Errorf("wave %d, consumes %v; want wave %d, [trust]", s.Wave, s.Consumes, wave)
			}
		})
	}
}

// TestAMissingNamespaceIsUnseenNotGuessed: a rule reading a Namespace the
// source lacks neither selects nor silently skips; it is reported.
func TestAMissingNamespaceIsUnseenNotGuessed(t *testing.T) {
	rules := rulesOf(t, "linkerd")
	none := func(string) (Namespace, bool) { return Namespace{}, false }
	s := Select(rules, Workload{Kind: "Deployment", Namespace: "app", Name: "web"}, none)
	if s.Selected() || len(s.Unseen) != 2 {
		t.Errorf("selection %+v: want nothing selected and both namespace rules unseen", s)
	}
	// A pod opt-in needs no Namespace.
	s = Select(rules, Workload{Kind: "Deployment", Namespace: "app", Name: "web", PodAnnotations: l("linkerd.io/inject", "enabled")}, none)
	if !s.Selected() {
		t.Errorf("a pod annotated enabled is meshed wherever it runs: %+v", s)
	}
	// An opted-out pod is not selected whatever the Namespace says: nothing unseen.
	s = Select(rules, Workload{Kind: "Deployment", Namespace: "app", Name: "web", PodAnnotations: l("linkerd.io/inject", "disabled")}, none)
	if s.Selected() || len(s.Unseen) != 0 {
		t.Errorf("an opted-out pod: %+v", s)
	}
}

func TestRulesAddUpAndTheLowestWaveWins(t *testing.T) {
	rules := []spec.Restart{
		{Namespace: "linkerd", Name: "linkerd-identity", Wave: 0, Consumes: []string{"leaf:issuer"}},
		{NamespaceAnnotations: l("linkerd.io/inject", "enabled"), Wave: 2, Consumes: []string{spec.Trust}},
		{Selector: l("app", "web"), Wave: 1, Consumes: []string{spec.Trust}},
	}
	nss := meta{annotations: l("linkerd.io/inject", "enabled")}.ns()
	tests := []struct {
		name     string
		w        Workload
		wave     int
		consumes string
	}{
		{"a workload two rules select goes in the lower wave and consumes both", Workload{Kind: "Deployment", Namespace: "linkerd", Name: "linkerd-identity"}, 0, "leaf:issuer,trust"},
		{"a workload selected by its own labels keeps the selector rule's wave", Workload{Kind: "Deployment", Namespace: "app", Name: "web", Labels: l("app", "web")}, 1, "trust"},
		{"the selector reads the workload's labels, not its pod template's", Workload{Kind: "Deployment", Namespace: "app", Name: "api", PodLabels: l("app", "web")}, 2, "trust"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := Select(rules, tc.w, nss)
			if s.Wave != tc.wave || strings.Join(s.Consumes, ",") != tc.consumes {
				t.Errorf("wave %d consumes %v, want %d %s", s.Wave, s.Consumes, tc.wave, tc.consumes)
			}
		})
	}
}

func TestWorkloadOfReadsThePodTemplateOfEachKind(t *testing.T) {
	cj := yaml.MustParse(`apiVersion: batch/v1
kind: CronJob
metadata: {name: backup, namespace: app, labels: {team: a}}
spec:
  jobTemplate:
    spec:
      template:
        metadata:
          labels: {sidecar.istio.io/inject: "true"}
          annotations: {linkerd.io/inject: enabled}
`)
	w, ok := WorkloadOf(targets.Builtin(), cj)
	if !ok || w.PodLabels["sidecar.istio.io/inject"] != "true" || w.PodAnnotations["linkerd.io/inject"] != "enabled" || w.Labels["team"] != "a" {
		t.Errorf("WorkloadOf(CronJob) = %+v, %v", w, ok)
	}
	if _, ok := WorkloadOf(targets.Builtin(), yaml.MustParse("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")); ok {
		t.Error("a ConfigMap is not a workload")
	}
}
