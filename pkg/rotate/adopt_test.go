package rotate

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// adoptRotation is the kubernetes preset's CA settings (ECDSA P-256 in
// SEC 1): what carousel makes. An adopted CA keeps its own.
const adoptRotation = `apiVersion: carousel.dev/v1alpha1
kind: CARotation
metadata:
  name: cluster
spec:
  phase: steady
  ca:
    commonName: kubernetes
    key: {algorithm: ecdsa-p256, encoding: sec1}
  leaves:
  - name: webhook
    secret: {name: webhook-tls, namespace: app}
    dnsNames: [webhook.app.svc]
    usages: [server]
  - name: admin
    secret: {name: admin, namespace: app}
    usages: [client]
`

func adoptPackage(t *testing.T, body string) *Package {
	t.Helper()
	file := filepath.Join(t.TempDir(), "carousel.yaml")
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func keyPEM(t *testing.T, typ string, der []byte) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func pkcs8(t *testing.T, k crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return keyPEM(t, "PRIVATE KEY", der)
}

// selfSignedCA signs tmpl with key (crypto/x509, as Go tools do) and
// encodes the key with enc.
func selfSignedCA(t *testing.T, tmpl *x509.Certificate, key crypto.Signer, enc func(*testing.T, crypto.Signer) []byte) testkit.ForeignCA {
	t.Helper()
	if tmpl.SerialNumber == nil {
		tmpl.SerialNumber = big.NewInt(7)
	}
	if tmpl.Subject.CommonName == "" {
		tmpl.Subject = pkix.Name{CommonName: "adopted-ca"}
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Hour)
		tmpl.NotAfter = time.Now().Add(5 * 365 * 24 * time.Hour)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return testkit.ForeignCA{Cert: keyPEM(t, "CERTIFICATE", der), Key: enc(t, key)}
}

func rsaKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pkcs1(t *testing.T, k crypto.Signer) []byte {
	return keyPEM(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k.(*rsa.PrivateKey)))
}

func sec1(t *testing.T, k crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(k.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	return keyPEM(t, "EC PRIVATE KEY", der)
}

// rkeCA is the CA RKE makes (testkit.RKECA).
func rkeCA(t *testing.T) testkit.ForeignCA { return testkit.RKECA(t, t.TempDir()) }

// renderPhase renders a phase of the package in-process, as the function does.
func renderPhase(t *testing.T, p *Package, phase phases.Phase) gen.Output {
	t.Helper()
	b, err := os.ReadFile(p.File)
	if err != nil {
		t.Fatal(err)
	}
	cfg := yaml.MustParse(string(b))
	if err := cfg.PipeE(yaml.Lookup("spec"), yaml.SetField("phase", yaml.NewStringRNode(string(phase)))); err != nil {
		t.Fatal(err)
	}
	rot, err := spec.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	set, err := p.Material()
	if err != nil {
		t.Fatal(err)
	}
	var items []*yaml.RNode
	for _, n := range set.Nodes {
		items = append(items, n.Copy())
	}
	return gen.Render(gen.Input{Rotation: rot, Config: cfg, Items: items, Now: time.Now()})
}

func results(out gen.Output, severity string) []string {
	var s []string
	for _, r := range out.Results {
		if string(r.Severity) == severity {
			s = append(s, r.String())
		}
	}
	return s
}

// TestInitAdoptsCAsOtherToolsMakeAndEveryPhaseRenders adopts CAs in the
// shapes kubeadm, RKE, openssl's defaults, cfssl and cert-manager write
// (RSA in PKCS#1, ECDSA in SEC 1 and PKCS#8, Ed25519 in PKCS#8; key usages
// without cRLSign or none at all) into a rotation whose spec.ca.key is the
// kubernetes preset's ECDSA P-256 in SEC 1. Each is adopted as it is (its
// key bytes unchanged), and every phase of the rotation it starts renders.
// Before, every render failed ("a CA needs the certSign and cRLSign key
// usages", "re-encode it").
func TestInitAdoptsCAsOtherToolsMakeAndEveryPhaseRenders(t *testing.T) {
	for _, c := range []struct {
		name string
		ca   func(t *testing.T) testkit.ForeignCA
		warn string // a warning init and every render give, or ""
	}{
		{"RKE: RSA 2048 in PKCS#1, CN kube-ca, keyCertSign without cRLSign", rkeCA, ""},
		{"kubeadm's shape: RSA in PKCS#1, digitalSignature+keyEncipherment+keyCertSign", func(t *testing.T) testkit.ForeignCA {
			return selfSignedCA(t, &x509.Certificate{Subject: pkix.Name{CommonName: "kubernetes"}, IsCA: true, BasicConstraintsValid: true,
				KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign}, rsaKey(t), pkcs1)
		}, ""},
		{"no keyUsage extension at all, ECDSA in SEC 1", func(t *testing.T) testkit.ForeignCA {
			k, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
			return selfSignedCA(t, &x509.Certificate{IsCA: true, BasicConstraintsValid: true}, k, sec1)
		}, "no keyUsage extension"},
		{"cert-manager's shape: ECDSA P-256 in PKCS#8, keyCertSign+digitalSignature", func(t *testing.T) testkit.ForeignCA {
			k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			return selfSignedCA(t, &x509.Certificate{IsCA: true, BasicConstraintsValid: true,
				KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}, k, pkcs8)
		}, ""},
		{"Ed25519 in PKCS#8, full key usages", func(t *testing.T) testkit.ForeignCA {
			_, k, _ := ed25519.GenerateKey(rand.Reader)
			return selfSignedCA(t, &x509.Certificate{IsCA: true, BasicConstraintsValid: true,
				KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}, k, pkcs8)
		}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			ca := c.ca(t)
			p := adoptPackage(t, adoptRotation)
			var stderr bytes.Buffer
			o := Options{Plaintext: true, Stderr: &stderr, CACertPEM: ca.Cert, CAKeyPEM: ca.Key}
			if _, err := Init(p, o); err != nil {
				t.Fatalf("init refused the CA: %v", err)
			}
			if c.warn != "" && !strings.Contains(stderr.String(), c.warn) {
				t.Errorf("init gave no warning with %q: %s", c.warn, stderr.String())
			}
			if c.warn == "" && strings.Contains(stderr.String(), "warning: the adopted CA") {
				t.Errorf("init warned about a CA it has no reason to: %s", stderr.String())
			}
			set, err := p.Material()
			if err != nil {
				t.Fatal(err)
			}
			old := set.CA[phases.Old]
			got, err := old.KeyPEM()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, ca.Key) {
				t.Fatalf("the adopted key was rewritten:\n%s\nwant, as adopted:\n%s", got, ca.Key)
			}
			if !old.Adopted {
				t.Fatalf("the adopted CA's KeyPair lacks %s", material.AnnotationAdopted)
			}
			if _, err := Start(p, o, StartRequest{}); err != nil {
				t.Fatal(err)
			}
			set, _ = p.Material()
			newKey, _ := set.CA[phases.New].KeyPEM()
			if typ := pemType(t, newKey); typ != "EC PRIVATE KEY" || set.CA[phases.New].Adopted {
				t.Errorf("the CA carousel made is a %q block (adopted mark %v), want spec.ca.key's SEC 1, unmarked", typ, set.CA[phases.New].Adopted)
			}
			seq, _ := phases.Sequence(phases.ScopeCA)
			for _, ph := range seq {
				out := renderPhase(t, p, ph)
				if errs := results(out, "error"); len(errs) > 0 || out.Items == nil {
					t.Fatalf("%s: the render refused what init accepted: %v", ph, errs)
				}
				warned := strings.Contains(strings.Join(results(out, "warning"), "\n"), c.warn)
				if c.warn != "" && !warned {
					t.Errorf("%s: no warning with %q: %v", ph, c.warn, results(out, "warning"))
				}
			}
		})
	}
}

// TestInitRefusesWhatNoTLSStackAcceptsAndWritesNothing: each refusal names
// the reason and the fix, and leaves the package as it was.
func TestInitRefusesWhatNoTLSStackAcceptsAndWritesNothing(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		name     string
		rotation string
		ca       func(t *testing.T) testkit.ForeignCA
		want     []string
	}{
		{"CA:FALSE", adoptRotation, func(t *testing.T) testkit.ForeignCA {
			return selfSignedCA(t, &x509.Certificate{BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, rsaKey(t), pkcs1)
		}, []string{"not a CA", "CA:FALSE", "openssl x509 -in ca.crt -signkey ca.key"}},
		{"no basicConstraints", adoptRotation, func(t *testing.T) testkit.ForeignCA {
			return selfSignedCA(t, &x509.Certificate{KeyUsage: x509.KeyUsageCertSign}, rsaKey(t), pkcs1)
		}, []string{"not a CA", "no basicConstraints extension", "basicConstraints=critical,CA:TRUE"}},
		{"keyUsage without keyCertSign", adoptRotation, func(t *testing.T) testkit.ForeignCA {
			return selfSignedCA(t, &x509.Certificate{IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign}, rsaKey(t), pkcs1)
		}, []string{"without keyCertSign", "Go and OpenSSL refuse", "keyCertSign,cRLSign"}},
		{"expired", adoptRotation, func(t *testing.T) testkit.ForeignCA {
			return selfSignedCA(t, &x509.Certificate{IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
				NotBefore: now.AddDate(-2, 0, 0), NotAfter: now.AddDate(0, 0, -1)}, rsaKey(t), pkcs1)
		}, []string{"expired on", "renew it with its own key first", "docs/rotations.md"}},
		{"not yet valid", adoptRotation, func(t *testing.T) testkit.ForeignCA {
			return selfSignedCA(t, &x509.Certificate{IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
				NotBefore: now.AddDate(0, 0, 2), NotAfter: now.AddDate(5, 0, 0)}, rsaKey(t), pkcs1)
		}, []string{"not valid until", "clock", "docs/rotations.md"}},
		{"path length 0 under a rotation with an intermediate", rotation, func(t *testing.T) testkit.ForeignCA {
			return selfSignedCA(t, &x509.Certificate{IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, MaxPathLenZero: true}, rsaKey(t), pkcs1)
		}, []string{"path length is 0", "isCA: true"}},
		{"a key of another certificate", adoptRotation, func(t *testing.T) testkit.ForeignCA {
			a := rkeCA(t)
			a.Key = rkeCA(t).Key
			return a
		}, []string{"--ca-key is not the private key of --ca-cert"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ca := c.ca(t)
			for _, keyless := range []bool{false, true} {
				if keyless && strings.Contains(c.name, "key of another") {
					continue
				}
				p := adoptPackage(t, c.rotation)
				before, _ := os.ReadFile(p.File)
				o := Options{Plaintext: true, Stderr: &bytes.Buffer{}, CACertPEM: ca.Cert, CAKeyPEM: ca.Key}
				if keyless {
					o.CAKeyPEM = nil
				}
				_, err := Init(p, o)
				if err == nil {
					t.Fatalf("init adopted it (keyless %v)", keyless)
				}
				for _, w := range c.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("keyless %v: the refusal lacks %q: %v", keyless, w, err)
					}
				}
				entries, _ := os.ReadDir(filepath.Dir(p.File))
				after, _ := os.ReadFile(p.File)
				if len(entries) != 1 || !bytes.Equal(before, after) {
					t.Errorf("keyless %v: a refused init wrote to the package: %v", keyless, entries)
				}
			}
		})
	}
}

// TestInitAdoptsACAAMomentAheadAndWarnsOfOneAboutToExpire: a CA whose start
// is within pki.ClockSkew (made a moment ago on a machine whose clock runs
// ahead) is adopted; one that expires within spec.expiryWarning is adopted
// with a warning that says to start the rotation now.
func TestInitAdoptsACAAMomentAheadAndWarnsOfOneAboutToExpire(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		name       string
		from, till time.Time
		warn       string
	}{
		{"starts in a minute", now.Add(time.Minute), now.AddDate(5, 0, 0), ""},
		{"expires in ten days", now.AddDate(-1, 0, 0), now.AddDate(0, 0, 10), "within spec.expiryWarning (720h0m0s)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ca := selfSignedCA(t, &x509.Certificate{IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
				NotBefore: c.from, NotAfter: c.till}, rsaKey(t), pkcs1)
			p := adoptPackage(t, adoptRotation)
			var stderr bytes.Buffer
			if _, err := Init(p, Options{Plaintext: true, Stderr: &stderr, CACertPEM: ca.Cert, CAKeyPEM: ca.Key}); err != nil {
				t.Fatalf("init refused it: %v", err)
			}
			warned := strings.Contains(stderr.String(), "warning: the adopted CA")
			if c.warn == "" && warned || c.warn != "" && !strings.Contains(stderr.String(), c.warn) {
				t.Errorf("stderr: %s\nwant a warning with %q", stderr.String(), c.warn)
			}
		})
	}
}
