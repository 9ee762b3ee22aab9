package fleet

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/cmbackend"
	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// TestACertManagerOwnerPublishesWhatItsConsumersRollOn walks a rotation of
// backend cert-manager (keys in the cluster, public certificates pulled
// into git) and, at every step, publishes the owner's state and renders a
// consumer package from it: a workload there that consumes the trust, and
// one that consumes the leaf cert-manager re-issues, carry exactly the
// annotation the same workloads carry in the owner's package, and the
// consumer's bundle holds the phase's trusted generations. The state holds
// no key. Before the CA in use is pulled there is no state to publish.
func TestACertManagerOwnerPublishesWhatItsConsumersRollOn(t *testing.T) {
	var pulled []*yaml.RNode
	for g := 1; g <= 2; g++ {
		ca, err := pki.NewCA(pki.CARequest{CommonName: "mesh root", Validity: time.Hour, Algorithm: "ecdsa-p256"})
		if err != nil {
			t.Fatal(err)
		}
		certs, err := pki.ParseCerts(ca.CertPEM)
		if err != nil {
			t.Fatal(err)
		}
		n, err := cmbackend.New("mesh", g, certs[0])
		if err != nil {
			t.Fatal(err)
		}
		pulled = append(pulled, n)
	}
	const restarts = `  restarts:
  - {namespace: shop, name: trust-app}
  - {namespace: shop, name: leaf-app, consumes: ["leaf:issuer"]}
`
	workloads := func() []*yaml.RNode {
		var out []*yaml.RNode
		for _, name := range []string{"trust-app", "leaf-app"} {
			out = append(out, yaml.MustParse(`apiVersion: apps/v1
kind: Deployment
metadata: {name: `+name+`, namespace: shop}
spec:
  selector: {matchLabels: {app: `+name+`}}
  template:
    metadata: {labels: {app: `+name+`}}
    spec: {containers: [{name: app, image: app}]}
`))
		}
		return out
	}
	steps := []struct {
		name     string
		phase    phases.Phase
		old, new int
		pulled   int
	}{
		{"adoption", phases.Steady, 1, 0, 0},
		{"start", phases.Steady, 1, 2, 1},
		{"trust-new", phases.TrustNew, 1, 2, 2},
		{"sign-new", phases.SignNew, 1, 2, 2},
		{"distrust-old", phases.DistrustOld, 1, 2, 2},
		{"cleanup", phases.Cleanup, 1, 2, 2},
		{"finished", phases.Steady, 2, 0, 2},
	}
	changed := map[string][]string{}
	prev := map[string]string{}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			gens := fmt.Sprintf("{old: %d}", step.old)
			if step.new != 0 {
				gens = fmt.Sprintf("{old: %d, new: %d}", step.old, step.new)
			}
			cfg := yaml.MustParse(`apiVersion: carousel.dev/v1alpha1
kind: CARotation
metadata: {name: mesh}
spec:
  phase: ` + string(step.phase) + `
  backend: cert-manager
  certManager: {generations: ` + gens + `}
  ca: {commonName: mesh root}
  publish: state/state.yaml
  leaves:
  - name: issuer
    commonName: issuer.mesh
    secret: {name: mesh-issuer, namespace: mesh}
` + restarts)
			rot, err := spec.Load(cfg)
			if err != nil {
				t.Fatal(err)
			}
			owner := gen.Render(gen.Input{Rotation: rot, Config: cfg, Items: append(workloads(), pulled[:step.pulled]...), Now: time.Unix(0, 0)})
			if owner.Failed() {
				t.Fatalf("owner render failed: %v", owner.Results)
			}
			if step.pulled == 0 {
				if owner.Published != nil {
					t.Fatal("a state to publish before the CA in use is in git")
				}
				return
			}
			if owner.Published == nil {
				t.Fatal("no state to publish")
			}
			state, err := Marshal(State(rot, owner))
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(state, []byte("PRIVATE KEY")) {
				t.Fatal("the state holds a private key")
			}
			stateNode, err := yaml.Parse(string(state))
			if err != nil {
				t.Fatal(err)
			}
			ccfg := yaml.MustParse(`apiVersion: carousel.dev/v1alpha1
kind: CARotationConsumer
metadata: {name: shop}
spec:
  state: mesh
  bundles:
  - {name: mesh-roots, namespaces: [shop]}
` + restarts)
			consumer, err := spec.LoadConsumer(ccfg)
			if err != nil {
				t.Fatal(err)
			}
			out := gen.RenderConsumer(gen.ConsumerInput{Consumer: consumer, Config: ccfg, Items: append(workloads(), stateNode)})
			if out.Failed() {
				t.Fatalf("consumer render failed: %v", out.Results)
			}
			for _, name := range []string{"trust-app", "leaf-app"} {
				o, c := annotation(owner.Items, name), annotation(out.Items, name)
				if o != c {
					t.Errorf("%s: the owner annotates %q, the consumer %q", name, o, c)
				}
				if c != prev[name] {
					changed[name] = append(changed[name], step.name)
				}
				prev[name] = c
			}
			for _, n := range out.Items {
				if n.GetKind() == "ConfigMap" && n.GetName() == "mesh-roots" {
					certs, err := pki.ParseCerts([]byte(n.GetDataMap()["ca.crt"]))
					if err != nil || len(certs) != len(owner.Published.Trusted) {
						t.Errorf("the consumer's bundle holds %d certificates (%v), want the %d trusted", len(certs), err, len(owner.Published.Trusted))
					}
				}
			}
		})
	}
	// The trust consumer rolls when the trusted set changes, the leaf
	// consumer when cert-manager is told to re-issue (the signer changes).
	if got := strings.Join(changed["trust-app"], ","); got != "trust-new,distrust-old" {
		t.Errorf("trust-app's annotation changed at %s", got)
	}
	if got := strings.Join(changed["leaf-app"], ","); got != "sign-new" {
		t.Errorf("leaf-app's annotation changed at %s", got)
	}
}

func annotation(items []*yaml.RNode, name string) string {
	for _, n := range items {
		if n.GetKind() == "Deployment" && n.GetName() == name {
			v, _ := n.Pipe(yaml.Lookup("spec", "template", "metadata", "annotations", gen.RestartAnnotation("mesh")))
			return yaml.GetValue(v)
		}
	}
	return ""
}
