package cmbackend

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/spec"
)

const rotationYAML = `apiVersion: carousel.dev/v1alpha1
kind: CARotation
metadata:
  name: mesh
spec:
  phase: PHASE
  backend: cert-manager
  certManager:
    generations: {old: OLD NEW}
  renderedAnnotations: {argocd.argoproj.io/sync-wave: "-1"}
  ca:
    commonName: mesh root
  leaves:
  - name: issuer
    commonName: issuer.mesh
    isCA: true
    usages: [server, client]
    secret: {name: mesh-issuer, namespace: mesh}
  bundles:
  - name: mesh-roots
    key: roots.pem
    namespaces: [mesh, apps]
`

func load(t *testing.T, phase phases.Phase, old, new int) *spec.CARotation {
	t.Helper()
	s := strings.NewReplacer("PHASE", string(phase), "OLD", itoa(old), "NEW", map[bool]string{true: ", new: " + itoa(new), false: ""}[new != 0]).Replace(rotationYAML)
	rot, err := spec.Load(yaml.MustParse(s))
	if err != nil {
		t.Fatal(err)
	}
	return rot
}

func itoa(n int) string { return big.NewInt(int64(n)).String() }

func caCert(t *testing.T, cn string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<33, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pulled(t *testing.T, nums ...int) map[int]Pulled {
	out := map[int]Pulled{}
	for _, n := range nums {
		out[n] = Pulled{Rotation: "mesh", Generation: n, Cert: caCert(t, "mesh root")}
	}
	return out
}

func find(objs []*yaml.RNode, kind, ns, name string) *yaml.RNode {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetNamespace() == ns && o.GetName() == name {
			return o
		}
	}
	return nil
}

func str(t *testing.T, n *yaml.RNode, path ...string) string {
	t.Helper()
	v, err := n.Pipe(yaml.Lookup(path...))
	if err != nil || v == nil {
		return ""
	}
	return yaml.GetValue(v)
}

// TestEveryPhaseRendersItsGenerationsSignerAndTrustedSet holds the render to
// the phase table: which CA generations exist, which one the leaf's
// issuerRef names, and which ones the Bundle's sources are.
func TestEveryPhaseRendersItsGenerationsSignerAndTrustedSet(t *testing.T) {
	for _, tc := range []struct {
		name     string
		phase    phases.Phase
		old, new int
		cas      []string
		signer   string
		trusted  []string
	}{
		{"steady before a rotation has only the generation in use", phases.Steady, 1, 0, []string{"mesh-ca-g1"}, "mesh-ca-g1", []string{"mesh-ca-g1"}},
		{"steady after start also issues the announced generation, trusted by nobody", phases.Steady, 1, 2, []string{"mesh-ca-g1", "mesh-ca-g2"}, "mesh-ca-g1", []string{"mesh-ca-g1"}},
		{"trust-new trusts both and the old one signs", phases.TrustNew, 1, 2, []string{"mesh-ca-g1", "mesh-ca-g2"}, "mesh-ca-g1", []string{"mesh-ca-g1", "mesh-ca-g2"}},
		{"sign-new flips the issuerRef to the new generation", phases.SignNew, 1, 2, []string{"mesh-ca-g1", "mesh-ca-g2"}, "mesh-ca-g2", []string{"mesh-ca-g1", "mesh-ca-g2"}},
		{"distrust-old keeps the old CA for rollback but trusts only the new", phases.DistrustOld, 1, 2, []string{"mesh-ca-g1", "mesh-ca-g2"}, "mesh-ca-g2", []string{"mesh-ca-g2"}},
		{"cleanup drops the old CA's objects", phases.Cleanup, 1, 2, []string{"mesh-ca-g2"}, "mesh-ca-g2", []string{"mesh-ca-g2"}},
		{"the next rotation's steady names the finished one's CA by the same name", phases.Steady, 2, 0, []string{"mesh-ca-g2"}, "mesh-ca-g2", []string{"mesh-ca-g2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rot := load(t, tc.phase, tc.old, tc.new)
			st, err := phases.Lookup(rot.Spec.Scope, tc.phase)
			if err != nil {
				t.Fatal(err)
			}
			objs, probs := Objects(Input{Rotation: rot, State: st, Pulled: pulled(t, tc.old, tc.new)})
			if len(probs) > 0 {
				t.Fatalf("problems: %+v", probs)
			}
			var cas []string
			for _, o := range objs {
				if o.GetKind() == "Certificate" && o.GetNamespace() == DefaultNamespace {
					cas = append(cas, o.GetName())
					if str(t, o, "spec", "privateKey", "rotationPolicy") != "Never" || str(t, o, "spec", "isCA") != "true" || str(t, o, "spec", "secretName") != o.GetName() {
						t.Errorf("CA %s: want isCA, rotationPolicy Never and a Secret of its own name:\n%s", o.GetName(), o.MustString())
					}
					if find(objs, "ClusterIssuer", "", o.GetName()) == nil {
						t.Errorf("CA %s has no ClusterIssuer of its name", o.GetName())
					}
				}
			}
			if !slices.Equal(cas, tc.cas) {
				t.Errorf("CA generations %v, want %v", cas, tc.cas)
			}
			leaf := find(objs, "Certificate", "mesh", "mesh-issuer")
			if got := str(t, leaf, "spec", "issuerRef", "name"); got != tc.signer {
				t.Errorf("leaf issuerRef %s, want %s", got, tc.signer)
			}
			b := find(objs, "Bundle", "", "mesh-roots")
			srcs, _ := b.Pipe(yaml.Lookup("spec", "sources"))
			els, _ := srcs.Elements()
			var trusted []string
			for _, e := range els {
				trusted = append(trusted, str(t, e, "secret", "name"))
			}
			if !slices.Equal(trusted, tc.trusted) {
				t.Errorf("Bundle sources %v, want %v", trusted, tc.trusted)
			}
			for _, o := range objs {
				if o.GetAnnotations()["argocd.argoproj.io/sync-wave"] != "-1" {
					t.Errorf("%s %s does not carry spec.renderedAnnotations: it could land after the workloads", o.GetKind(), o.GetName())
				}
			}
			if str(t, b, "spec", "target", "configMap", "key") != "roots.pem" {
				t.Errorf("Bundle target key:\n%s", b.MustString())
			}
		})
	}
}

// TestFinishingARotationChangesNoRenderedObject: cleanup at generations
// 1->2 and the next steady at generation 2 render the same objects, so
// `carousel start` at cleanup rolls nothing and re-issues nothing.
func TestFinishingARotationChangesNoRenderedObject(t *testing.T) {
	p := pulled(t, 1, 2)
	render := func(phase phases.Phase, old, new int) string {
		rot := load(t, phase, old, new)
		st, _ := phases.Lookup(rot.Spec.Scope, phase)
		objs, probs := Objects(Input{Rotation: rot, State: st, Pulled: p})
		if len(probs) > 0 {
			t.Fatalf("%s: %+v", phase, probs)
		}
		var b strings.Builder
		for _, o := range objs {
			b.WriteString(o.MustString() + "---\n")
		}
		return b.String()
	}
	if a, b := render(phases.Cleanup, 1, 2), render(phases.Steady, 2, 0); a != b {
		t.Fatalf("cleanup and the next steady differ:\n%s\nvs\n%s", a, b)
	}
}

// TestAPhaseTrustingAnUnpulledGenerationDoesNotRender: trust a pod acts on
// is reviewed in git first; steady may render before anything is pulled
// (a first install), and a CACertificate of another CA is refused.
func TestAPhaseTrustingAnUnpulledGenerationDoesNotRender(t *testing.T) {
	for _, tc := range []struct {
		name   string
		phase  phases.Phase
		pulled map[int]Pulled
		want   string
	}{
		{"steady renders before any pull", phases.Steady, nil, ""},
		{"trust-new without the new generation's certificate names carousel pull", phases.TrustNew, pulled(t, 1), "carousel pull"},
		{"sign-new without the old generation's certificate is refused too", phases.SignNew, pulled(t, 2), "generation 1"},
		{"a pulled certificate of another CA is refused", phases.TrustNew, map[int]Pulled{1: pulled(t, 1)[1], 2: {Generation: 2, Cert: caCert(t, "someone else")}}, "not spec.ca.commonName"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rot := load(t, tc.phase, 1, 2)
			st, _ := phases.Lookup(rot.Spec.Scope, tc.phase)
			objs, probs := Objects(Input{Rotation: rot, State: st, Pulled: tc.pulled})
			if tc.want == "" {
				if len(probs) > 0 || len(objs) == 0 {
					t.Fatalf("want a render, got %+v", probs)
				}
				return
			}
			if objs != nil || len(probs) == 0 || !strings.Contains(probs[0].Message, tc.want) {
				t.Fatalf("want no objects and a problem saying %q, got %d objects, %+v", tc.want, len(objs), probs)
			}
		})
	}
}

// TestACACertificateHoldsOnlyAPublicCACertificate: what pull writes parses
// back; a key, a non-CA certificate or a wrong fingerprint is refused.
func TestACACertificateHoldsOnlyAPublicCACertificate(t *testing.T) {
	cert := caCert(t, "mesh root")
	good, err := New("mesh", 3, cert)
	if err != nil {
		t.Fatal(err)
	}
	p, prob := Parse(good)
	if prob != nil || p.Generation != 3 || !p.Cert.Equal(cert) || p.Rotation != "mesh" || good.GetName() != GenerationName("mesh", 3) {
		t.Fatalf("round trip: %+v %+v", p, prob)
	}
	for _, tc := range []struct {
		name  string
		edit  func(n *yaml.RNode)
		field string
	}{
		{"a private key next to the certificate", func(n *yaml.RNode) {
			v := n.Field("certificate").Value.YNode().Value
			n.Field("certificate").Value.YNode().Value = v + "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"
		}, "certificate"},
		{"a data field", func(n *yaml.RNode) {
			_ = n.PipeE(yaml.SetField("data", yaml.NewMapRNode(&map[string]string{"tls.key": "x"})))
		}, "data"},
		{"a stale fingerprint", func(n *yaml.RNode) {
			_ = n.SetAnnotations(map[string]string{LabelGeneration: "3", AnnotationSHA256: "00"})
		}, "metadata.annotations." + AnnotationSHA256},
		{"no generation", func(n *yaml.RNode) { _ = n.SetAnnotations(map[string]string{AnnotationSHA256: Fingerprint(cert)}) }, "metadata.annotations." + LabelGeneration},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := good.Copy()
			tc.edit(n)
			if _, prob := Parse(n); prob == nil || prob.Field != tc.field {
				t.Fatalf("want a problem at %s, got %+v", tc.field, prob)
			}
		})
	}
}
