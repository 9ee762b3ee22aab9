package gen_test

import (
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// A pod that mounts kube-root-ca.crt itself (a projected service-account
// volume, as the API server's admission writes it into every pod).
const projectedConsumer = `apiVersion: apps/v1
kind: Deployment
metadata: {name: operator, namespace: monitoring}
spec:
  selector: {matchLabels: {app: operator}}
  template:
    metadata: {labels: {app: operator}}
    spec:
      containers: [{name: op, image: registry.example/op:1}]
      volumes:
      - name: kube-api-access
        projected:
          sources:
          - serviceAccountToken: {path: token}
          - configMap: {name: kube-root-ca.crt, items: [{key: ca.crt, path: ca.crt}]}
`

// TestAPodMountingKubeRootCARollsAfterTheNodeStep: with the kubernetes
// runbook a pod reading kube-root-ca.crt consumes the set the nodes
// publish, found from its pod spec without a restart rule: it rolls in the
// in-cluster-config steps and nowhere else. Without the runbook the
// ConfigMap is nothing the rotation manages, and it never rolls.
func TestAPodMountingKubeRootCARollsAfterTheNodeStep(t *testing.T) {
	for _, tt := range []struct {
		name    string
		runbook spec.Runbook
		rolls   []string
	}{
		{"with the kubernetes runbook it rolls in the in-cluster-config steps", spec.RunbookKubernetes,
			[]string{"trust-new/in-cluster-config", "distrust-old/in-cluster-config"}},
		{"without a runbook it never rolls", spec.RunbookNone, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r0 := example(t).Rotation(t)
			r0.Spec.Runbook = tt.runbook
			path, _ := phases.Path(r0.Spec.Scope, r0.Features())
			var rolled []string
			prev := ""
			for i, p := range path {
				out := renderTokens(t, p.Phase, func(r *spec.CARotation) {
					r.Spec.Runbook, r.Spec.Step = tt.runbook, p.Step
					if tt.runbook != spec.RunbookKubernetes {
						r.Spec.Restarts = nil // in-cluster-config rules need the runbook
						r.Spec.ServiceAccountTokens = false
					}
				}, projectedConsumer)
				if out.Failed() {
					t.Fatal(out.Results)
				}
				d := testkit.Find(out.Items, "Deployment", "monitoring", "operator")
				v, _ := d.Pipe(yaml.Lookup("spec", "template", "metadata", "annotations", gen.RestartAnnotation("cluster-ca")))
				if h := yaml.GetValue(v); i > 0 && h != prev {
					rolled = append(rolled, p.String())
				}
				prev = yaml.GetValue(v)
			}
			if len(rolled) != len(tt.rolls) || (len(rolled) > 0 && (rolled[0] != tt.rolls[0] || rolled[1] != tt.rolls[1])) {
				t.Fatalf("rolled at %v, want %v", rolled, tt.rolls)
			}
		})
	}
}
