package gen_test

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/spec"
)

const renewRotation = `apiVersion: carousel.dev/v1alpha1
kind: CARotation
metadata: {name: ren}
spec:
  scope: renew
  ca:
    commonName: ren-ca
    secret: {name: ren-ca, namespace: app}
  leaves:
  - name: web
    secret: {name: web-tls, namespace: app}
    dnsNames: [web.app.svc]
    usages: [server]
`

// renewMaterial is a renewal in place as `start --scope renew` leaves it:
// the old CA, its renewed certificate over the same key as the new CA, and
// the leaf the old CA issued, carried forward as the new generation.
func renewMaterial(t *testing.T, newCA func(old pki.Pair) pki.Pair) []*yaml.RNode {
	t.Helper()
	ca, err := pki.NewCA(pki.CARequest{CommonName: "ren-ca", Validity: 48 * time.Hour, Algorithm: "ecdsa-p256"})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := pki.Issue(ca, pki.LeafRequest{CommonName: "web", DNSNames: []string{"web.app.svc"}, Usages: []string{"server"}, Validity: 24 * time.Hour, Algorithm: "ecdsa-p256"})
	if err != nil {
		t.Fatal(err)
	}
	node := func(k material.KeyPair, p pki.Pair) *yaml.RNode {
		k.Certs, _ = pki.ParseCerts(p.CertPEM)
		k.KeyField = "tls.key"
		n, err := material.New(k, p.KeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	return []*yaml.RNode{
		node(material.KeyPair{Rotation: "ren", Role: material.RoleCA, Generation: phases.Old, CAID: "g1"}, ca),
		node(material.KeyPair{Rotation: "ren", Role: material.RoleCA, Generation: phases.New, CAID: "g2"}, newCA(ca)),
		node(material.KeyPair{Rotation: "ren", Role: material.RoleLeaf, Leaf: "web", Generation: phases.Old}, leaf),
		node(material.KeyPair{Rotation: "ren", Role: material.RoleLeaf, Leaf: "web", Generation: phases.New}, leaf),
	}
}

func renewed(t *testing.T) func(pki.Pair) pki.Pair {
	return func(old pki.Pair) pki.Pair {
		c, err := pki.RenewCA(pki.RenewRequest{CA: old, NotBefore: time.Now(), Validity: 365 * 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return pki.Pair{CertPEM: c, KeyPEM: old.KeyPEM}
	}
}

func renderRenew(t *testing.T, phase phases.Phase, items []*yaml.RNode) gen.Output {
	t.Helper()
	cfg := yaml.MustParse(renewRotation)
	if err := cfg.PipeE(yaml.Lookup("spec"), yaml.SetField("phase", yaml.NewStringRNode(string(phase)))); err != nil {
		t.Fatal(err)
	}
	rot, err := spec.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var in []*yaml.RNode
	for _, n := range items {
		in = append(in, n.Copy())
	}
	return gen.Render(gen.Input{Rotation: rot, Config: cfg, Items: in, Now: time.Now()})
}

func secretData(t *testing.T, out gen.Output, name, key string) []byte {
	t.Helper()
	s := testkit.Find(out.Items, "Secret", "app", name)
	if s == nil {
		t.Fatalf("no Secret app/%s rendered", name)
	}
	v, err := base64.StdEncoding.DecodeString(s.GetDataMap()[key])
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestARenewalInPlaceRendersEveryPhaseWithTheLeavesUntouched: every phase
// of scope renew renders; the leaf served never changes; the trusted set is
// the old certificate, both, then the renewed one; the CA Secret serves
// the renewed certificate from trust-new on.
func TestARenewalInPlaceRendersEveryPhaseWithTheLeavesUntouched(t *testing.T) {
	items := renewMaterial(t, renewed(t))
	oldCA, _ := material.Parse(items[0])
	newCA, _ := material.Parse(items[1])
	o, n := pki.Fingerprint(oldCA.Cert()), pki.Fingerprint(newCA.Cert())
	seq, _ := phases.Sequence(phases.ScopeRenew)
	want := map[phases.Phase]struct {
		trusted []string
		signer  string
	}{
		phases.Steady:      {[]string{o}, o},
		phases.TrustNew:    {[]string{o, n}, n},
		phases.DistrustOld: {[]string{n}, n},
		phases.Cleanup:     {[]string{n}, n},
	}
	var leafCert []byte
	for _, ph := range seq {
		t.Run(string(ph), func(t *testing.T) {
			out := renderRenew(t, ph, items)
			if out.Failed() {
				t.Fatalf("phase %s of a renewal in place does not render: %v", ph, out.Results)
			}
			got := trustedFingerprints(t, base64.StdEncoding.EncodeToString(secretData(t, out, "web-tls", "ca.crt")))
			w := want[ph]
			if !sameFingerprints(got, w.trusted) {
				t.Errorf("trusted %v, want %v", got, w.trusted)
			}
			if fp := pki.Fingerprint(out.Signer); fp != w.signer {
				t.Errorf("the signer is %s, want %s", fp, w.signer)
			}
			signerSecret := trustedFingerprints(t, base64.StdEncoding.EncodeToString(secretData(t, out, "ren-ca", "tls.crt")))
			if !slices.Equal(signerSecret, []string{w.signer}) {
				t.Errorf("the CA Secret serves %v, want %s", signerSecret, w.signer)
			}
			crt := secretData(t, out, "web-tls", "tls.crt")
			if leafCert != nil && string(crt) != string(leafCert) {
				t.Errorf("the leaf served changed in %s: a renewal in place re-issues no leaf", ph)
			}
			leafCert = crt
		})
	}
}

func sameFingerprints(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestARenewalWhoseNewCertificateIsNoRenewalIsRefused: the render proves
// the new certificate renews the old one, on the new CA's KeyPair.
func TestARenewalWhoseNewCertificateIsNoRenewalIsRefused(t *testing.T) {
	tests := []struct {
		name    string
		newCA   func(old pki.Pair) pki.Pair
		message string
	}{
		{"a new CA with another key is refused", func(pki.Pair) pki.Pair {
			p, err := pki.NewCA(pki.CARequest{CommonName: "ren-ca", Validity: 72 * time.Hour, Algorithm: "ecdsa-p256"})
			if err != nil {
				t.Fatal(err)
			}
			return p
		}, "has another public key"},
		{"a new CA with another subject over the same key is refused", func(old pki.Pair) pki.Pair {
			c, _ := pki.ParseCert(old.CertPEM)
			k, _ := pki.ParseKey(old.KeyPEM)
			tmpl := &x509.Certificate{
				SerialNumber: big.NewInt(99), Subject: pkix.Name{CommonName: "someone-else"},
				NotBefore: c.NotBefore, NotAfter: c.NotAfter.Add(24 * time.Hour),
				IsCA: true, BasicConstraintsValid: true, KeyUsage: c.KeyUsage, SubjectKeyId: c.SubjectKeyId,
			}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
			if err != nil {
				t.Fatal(err)
			}
			return pki.Pair{CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), KeyPEM: old.KeyPEM}
		}, "has subject"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items := renewMaterial(t, tt.newCA)
			out := renderRenew(t, phases.TrustNew, items)
			if !out.Failed() || out.Items != nil {
				t.Fatal("the render must fail with no items")
			}
			if !strings.Contains(out.Results.Error(), tt.message) || !strings.Contains(out.Results.Error(), "ren-ca-new") {
				t.Fatalf("want an error on ren-ca-new containing %q: %v", tt.message, out.Results)
			}
		})
	}
}
