package gen

import (
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/spec"
)

const cmRot = `apiVersion: carousel.dev/v1alpha1
kind: CARotation
metadata:
  name: mesh
spec:
  backend: cert-manager
  certManager: {generations: {old: 1}}
  ca: {commonName: mesh root}
  leaves:
  - name: issuer
    commonName: issuer.mesh
    secret: {name: mesh-issuer, namespace: mesh}
  bundles:
  - {name: mesh-roots, namespaces: [mesh]}
`

func cmDeployment(name, podSpec string) *yaml.RNode {
	return yaml.MustParse(`apiVersion: apps/v1
kind: Deployment
metadata: {name: ` + name + `, namespace: mesh}
spec:
  selector: {matchLabels: {app: x}}
  template:
    metadata: {labels: {app: x}}
    spec:
` + podSpec)
}

// TestACertManagerRenderWarnsAboutPodsTrustingALeafSecretsCACrt: a pod that
// reads ca.crt of a leaf Secret by name loses the old CA at sign-new
// (cert-manager writes only the issuer there); one mounting the whole
// Secret for its certificate and key is not warned about. The render keeps
// every workload byte-identical and renders no Secret.
func TestACertManagerRenderWarnsAboutPodsTrustingALeafSecretsCACrt(t *testing.T) {
	cfg := yaml.MustParse(cmRot)
	rot, err := spec.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	items := []*yaml.RNode{
		cmDeployment("env-reader", `      containers:
      - name: app
        image: app
        env:
        - name: CA
          valueFrom: {secretKeyRef: {name: mesh-issuer, key: ca.crt}}
`),
		cmDeployment("item-reader", `      containers: [{name: app, image: app}]
      volumes:
      - name: trust
        secret: {secretName: mesh-issuer, items: [{key: ca.crt, path: ca.pem}]}
`),
		cmDeployment("whole-mount", `      containers: [{name: app, image: app}]
      volumes:
      - name: tls
        secret: {secretName: mesh-issuer}
`),
	}
	before := make([]string, len(items))
	for i, n := range items {
		before[i] = n.MustString()
	}
	out := Render(Input{Rotation: rot, Config: cfg, Items: items, Now: time.Unix(0, 0)})
	if out.Failed() {
		t.Fatalf("render failed: %v", out.Results)
	}
	warned := map[string]bool{}
	for _, r := range out.Results {
		if r.ResourceRef != nil && strings.Contains(r.Message, "ca.crt") {
			warned[r.ResourceRef.Name] = true
		}
	}
	if !warned["env-reader"] || !warned["item-reader"] || warned["whole-mount"] {
		t.Fatalf("warned about %v, want env-reader and item-reader only", warned)
	}
	for i, n := range items {
		if n.MustString() != before[i] {
			t.Errorf("workload %s changed", n.GetName())
		}
	}
	for _, n := range out.Items {
		if n.GetKind() == "Secret" {
			t.Errorf("the cert-manager backend rendered Secret %s", n.GetName())
		}
	}
}

// TestACertManagerRenderSaysItsRestartRulesRollNothing: the backend writes
// no restart annotations yet, and says so instead of ignoring the rules.
func TestACertManagerRenderSaysItsRestartRulesRollNothing(t *testing.T) {
	cfg := yaml.MustParse(cmRot + "  restarts:\n  - {namespace: mesh, name: app}\n")
	rot, err := spec.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	out := Render(Input{Rotation: rot, Config: cfg, Now: time.Unix(0, 0)})
	for _, r := range out.Results {
		if r.Field != nil && r.Field.Path == "spec.restarts" && strings.Contains(r.Message, "roll nothing") {
			return
		}
	}
	t.Fatalf("no warning at spec.restarts: %v", out.Results)
}
