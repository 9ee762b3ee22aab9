package gen_test

import (
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// A chart's trust-roots ConfigMap, as Helm renders it: the bundle the
// cluster-ca example renders into namespace policy, with a stale trusted
// set, a key of the chart's own, and the chart's label and annotation.
const chartBundle = `apiVersion: v1
kind: ConfigMap
metadata:
  name: cluster-ca-bundle
  namespace: policy
  labels:
    app.kubernetes.io/managed-by: Helm
  annotations:
    meta.helm.sh/release-name: policy
data:
  ca.crt: stale
  chart.txt: kept by the chart
`

// An operator's manifest creating the leaf Secret the example renders.
const operatorLeaf = `apiVersion: v1
kind: Secret
metadata:
  name: policy-webhook-tls
  namespace: policy
  labels:
    app.kubernetes.io/part-of: policy
  annotations:
    operator.example.dev/owner: policy-operator
type: kubernetes.io/tls
data:
  extra.pem: a2VwdA==
stringData:
  tls.crt: stale, and the API server would write it over data
  note: kept
`

// itemIndex is the index of the object kind ns/name in items, or -1.
func itemIndex(items []*yaml.RNode, kind, ns, name string) int {
	return slices.IndexFunc(items, func(n *yaml.RNode) bool {
		return n.GetKind() == kind && n.GetNamespace() == ns && n.GetName() == name
	})
}

func dataValue(t *testing.T, n *yaml.RNode, field, key string) (string, bool) {
	t.Helper()
	v, err := n.Pipe(yaml.Lookup(field, key))
	if err != nil {
		t.Fatal(err)
	}
	return yaml.GetValue(v), v != nil
}

func infos(out gen.Output) []string {
	var s []string
	for _, r := range out.Results {
		if r.Severity == framework.Info {
			s = append(s, r.Message)
		}
	}
	return s
}

func managedOf(out gen.Output, kind, ns, name string) (gen.Managed, bool) {
	for _, m := range out.Managed {
		if m.Kind == kind && m.Namespace == ns && m.Name == name {
			return m, true
		}
	}
	return gen.Managed{}, false
}

// TestAnInputObjectTheRotationRendersIsTakenOver renders the cluster-ca
// example with an object it renders already in the input, and compares the
// result with the render without it: the managed keys and what consumers
// see are the rendered object's, everything else is the input's.
func TestAnInputObjectTheRotationRendersIsTakenOver(t *testing.T) {
	tests := []struct {
		name      string
		input     string
		kind, ns  string
		id        string
		managed   []string // data keys that must equal the plain render's
		keptData  map[string]string
		keptOther map[string]string // stringData keys kept
		dropped   []string          // stringData keys removed
		labels    map[string]string
		anns      map[string]string
		info      string
	}{
		{
			name:     "a bundle ConfigMap with an extra key keeps the key, its position, label and annotation, and takes the trusted set",
			input:    chartBundle,
			kind:     "ConfigMap",
			id:       "cluster-ca-bundle",
			managed:  []string{"ca.crt"},
			keptData: map[string]string{"chart.txt": "kept by the chart"},
			labels:   map[string]string{"app.kubernetes.io/managed-by": "Helm", material.LabelRotation: "cluster-ca"},
			anns:     map[string]string{"meta.helm.sh/release-name": "policy", "argocd.argoproj.io/sync-wave": "-1"},
			info:     `ConfigMap policy/cluster-ca-bundle is in the input, and rotation "cluster-ca" renders it: taken over: keeps keys chart.txt; manages ca.crt`,
		},
		{
			name:      "a leaf Secret with extra labels, annotations and keys keeps them, and a managed key leaves stringData so it cannot shadow data",
			input:     operatorLeaf,
			kind:      "Secret",
			id:        "policy-webhook-tls",
			managed:   []string{"ca.crt", "tls.crt", "tls.key"},
			keptData:  map[string]string{"extra.pem": "a2VwdA=="},
			keptOther: map[string]string{"note": "kept"},
			dropped:   []string{"tls.crt"},
			labels:    map[string]string{"app.kubernetes.io/part-of": "policy", material.LabelRotation: "cluster-ca"},
			anns:      map[string]string{"operator.example.dev/owner": "policy-operator", "argocd.argoproj.io/sync-wave": "-1"},
			info:      `Secret policy/policy-webhook-tls is in the input, and rotation "cluster-ca" renders it: taken over: keeps keys extra.pem, note; manages ca.crt, tls.crt, tls.key`,
		},
		{
			name:     "a CA Secret an operator's manifest creates keeps its own key, and gets the signing CA",
			input:    "apiVersion: v1\nkind: Secret\nmetadata: {name: cluster-ca, namespace: kube-system}\ntype: kubernetes.io/tls\ndata: {own: b3du, tls.key: c3RhbGU=}\n",
			kind:     "Secret",
			id:       "cluster-ca",
			managed:  []string{"ca.crt", "tls.crt", "tls.key"},
			keptData: map[string]string{"own": "b3du"},
			labels:   map[string]string{material.LabelRotation: "cluster-ca"},
			info:     `Secret kube-system/cluster-ca is in the input, and rotation "cluster-ca" renders it: taken over: keeps keys own; manages ca.crt, tls.crt, tls.key`,
		},
	}
	for _, phase := range []phases.Phase{phases.Steady, phases.TrustNew, phases.SignNew} {
		plain := render(t, phase, testkit.Now)
		if plain.Failed() {
			t.Fatal(plain.Results)
		}
		for _, tt := range tests {
			t.Run(string(phase)+"/"+tt.name, func(t *testing.T) {
				in := yaml.MustParse(tt.input)
				ns := in.GetNamespace()
				pkg := example(t)
				items := pkg.CopyItems()
				// Somewhere in the middle of the input, after an object
				// that stays in the output.
				at := len(items) / 2
				for material.IsKeyPair(items[at-1]) {
					at++
				}
				prev := items[at-1]
				items = slices.Insert(items, at, in)
				cfg := pkg.WithPhase(t, phase)
				rot, err := spec.Load(cfg)
				if err != nil {
					t.Fatal(err)
				}
				out := gen.Render(gen.Input{Rotation: rot, Config: cfg, Items: items, Now: testkit.Now})
				if out.Failed() {
					t.Fatal(out.Results)
				}
				if len(out.Items) != len(plain.Items) {
					t.Fatalf("want the plain render's %d items (the input object in place of the rendered one), got %d", len(plain.Items), len(out.Items))
				}
				i := itemIndex(out.Items, tt.kind, ns, tt.id)
				got := out.Items[i]
				if got != in {
					t.Fatal("the object in the output is not the input object, edited in place")
				}
				if out.Items[i-1] != prev {
					t.Fatal("the taken-over object moved from its position in the input")
				}
				want := plain.Items[itemIndex(plain.Items, tt.kind, ns, tt.id)]
				for _, k := range tt.managed {
					w, _ := dataValue(t, want, "data", k)
					if g, ok := dataValue(t, got, "data", k); !ok || g != w {
						t.Errorf("data.%s is not what the rotation renders", k)
					}
				}
				for k, v := range tt.keptData {
					if g, _ := dataValue(t, got, "data", k); g != v {
						t.Errorf("data.%s = %q, want the input's %q", k, g, v)
					}
				}
				for k, v := range tt.keptOther {
					if g, _ := dataValue(t, got, "stringData", k); g != v {
						t.Errorf("stringData.%s = %q, want the input's %q", k, g, v)
					}
				}
				for _, k := range tt.dropped {
					if _, ok := dataValue(t, got, "stringData", k); ok {
						t.Errorf("stringData.%s stays and would shadow the managed data.%s", k, k)
					}
				}
				for k, v := range tt.labels {
					if got.GetLabels()[k] != v {
						t.Errorf("label %s = %q, want %q", k, got.GetLabels()[k], v)
					}
				}
				for k, v := range tt.anns {
					if got.GetAnnotations()[k] != v {
						t.Errorf("annotation %s = %q, want %q", k, got.GetAnnotations()[k], v)
					}
				}
				if tt.kind == "Secret" && yaml.GetValue(got.Field(material.SopsField).Value) != yaml.GetValue(want.Field(material.SopsField).Value) {
					t.Error("the taken-over Secret does not carry the KeyPair's sops metadata")
				}
				if !slices.Contains(infos(out), tt.info) {
					t.Errorf("no info result %q in %v", tt.info, infos(out))
				}
				// Managed and restarts: exactly as for the rendered object.
				m, ok := managedOf(out, tt.kind, ns, tt.id)
				pm, _ := managedOf(plain, tt.kind, ns, tt.id)
				if !ok || m.Object != got || m.Digest != pm.Digest || m.Carries != pm.Carries {
					t.Errorf("Output.Managed holds %+v, want the taken-over object with the rendered object's digest %s", m, pm.Digest)
				}
				if !slices.Equal(restartHashes(out), restartHashes(plain)) {
					t.Errorf("restarts differ from the render without the input object:\n%v\n%v", restartHashes(out), restartHashes(plain))
				}
			})
		}
	}
}

func restartHashes(out gen.Output) []string {
	var s []string
	for _, r := range out.Restarts {
		s = append(s, r.Kind+"/"+r.Namespace+"/"+r.Name+"="+r.Hash)
	}
	return s
}

// A key the rotation does not manage is the chart's business: changing it
// changes no consumer's restart hash, in any phase.
func TestAChangeToAKeyTheRotationLeavesAloneRollsNothing(t *testing.T) {
	for _, phase := range []phases.Phase{phases.Steady, phases.TrustNew, phases.DistrustOld} {
		a := render(t, phase, testkit.Now, chartBundle)
		b := render(t, phase, testkit.Now, strings.Replace(chartBundle, "kept by the chart", "changed by the chart", 1))
		if a.Failed() || b.Failed() {
			t.Fatal(a.Results, b.Results)
		}
		if !slices.Equal(restartHashes(a), restartHashes(b)) {
			t.Errorf("%s: an unmanaged key changed restart hashes", phase)
		}
	}
}

// TestATakeoverCarouselCannotDoIsRefused pins the takeovers that fail the
// render (no items), with a result on the input object that names both
// sides.
func TestATakeoverCarouselCannotDoIsRefused(t *testing.T) {
	tests := []struct {
		name, input, field string
		msg                []string
	}{
		{
			name:  "a Secret whose type differs from the one the rotation renders",
			input: "apiVersion: v1\nkind: Secret\nmetadata: {name: policy-webhook-tls, namespace: policy}\ntype: Opaque\ndata: {tls.crt: c3RhbGU=}\n",
			field: "type",
			msg:   []string{`has type "Opaque"`, `rotation "cluster-ca" renders it with type "kubernetes.io/tls"`},
		},
		{
			name:  "a Secret without a type where the rotation renders a kubernetes.io/tls one",
			input: "apiVersion: v1\nkind: Secret\nmetadata: {name: policy-webhook-tls, namespace: policy}\n",
			field: "type",
			msg:   []string{`has type "Opaque"`, `"kubernetes.io/tls"`},
		},
		{
			name:  "a taken-over Secret with its own sops field, where the rotation writes an encrypted key",
			input: "apiVersion: v1\nkind: Secret\nmetadata: {name: policy-webhook-tls, namespace: policy}\ntype: kubernetes.io/tls\ndata: {tls.crt: c3RhbGU=}\nsops: {mac: 'ENC[AES256_GCM,data:x]', version: 3.9.0}\n",
			field: "sops",
			msg:   []string{"Secret policy/policy-webhook-tls in the input is SOPS-encrypted", "two encryptions cannot share one object"},
		},
		{
			name:  "an immutable bundle ConfigMap whose trusted set the phase changes",
			input: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cluster-ca-bundle, namespace: policy}\nimmutable: true\ndata: {ca.crt: stale}\n",
			field: "immutable",
			msg:   []string{"ConfigMap policy/cluster-ca-bundle in the input is immutable", "changes its ca.crt", "remove immutable: true"},
		},
		{
			name:  "a SOPS-encrypted bundle ConfigMap, whose MAC a new trusted set would break",
			input: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cluster-ca-bundle, namespace: policy}\ndata: {ca.crt: stale}\nsops: {mac: 'ENC[AES256_GCM,data:x]', version: 3.9.0}\n",
			field: "sops",
			msg:   []string{"is SOPS-encrypted", "without breaking its MAC"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := render(t, phases.Steady, testkit.Now, tt.input)
			if !out.Failed() || out.Items != nil {
				t.Fatal("the render must fail with no items")
			}
			var found bool
			for _, r := range out.Results {
				if r.Severity == framework.Error && r.Field != nil && r.Field.Path == tt.field && r.ResourceRef != nil && r.ResourceRef.Name == yaml.MustParse(tt.input).GetName() {
					found = true
					for _, m := range tt.msg {
						if !strings.Contains(r.Message, m) {
							t.Errorf("%q does not say %q", r.Message, m)
						}
					}
				}
			}
			if !found {
				t.Fatalf("no error at %s of the input object: %v", tt.field, out.Results)
			}
		})
	}
}

// A second rotation, "front-proxy", over the cluster-ca example's material
// (its CA KeyPairs relabelled), rendering a bundle into the same ConfigMap
// the cluster-ca rotation renders in namespace policy, under key.
func frontProxy(t *testing.T, key string) (*spec.CARotation, *yaml.RNode, []*yaml.RNode) {
	t.Helper()
	cfg := yaml.MustParse(`apiVersion: carousel.dev/v1alpha1
kind: CARotation
metadata: {name: front-proxy}
spec:
  ca: {}
  bundles:
  - name: cluster-ca-bundle
    namespaces: [policy]
    key: ` + key + "\n")
	rot, err := spec.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var pairs []*yaml.RNode
	for _, n := range example(t).CopyItems() {
		if material.IsKeyPair(n) && n.GetAnnotations()[material.AnnotationRole] == material.RoleCA {
			labels := n.GetLabels()
			labels[material.LabelRotation] = "front-proxy"
			_ = n.SetLabels(labels)
			n.SetName(strings.Replace(n.GetName(), "cluster-ca", "front-proxy", 1))
			pairs = append(pairs, n)
		}
	}
	return rot, cfg, pairs
}

// TestTwoRotationsShareAnObjectOnlyByDifferentKeys runs two rotations one
// after the other, as a pipeline does: the second sees the first's output.
func TestTwoRotationsShareAnObjectOnlyByDifferentKeys(t *testing.T) {
	tests := []struct {
		name, key string
		wantErr   []string
	}{
		{
			name:    "two rotations claiming one key of one object is an error naming both",
			key:     "ca.crt",
			wantErr: []string{`rotation "cluster-ca" and rotation "front-proxy" both manage key "ca.crt"`},
		},
		{
			name: "two rotations on different keys of one object share it, each key its rotation's",
			key:  "front-proxy.crt",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rot, cfg, pairs := frontProxy(t, tt.key)
			first := render(t, phases.Steady, testkit.Now)
			if first.Failed() {
				t.Fatal(first.Results)
			}
			mine := first.Items[itemIndex(first.Items, "ConfigMap", "policy", "cluster-ca-bundle")]
			clusterCA, _ := dataValue(t, mine, "data", "ca.crt")
			out := gen.Render(gen.Input{Rotation: rot, Config: cfg, Items: append(first.Items, pairs...), Now: testkit.Now})
			if tt.wantErr != nil {
				if !out.Failed() || out.Items != nil {
					t.Fatal("the second rotation must fail with no items")
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(out.Results.Error(), w) {
						t.Errorf("%q does not say %q", out.Results.Error(), w)
					}
				}
				return
			}
			if out.Failed() {
				t.Fatal(out.Results)
			}
			got := out.Items[itemIndex(out.Items, "ConfigMap", "policy", "cluster-ca-bundle")]
			if v, _ := dataValue(t, got, "data", "ca.crt"); v != clusterCA {
				t.Error("the first rotation's key changed")
			}
			if v, ok := dataValue(t, got, "data", tt.key); !ok || v == "" {
				t.Errorf("the second rotation's key %s is missing", tt.key)
			}
			if got.GetLabels()[material.LabelRotation] != "front-proxy" {
				t.Errorf("the label names %q, want the rotation that rendered it last", got.GetLabels()[material.LabelRotation])
			}
			// Render the second one again over its own output: its key is
			// its own, not another rotation's, so that is no conflict.
			again := gen.Render(gen.Input{Rotation: rot, Config: cfg, Items: append(out.Items, pairs...), Now: testkit.Now})
			if again.Failed() {
				t.Fatal(again.Results)
			}
		})
	}
}

// The KeyPair's sops metadata goes onto the taken-over Secret with the
// key, so the Secret decrypts (real sops, the demo age key) as a rendered
// one does, the operator's own keys and stringData left as they were.
func TestATakenOverLeafSecretDecryptsWithItsKeyMatchingItsCertificate(t *testing.T) {
	out := render(t, phases.SignNew, testkit.Now, operatorLeaf)
	if out.Failed() {
		t.Fatal(out.Results)
	}
	n := out.Items[itemIndex(out.Items, "Secret", "policy", "policy-webhook-tls")]
	if n.Field(material.SopsField) == nil {
		t.Fatal("the example's key is encrypted, so the taken-over Secret must carry sops metadata")
	}
	plain := testkit.Decrypt(t, n)
	if err := testkit.TLSKeyMatches(plain); err != nil {
		t.Fatal(err)
	}
	if v, _ := dataValue(t, plain, "data", "extra.pem"); v != "a2VwdA==" {
		t.Errorf("data.extra.pem = %q after decryption", v)
	}
	if v, _ := dataValue(t, plain, "stringData", "note"); v != "kept" {
		t.Errorf("stringData.note = %q after decryption", v)
	}
}

// A phase that changes nothing a consumer reads leaves it alone, and that
// holds for a taken-over Secret too: the baseline (steady over the same
// input) takes over the input's object, not the one the phase already
// edited (which carries the KeyPair's sops metadata and would be refused).
// With the leaf's ca.crt left out, trust-new changes nothing the policy
// webhook reads, so it must not roll, exactly as without the input Secret.
func TestATakenOverSecretRollsItsConsumersExactlyAsARenderedOne(t *testing.T) {
	pkg := example(t)
	for _, phase := range []phases.Phase{phases.TrustNew, phases.SignNew, phases.DistrustOld} {
		t.Run(string(phase), func(t *testing.T) {
			cfg := pkg.WithPhase(t, phase)
			run := func(extra ...string) gen.Output {
				rot, err := spec.Load(cfg)
				if err != nil {
					t.Fatal(err)
				}
				rot.Spec.Leaves[0].Secret.Keys.CA = spec.OmitKey
				items := pkg.CopyItems()
				for _, e := range extra {
					items = append(items, yaml.MustParse(e))
				}
				out := gen.Render(gen.Input{Rotation: rot, Config: cfg, Items: items, Now: testkit.Now})
				if out.Failed() {
					t.Fatal(out.Results)
				}
				return out
			}
			plain, taken := run(), run(operatorLeaf)
			if !slices.Equal(restartHashes(taken), restartHashes(plain)) {
				t.Errorf("restarts differ from the render without the input Secret:\n%v\n%v", restartHashes(taken), restartHashes(plain))
			}
		})
	}
}

// TestAnImmutableObjectIsTakenOverOnlyWhileThePhaseLeavesItsKeys: an
// immutable ConfigMap holding exactly the phase's trusted set is what the
// API server would keep; the render goes on, and the move that changes it
// is refused with the fix.
func TestAnImmutableObjectIsTakenOverOnlyWhileThePhaseLeavesItsKeys(t *testing.T) {
	steady := render(t, phases.Steady, testkit.Now)
	bundle := testkit.Find(steady.Items, "ConfigMap", "policy", "cluster-ca-bundle")
	if bundle == nil {
		t.Fatal("steady renders no bundle in namespace policy")
	}
	set, _ := dataValue(t, bundle, "data", "ca.crt")
	in := yaml.MustParse("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cluster-ca-bundle, namespace: policy}\nimmutable: true\ndata: {}\n")
	if err := in.PipeE(yaml.Lookup("data"), yaml.SetField("ca.crt", yaml.NewStringRNode(set))); err != nil {
		t.Fatal(err)
	}
	if out := render(t, phases.Steady, testkit.Now, in.MustString()); out.Failed() {
		t.Fatalf("an immutable object already holding the phase's keys must render: %v", out.Results)
	}
	if out := render(t, phases.TrustNew, testkit.Now, in.MustString()); !out.Failed() {
		t.Fatal("trust-new changes the immutable bundle's ca.crt: the render must refuse")
	}
}
