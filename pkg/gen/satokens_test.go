package gen_test

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// tokenSecret is a legacy service-account token Secret as the token
// controller leaves it (the token is not a real one: nothing here checks
// it), with a stale ca.crt in stringData too, which the API server would
// write over data.
const tokenSecret = `apiVersion: v1
kind: Secret
metadata:
  name: scraper-token
  namespace: monitoring
  labels:
    team: observability
  annotations:
    kubernetes.io/service-account.name: scraper
    kubernetes.io/service-account.uid: 0d4f3c1e-0000-4000-8000-000000000000
type: kubernetes.io/service-account-token
data:
  token: bm90LWEtcmVhbC10b2tlbg==
  namespace: bW9uaXRvcmluZw==
  ca.crt: c3RhbGU=
stringData:
  ca.crt: stale
  extra: kept
`

// tokenConsumer mounts the token Secret as a volume, as a pod did before
// projected tokens; no restart rule selects it.
const tokenConsumer = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: scraper
  namespace: monitoring
spec:
  selector: {matchLabels: {app: scraper}}
  template:
    metadata: {labels: {app: scraper}}
    spec:
      containers:
      - name: scraper
        image: registry.example/scraper:1
        volumeMounts: [{name: sa, mountPath: /var/run/secrets/kubernetes.io/serviceaccount}]
      volumes:
      - name: sa
        secret: {secretName: scraper-token}
`

// renderTokens renders the example in a phase with the rotation edited and
// extra input items.
func renderTokens(t *testing.T, phase phases.Phase, edit func(*spec.CARotation), extra ...string) gen.Output {
	t.Helper()
	pkg := example(t)
	cfg := pkg.WithPhase(t, phase)
	rot, err := spec.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	edit(rot)
	items := pkg.CopyItems()
	for _, e := range extra {
		items = append(items, yaml.MustParse(e))
	}
	return gen.Render(gen.Input{Rotation: rot, Config: cfg, Items: items, Now: testkit.Now})
}

func tokensOn(on bool) func(*spec.CARotation) {
	return func(r *spec.CARotation) { r.Spec.ServiceAccountTokens = on }
}

func TestServiceAccountTokensCarryExactlyThePhasesTrustedSetAndKeepEverythingElse(t *testing.T) {
	tests := []struct {
		phase phases.Phase
		cas   int
	}{
		{phases.Steady, 1},
		{phases.TrustNew, 2},
		{phases.SignNew, 2},
		{phases.DistrustOld, 1},
		{phases.Cleanup, 1},
	}
	for _, tt := range tests {
		t.Run(string(tt.phase), func(t *testing.T) {
			out := renderTokens(t, tt.phase, tokensOn(true), tokenSecret)
			if out.Failed() {
				t.Fatal(out.Results)
			}
			s := testkit.Find(out.Items, "Secret", "monitoring", "scraper-token")
			if s == nil {
				t.Fatal("the token Secret is gone")
			}
			// Byte for byte the trusted set every other trust object of
			// the phase carries (the bundle ConfigMap).
			bundle := testkit.Find(out.Items, "ConfigMap", "monitoring", "cluster-ca-bundle")
			want, _ := bundle.Pipe(yaml.Lookup("data", "ca.crt"))
			got, _ := s.Pipe(yaml.Lookup("data", "ca.crt"))
			raw, err := base64.StdEncoding.DecodeString(yaml.GetValue(got))
			if err != nil {
				t.Fatal(err)
			}
			if string(raw) != yaml.GetValue(want) {
				t.Errorf("ca.crt is\n%s\nwant the phase's trusted set\n%s", raw, yaml.GetValue(want))
			}
			if n := len(trustedFingerprints(t, yaml.GetValue(got))); n != tt.cas {
				t.Errorf("ca.crt holds %d CAs, want %d", n, tt.cas)
			}
			for key, value := range map[string]string{"token": "bm90LWEtcmVhbC10b2tlbg==", "namespace": "bW9uaXRvcmluZw=="} {
				if v, _ := s.Pipe(yaml.Lookup("data", key)); yaml.GetValue(v) != value {
					t.Errorf("data.%s = %q, want it kept as %q", key, yaml.GetValue(v), value)
				}
			}
			if v, _ := s.Pipe(yaml.Lookup("stringData", "ca.crt")); v != nil {
				t.Error("stringData.ca.crt stays, and the API server would write it over data.ca.crt")
			}
			if v, _ := s.Pipe(yaml.Lookup("stringData", "extra")); yaml.GetValue(v) != "kept" {
				t.Error("another stringData key was dropped")
			}
			if got := s.GetLabels(); len(got) != 1 || got["team"] != "observability" {
				t.Errorf("labels = %v, want them as the input has them", got)
			}
			if got := s.GetAnnotations(); len(got) != 2 || got["kubernetes.io/service-account.name"] != "scraper" {
				t.Errorf("annotations = %v, want them as the input has them", got)
			}
			if stringOf(s, "type") != gen.ServiceAccountTokenType {
				t.Error("the type changed")
			}
			i := slices.IndexFunc(out.Managed, func(m gen.Managed) bool { return m.Kind == "Secret" && m.Name == "scraper-token" })
			if i < 0 {
				t.Fatal("the token Secret is not managed: status would not verify it")
			}
			if m := out.Managed[i]; m.Carries != spec.Trust || m.Object != s {
				t.Errorf("managed as %q (object %p, want %p), want %q", m.Carries, m.Object, s, spec.Trust)
			}
		})
	}
}

// TestAWorkloadMountingAServiceAccountTokenRollsExactlyWhenTrustChanges:
// kube-controller-manager's token controller writes ca.crt from
// --root-ca-file, so with the kubernetes runbook a pod mounting a token
// Secret reads the set the node step published: it rolls in the
// in-cluster-config step of the phases that change trust (after the node
// step), not with the objects, and never otherwise.
func TestAWorkloadMountingAServiceAccountTokenRollsExactlyWhenTrustChanges(t *testing.T) {
	type pos = phases.Position
	path, err := phases.Path(phases.ScopeCA, phases.Features{NodeTrust: true})
	if err != nil {
		t.Fatal(err)
	}
	hash := map[pos]string{}
	for _, p := range path {
		out := renderTokens(t, p.Phase, func(r *spec.CARotation) {
			r.Spec.ServiceAccountTokens = true
			r.Spec.Step = p.Step
		}, tokenSecret, tokenConsumer)
		if out.Failed() {
			t.Fatal(out.Results)
		}
		d := testkit.Find(out.Items, "Deployment", "monitoring", "scraper")
		v, _ := d.Pipe(yaml.Lookup("spec", "template", "metadata", "annotations", gen.RestartAnnotation("cluster-ca")))
		hash[p] = yaml.GetValue(v)
	}
	obj, ic := phases.StepObjects, phases.StepInClusterConfig
	tests := []struct {
		name     string
		from, to pos
		rolls    bool
	}{
		{"adopting carousel at steady rolls nothing", pos{}, pos{Phase: phases.Steady, Step: obj}, false},
		{"trust-new's objects do not roll it: the node step has not published the new CA", pos{Phase: phases.Steady, Step: obj}, pos{Phase: phases.TrustNew, Step: obj}, false},
		{"trust-new's in-cluster-config step rolls it onto both CAs", pos{Phase: phases.TrustNew, Step: obj}, pos{Phase: phases.TrustNew, Step: ic}, true},
		{"sign-new keeps the trusted set: it does not roll", pos{Phase: phases.TrustNew, Step: ic}, pos{Phase: phases.SignNew, Step: obj}, false},
		{"distrust-old's objects do not roll it", pos{Phase: phases.SignNew, Step: obj}, pos{Phase: phases.DistrustOld, Step: obj}, false},
		{"distrust-old's in-cluster-config step rolls it onto the new CA", pos{Phase: phases.DistrustOld, Step: obj}, pos{Phase: phases.DistrustOld, Step: ic}, true},
		{"cleanup keeps the trusted set: it does not roll", pos{Phase: phases.DistrustOld, Step: ic}, pos{Phase: phases.Cleanup, Step: obj}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := hash[tt.from] // "" before adoption: no annotation
			if rolled := hash[tt.to] != before; rolled != tt.rolls {
				t.Errorf("restart annotation %q -> %q: rolled = %v, want %v", before, hash[tt.to], rolled, tt.rolls)
			}
		})
	}
}

func TestServiceAccountTokensLeftAloneAreWarnedAboutOnlyWhenTheRotationIsTheClusterCAs(t *testing.T) {
	tests := []struct {
		name    string
		on      bool
		runbook spec.Runbook
		warns   bool
	}{
		{"off, with the kubernetes runbook: a warning names the Secret and the field", false, spec.RunbookKubernetes, true},
		{"off, without a runbook (another CA's rotation): no warning", false, spec.RunbookNone, false},
		{"on: updated, no warning", true, spec.RunbookKubernetes, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := renderTokens(t, phases.TrustNew, func(r *spec.CARotation) {
				r.Spec.ServiceAccountTokens, r.Spec.Runbook = tt.on, tt.runbook
			}, tokenSecret)
			if out.Failed() {
				t.Fatal(out.Results)
			}
			var found []string
			for _, w := range warnings(out) {
				if strings.Contains(w, "service-account token") && strings.Contains(w, "monitoring/scraper-token") {
					found = append(found, w)
				}
			}
			if !tt.warns {
				if len(found) > 0 {
					t.Errorf("unexpected warning: %v", found)
				}
				return
			}
			if len(found) != 1 || !strings.Contains(found[0], "spec.serviceAccountTokens: true") || !strings.Contains(found[0], "data.ca.crt") {
				t.Fatalf("want one warning naming monitoring/scraper-token and spec.serviceAccountTokens, got %v", found)
			}
			s := testkit.Find(out.Items, "Secret", "monitoring", "scraper-token")
			if got, want := s.MustString(), yaml.MustParse(tokenSecret).MustString(); got != want {
				t.Errorf("with the field off the Secret changed:\n%s", testkit.Diff("input", "output", []byte(want), []byte(got)))
			}
		})
	}
}

func TestAServiceAccountTokenIsNeverRenderedOver(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(*spec.CARotation)
		extra  []string
		field  string
		substr []string
	}{
		{
			name: "listing a token Secret as a bundle points at spec.serviceAccountTokens",
			edit: func(r *spec.CARotation) {
				r.Spec.Bundles = append(r.Spec.Bundles, spec.Bundle{Name: "scraper-token", Kind: "Secret", Key: "ca.crt", Namespaces: []string{"monitoring"}})
			},
			extra:  []string{tokenSecret},
			field:  "type",
			substr: []string{"monitoring/scraper-token", "service-account token", "remove it from spec.bundles", "spec.serviceAccountTokens: true"},
		},
		{
			name: "a SOPS-encrypted token Secret is refused rather than its MAC broken",
			edit: tokensOn(true),
			extra: []string{tokenSecret + `sops:
  mac: ENC[AES256_GCM,data:x,iv:x,tag:x,type:str]
  version: 3.9.0
`},
			field:  "sops",
			substr: []string{"monitoring/scraper-token", "SOPS-encrypted", "MAC"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := renderTokens(t, phases.TrustNew, tt.edit, tt.extra...)
			if !out.Failed() || out.Items != nil {
				t.Fatalf("want an error and no items, got %d items, results %v", len(out.Items), out.Results)
			}
			var msg string
			for _, r := range out.Results {
				if r.Severity == framework.Error && r.Field != nil && r.Field.Path == tt.field {
					msg = r.Message
				}
			}
			for _, s := range tt.substr {
				if !strings.Contains(msg, s) {
					t.Errorf("the error at %s %q does not say %q", tt.field, msg, s)
				}
			}
		})
	}
}

func stringOf(n *yaml.RNode, field string) string {
	if f := n.Field(field); f != nil {
		return yaml.GetValue(f.Value)
	}
	return ""
}
