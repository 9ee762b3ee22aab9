package gen

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/cmbackend"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
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

// cmPulled makes generations 1 and 2 of cmRot's CA with real keys and
// returns their CACertificates, as `carousel pull` commits them.
func cmPulled(t *testing.T) []*yaml.RNode {
	t.Helper()
	out, _ := cmPulledWithKeys(t)
	return out
}

// cmPulledWithKeys is cmPulled, also returning each generation's CA (its
// key stands for the one cert-manager keeps in the cluster).
func cmPulledWithKeys(t *testing.T) ([]*yaml.RNode, map[int]pki.Pair) {
	t.Helper()
	var out []*yaml.RNode
	keys := map[int]pki.Pair{}
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
		out = append(out, n)
		keys[g] = ca
	}
	return out, keys
}

// cmRotation is cmRot at a position of a rotation from generation old.
func cmRotation(t *testing.T, extra string, phase phases.Phase, old, new int) (*spec.CARotation, *yaml.RNode) {
	t.Helper()
	gens := fmt.Sprintf("{old: %d}", old)
	if new != 0 {
		gens = fmt.Sprintf("{old: %d, new: %d}", old, new)
	}
	cfg := yaml.MustParse(strings.Replace(cmRot, "{generations: {old: 1}}", "{generations: "+gens+"}\n  phase: "+string(phase), 1) + extra)
	rot, err := spec.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rot, cfg
}

// cmRotationSteps is a whole rotation of the cert-manager backend: from
// adoption (generation 1, nothing pulled) to the steady phase that
// finishes it (generation 2 the CA in use).
var cmRotationSteps = []struct {
	name     string
	phase    phases.Phase
	old, new int
	pulled   int // how many generations are in git
}{
	{"adoption", phases.Steady, 1, 0, 0},
	{"start", phases.Steady, 1, 2, 1},
	{"trust-new", phases.TrustNew, 1, 2, 2},
	{"sign-new", phases.SignNew, 1, 2, 2},
	{"distrust-old", phases.DistrustOld, 1, 2, 2},
	{"cleanup", phases.Cleanup, 1, 2, 2},
	{"finished", phases.Steady, 2, 0, 2},
}

// TestCertManagerWorkloadsRollExactlyWhenWhatTheyConsumeChanges walks a
// rotation of the cert-manager backend: a pod reading the Bundle target
// and one a restart rule says consumes trust roll exactly when the trusted
// set changes (trust-new, distrust-old); a pod reading the leaf Secret
// rolls exactly at sign-new, when the issuerRef flips to the new
// generation; adoption rolls nothing, and neither does finishing (the
// promoted generation keeps its annotation).
func TestCertManagerWorkloadsRollExactlyWhenWhatTheyConsumeChanges(t *testing.T) {
	pulled := cmPulled(t)
	workloads := func() []*yaml.RNode {
		return []*yaml.RNode{
			cmDeployment("trust-reader", `      containers: [{name: app, image: app}]
      volumes:
      - name: roots
        configMap: {name: mesh-roots}
`),
			cmDeployment("rule-trust", "      containers: [{name: app, image: app}]\n"),
			cmDeployment("leaf-reader", `      containers: [{name: app, image: app}]
      volumes:
      - name: tls
        secret: {secretName: mesh-issuer}
`),
		}
	}
	rolls := map[string][]string{}
	prev := map[string]string{}
	for _, step := range cmRotationSteps {
		rot, cfg := cmRotation(t, "  restarts:\n  - {namespace: mesh, name: rule-trust}\n", step.phase, step.old, step.new)
		items := append(workloads(), pulled[:step.pulled]...)
		out := Render(Input{Rotation: rot, Config: cfg, Items: items, Now: time.Unix(0, 0)})
		if out.Failed() {
			t.Fatalf("%s: render failed: %v", step.name, out.Results)
		}
		for _, r := range out.Results {
			if r.Field != nil && r.Field.Path == "spec.restarts" {
				t.Errorf("%s: warning at spec.restarts: %s", step.name, r.Message)
			}
		}
		for _, n := range out.Items {
			if n.GetKind() != "Deployment" {
				continue
			}
			v, _ := n.Pipe(yaml.Lookup("spec", "template", "metadata", "annotations", RestartAnnotation("mesh")))
			hash := ""
			if v != nil {
				hash = yaml.GetValue(v)
			}
			if hash != prev[n.GetName()] {
				rolls[n.GetName()] = append(rolls[n.GetName()], step.name)
			}
			prev[n.GetName()] = hash
		}
	}
	want := map[string][]string{
		"trust-reader": {"trust-new", "distrust-old"},
		"rule-trust":   {"trust-new", "distrust-old"},
		"leaf-reader":  {"sign-new"},
	}
	for name, w := range want {
		if !slices.Equal(rolls[name], w) {
			t.Errorf("%s rolled at %v, want %v", name, rolls[name], w)
		}
	}
}

// TestCertManagerCABundlesHoldThePulledTrustedGenerations: a webhook's
// caBundle holds exactly the phase's trusted generations, as pulled into
// git, at every phase; before the CA in use is pulled it is left as the
// input holds it, with a warning naming `carousel pull`.
func TestCertManagerCABundlesHoldThePulledTrustedGenerations(t *testing.T) {
	pulled := cmPulled(t)
	certOf := map[int]string{}
	for _, n := range pulled {
		p, prob := cmbackend.Parse(n)
		if prob != nil {
			t.Fatal(prob.Message)
		}
		certOf[p.Generation] = pki.Fingerprint(p.Cert)
	}
	want := map[string][]int{"adoption": nil, "start": {1}, "trust-new": {1, 2}, "sign-new": {1, 2}, "distrust-old": {2}, "cleanup": {2}, "finished": {2}}
	for _, step := range cmRotationSteps {
		t.Run("at "+step.name+" the caBundle holds generations "+fmt.Sprint(want[step.name]), func(t *testing.T) {
			rot, cfg := cmRotation(t, "  caBundles:\n  - {kind: ValidatingWebhookConfiguration, name: hook}\n", step.phase, step.old, step.new)
			hook := yaml.MustParse(`apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: hook}
webhooks:
- name: a.mesh
  clientConfig: {service: {name: a, namespace: mesh}}
`)
			out := Render(Input{Rotation: rot, Config: cfg, Items: append([]*yaml.RNode{hook}, pulled[:step.pulled]...), Now: time.Unix(0, 0)})
			if out.Failed() {
				t.Fatalf("render failed: %v", out.Results)
			}
			v, _ := hook.Pipe(yaml.Lookup("webhooks", "0", "clientConfig", "caBundle"))
			if want[step.name] == nil {
				if v != nil {
					t.Fatalf("caBundle set before the CA in use was pulled: %s", yaml.GetValue(v))
				}
				warned := false
				for _, r := range out.Results {
					warned = warned || (r.Field != nil && r.Field.Path == "spec.caBundles" && strings.Contains(r.Message, "carousel pull"))
				}
				if !warned {
					t.Fatalf("no warning at spec.caBundles: %v", out.Results)
				}
				return
			}
			if v == nil {
				t.Fatal("no caBundle")
			}
			raw, err := base64.StdEncoding.DecodeString(yaml.GetValue(v))
			if err != nil {
				t.Fatal(err)
			}
			certs, err := pki.ParseCerts(raw)
			if err != nil {
				t.Fatal(err)
			}
			var got, wantFPs []string
			for _, c := range certs {
				got = append(got, pki.Fingerprint(c))
			}
			for _, g := range want[step.name] {
				wantFPs = append(wantFPs, certOf[g])
			}
			slices.Sort(got) // the trusted set is ordered by newTrustSet, not by generation
			slices.Sort(wantFPs)
			if !slices.Equal(got, wantFPs) {
				t.Fatalf("caBundle holds %v, want generations %v (%v)", got, want[step.name], wantFPs)
			}
			if len(out.Managed) != 1 || out.Managed[0].Name != "hook" {
				t.Fatalf("managed %v, want the webhook (status compares it)", out.Managed)
			}
		})
	}
}

// TestAFinishedCertManagerRotationRefusesToDropItsAnnotationsWithoutTheCA:
// at steady after a rotation (old generation 2), the consumers carry the
// annotation the rotation gave them; without generation 2's certificate in
// git the render cannot make it, and refuses (naming carousel pull) rather
// than drop it and roll every consumer.
func TestAFinishedCertManagerRotationRefusesToDropItsAnnotationsWithoutTheCA(t *testing.T) {
	rot, cfg := cmRotation(t, "", phases.Steady, 2, 0)
	items := []*yaml.RNode{cmDeployment("trust-reader", `      containers: [{name: app, image: app}]
      volumes:
      - name: roots
        configMap: {name: mesh-roots}
`)}
	out := Render(Input{Rotation: rot, Config: cfg, Items: items, Now: time.Unix(0, 0)})
	if !out.Failed() || out.Items != nil {
		t.Fatalf("rendered without generation 2's certificate: %v", out.Results)
	}
	for _, r := range out.Results {
		if r.Field != nil && r.Field.Path == "spec.certManager.generations.old" && strings.Contains(r.Message, "carousel pull") {
			return
		}
	}
	t.Fatalf("no error at spec.certManager.generations.old naming carousel pull: %v", out.Results)
}
