package gen_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
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

const policyRotation = `apiVersion: carousel.dev/v1alpha1
kind: CARotation
metadata: {name: pol}
spec:
  ca: {pathLength: 0}
  leaves:
  - name: web
    secret: {name: web-tls, namespace: app}
    dnsNames: [web.app.svc]
    usages: [server]
`

var start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type certSpec struct {
	tmpl *x509.Certificate
	key  crypto.Signer
}

func ecKey(t *testing.T) crypto.Signer {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func caTemplate() *x509.Certificate {
	return &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pol-ca"},
		NotBefore: start, NotAfter: start.Add(10 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, MaxPathLen: 0, MaxPathLenZero: true,
		KeyUsage:     x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		SubjectKeyId: []byte{1, 2, 3, 4},
	}
}

func leafTemplate() *x509.Certificate {
	return &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "web"},
		NotBefore: start, NotAfter: start.Add(365 * 24 * time.Hour),
		DNSNames: []string{"web.app.svc"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature, BasicConstraintsValid: true,
	}
}

func pair(t *testing.T, k material.KeyPair, tmpl, parent *x509.Certificate, key, parentKey crypto.Signer) *yaml.RNode {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatalf("making a test certificate: %v", err)
	}
	c, _ := x509.ParseCertificate(der)
	k.Certs = []*x509.Certificate{c}
	k.KeyField = "tls.key"
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	n, err := material.New(k, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPolicyViolationsInMaterialAreErrors(t *testing.T) {
	tests := []struct {
		name     string
		ca, leaf func(*x509.Certificate)
		// parent edits the issuer as the leaf is signed (Go derives the
		// AKI from it), to forge what Go would not make on its own.
		parent   func(*x509.Certificate)
		leafKey  func(t *testing.T) crypto.Signer
		resource string
		message  string
	}{
		{name: "a CA without certSign is refused", ca: func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageCRLSign },
			resource: "pol-ca-old", message: "certSign and cRLSign"},
		{name: "a CA with another path length than the spec's is refused", ca: func(c *x509.Certificate) { c.MaxPathLen, c.MaxPathLenZero = 2, false },
			resource: "pol-ca-old", message: "path length 2, but spec.ca.pathLength is 0"},
		{name: "a leaf that outlives its CA is refused", leaf: func(c *x509.Certificate) { c.NotAfter = start.Add(20 * 365 * 24 * time.Hour) },
			resource: "pol-leaf-web-old", message: "a leaf never outlives its CA"},
		{name: "a leaf whose AKI does not name its CA is refused", parent: func(c *x509.Certificate) { c.SubjectKeyId = []byte{9, 9, 9} },
			resource: "pol-leaf-web-old", message: "does not name the issuer's subject key identifier"},
		{name: "a leaf with other DNS names than the spec's is refused", leaf: func(c *x509.Certificate) { c.DNSNames = []string{"evil.example.dev"} },
			resource: "pol-leaf-web-old", message: "DNS names [evil.example.dev], but the spec says [web.app.svc]"},
		{name: "a leaf lacking the usage the spec asks for is refused", leaf: func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth} },
			resource: "pol-leaf-web-old", message: "lacks the server auth extended key usage"},
		{name: "a leaf that is a CA when the spec says not is refused", leaf: func(c *x509.Certificate) { c.IsCA = true },
			resource: "pol-leaf-web-old", message: "CA:true, but the spec says isCA: false"},
		{name: "an RSA key under 2048 bits is refused", leafKey: func(t *testing.T) crypto.Signer {
			k, err := rsa.GenerateKey(rand.Reader, 1024)
			if err != nil {
				t.Skipf("this Go refuses to make 1024-bit RSA keys: %v", err)
			}
			return k
		}, resource: "pol-leaf-web-old", message: "RSA key of 1024 bits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			caKey, leafKey := ecKey(t), ecKey(t)
			if tt.leafKey != nil {
				leafKey = tt.leafKey(t)
			}
			ca, leaf := caTemplate(), leafTemplate()
			if tt.ca != nil {
				tt.ca(ca)
			}
			if tt.leaf != nil {
				tt.leaf(leaf)
			}
			caNode := pair(t, material.KeyPair{Rotation: "pol", Role: material.RoleCA, Generation: phases.Old, CAID: material.FirstCAID}, ca, ca, caKey, caKey)
			caCert, _ := material.Parse(caNode)
			parent := caCert.Cert()
			if tt.parent != nil {
				c := *parent
				tt.parent(&c)
				parent = &c
			}
			leafNode := pair(t, material.KeyPair{Rotation: "pol", Role: material.RoleLeaf, Leaf: "web", Generation: phases.Old}, leaf, parent, leafKey, caKey)
			cfg := yaml.MustParse(policyRotation)
			rot, err := spec.Load(cfg)
			if err != nil {
				t.Fatal(err)
			}
			out := gen.Render(gen.Input{Rotation: rot, Config: cfg, Items: []*yaml.RNode{caNode, leafNode}, Now: testkit.Now})
			if !out.Failed() || out.Items != nil {
				t.Fatalf("a policy violation must fail the render with no items")
			}
			for _, r := range out.Results {
				if r.ResourceRef != nil && r.ResourceRef.Name == tt.resource && r.Field != nil && r.Field.Path == "certificate" && strings.Contains(r.Message, tt.message) {
					return
				}
			}
			t.Fatalf("no error on KeyPair %s field certificate containing %q: %v", tt.resource, tt.message, out.Results)
		})
	}
}

func TestCompliantCraftedMaterialRenders(t *testing.T) {
	caKey, leafKey := ecKey(t), ecKey(t)
	ca, leaf := caTemplate(), leafTemplate()
	caNode := pair(t, material.KeyPair{Rotation: "pol", Role: material.RoleCA, Generation: phases.Old, CAID: material.FirstCAID}, ca, ca, caKey, caKey)
	caCert, _ := material.Parse(caNode)
	leaf.AuthorityKeyId = caCert.Cert().SubjectKeyId
	leafNode := pair(t, material.KeyPair{Rotation: "pol", Role: material.RoleLeaf, Leaf: "web", Generation: phases.Old}, leaf, caCert.Cert(), leafKey, caKey)
	cfg := yaml.MustParse(policyRotation)
	rot, _ := spec.Load(cfg)
	out := gen.Render(gen.Input{Rotation: rot, Config: cfg, Items: []*yaml.RNode{caNode, leafNode}, Now: testkit.Now})
	if out.Failed() {
		t.Fatalf("compliant material must render (the violations above are then each one rule): %v", out.Results)
	}
}

// TestSHA1SignaturesAreRefused uses the real openssl to play a CA that still
// signs with SHA-1 (Go refuses to make such a certificate).
func TestSHA1SignaturesAreRefused(t *testing.T) {
	dir := t.TempDir()
	sh := func(args ...string) {
		t.Helper()
		cmd := exec.Command("openssl", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "ext"), []byte("subjectAltName=DNS:web.app.svc\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\nauthorityKeyIdentifier=keyid\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sh("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key")
	sh("req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=pol-ca", "-days", "3650", "-sha256",
		"-addext", "basicConstraints=critical,CA:TRUE,pathlen:0", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", "ca.pem")
	sh("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "leaf.key")
	sh("req", "-new", "-key", "leaf.key", "-subj", "/CN=web", "-out", "leaf.csr")
	sh("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "365", "-sha1", "-extfile", "ext", "-out", "leaf.pem")
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	node := func(k material.KeyPair, certFile, keyFile string) *yaml.RNode {
		c, err := pki.ParseCert(read(certFile))
		if err != nil {
			t.Fatal(err)
		}
		k.Certs, k.KeyField = []*x509.Certificate{c}, "tls.key"
		n, err := material.New(k, read(keyFile))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	caNode := node(material.KeyPair{Rotation: "pol", Role: material.RoleCA, Generation: phases.Old, CAID: material.FirstCAID}, "ca.pem", "ca.key")
	leafNode := node(material.KeyPair{Rotation: "pol", Role: material.RoleLeaf, Leaf: "web", Generation: phases.Old}, "leaf.pem", "leaf.key")
	cfg := yaml.MustParse(policyRotation)
	rot, _ := spec.Load(cfg)
	out := gen.Render(gen.Input{Rotation: rot, Config: cfg, Items: []*yaml.RNode{caNode, leafNode}, Now: testkit.Now})
	if !out.Failed() || !strings.Contains(out.Results.Error(), "SHA-1 and MD5 signatures are refused") || !strings.Contains(out.Results.Error(), "pol-leaf-web-old certificate") {
		t.Fatalf("a SHA-1 signed leaf must be refused on its certificate field: %v", out.Results)
	}
}
