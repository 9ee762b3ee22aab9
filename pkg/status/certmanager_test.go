package status

import (
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// The leaf order check runs in the phases an issuerRef flip lands in, and
// only there: elsewhere cert-manager rewrites a leaf only to renew it.
func TestSignerFlipsInThePhasesAnIssuerRefFlipLandsIn(t *testing.T) {
	want := map[phases.Phase]bool{
		phases.Steady:      false, // the next phase signs with the same CA
		phases.TrustNew:    true,  // a rollback from sign-new flips back to the old signer
		phases.SignNew:     true,  // the flip forward
		phases.DistrustOld: false,
		phases.Cleanup:     false,
	}
	for phase, flips := range want {
		t.Run(string(phase), func(t *testing.T) {
			rot := &spec.CARotation{Spec: spec.Spec{Scope: phases.ScopeCA, Phase: phase}}
			got, err := signerFlips(rot)
			if err != nil {
				t.Fatal(err)
			}
			if got != flips {
				t.Fatalf("signerFlips at %s = %v, want %v", phase, got, flips)
			}
		})
	}
}

// A pod whose trust is a leaf Secret's ca.crt is said again by status (the
// live check cannot see it), and a pod mounting the whole Secret for its
// certificate and key is not.
func TestStatusSaysTheRenderWarningAboutPodsTrustingALeafSecretsCACrt(t *testing.T) {
	cfg := yaml.MustParse(`apiVersion: carousel.dev/v1alpha1
kind: CARotation
metadata: {name: mesh}
spec:
  backend: cert-manager
  certManager: {generations: {old: 1}}
  ca: {commonName: mesh root}
  leaves:
  - name: issuer
    commonName: issuer.mesh
    secret: {name: mesh-issuer, namespace: mesh}
`)
	rot, err := spec.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	deployment := func(name, volume string) *yaml.RNode {
		return yaml.MustParse(`apiVersion: apps/v1
kind: Deployment
metadata: {name: ` + name + `, namespace: mesh}
spec:
  selector: {matchLabels: {app: ` + name + `}}
  template:
    metadata: {labels: {app: ` + name + `}}
    spec:
      containers: [{name: app, image: app}]
      volumes:
      - name: v
        secret: ` + volume + `
`)
	}
	out := gen.Render(gen.Input{Rotation: rot, Config: cfg, Now: time.Unix(0, 0), Items: []*yaml.RNode{
		deployment("trusts-ca-crt", "{secretName: mesh-issuer, items: [{key: ca.crt, path: ca.pem}]}"),
		deployment("whole-mount", "{secretName: mesh-issuer}"),
	}})
	if out.Failed() {
		t.Fatalf("render failed: %v", out.Results)
	}
	got := strings.Join(renderWarnings(out), "\n")
	if !strings.Contains(got, "Deployment mesh/trusts-ca-crt: ") || !strings.Contains(got, "ca.crt") {
		t.Fatalf("status does not say the ca.crt warning for trusts-ca-crt:\n%s", got)
	}
	if strings.Contains(got, "whole-mount") {
		t.Fatalf("status warns about a pod mounting the whole leaf Secret:\n%s", got)
	}
}
