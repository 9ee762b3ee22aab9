package handshake

import (
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/rotate"
)

// adoptRotation rotates an adopted CA to one carousel makes with the
// kubernetes preset's key (ECDSA P-256 in SEC 1), through a trust bundle,
// a server leaf, a client leaf (mutual TLS) and an intermediate (a mesh's
// issuer), so the matrix runs chains of one and two links.
const adoptRotation = `apiVersion: carousel.dev/v1alpha1
kind: CARotation
metadata:
  name: adopted
spec:
  phase: steady
  ca:
    commonName: carousel-next
    key: {algorithm: ecdsa-p256, encoding: sec1}
  bundles:
  - name: adopted-trust
    namespaces: [app]
  leaves:
  - name: webhook
    secret: {name: webhook-tls, namespace: app}
    dnsNames: [webhook.app.svc]
    usages: [server]
  - name: admin
    secret: {name: admin-tls, namespace: app}
    commonName: admin
    usages: [client]
  - name: issuer
    secret: {name: issuer, namespace: app}
    isCA: true
    usages: [server, client]
`

func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

func writeFiles(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// adoptionCorpus makes, in a directory, ca.crt and ca.key as each tool
// writes them (testkit's foreign CAs).
var adoptionCorpus = []struct {
	name string
	make func(t *testing.T, dir string) testkit.ForeignCA
	// keyType is the PEM block the adopted key keeps.
	keyType string
}{
	{"kubeadm RSA-2048 (pkiutil.NewCertificateAuthority, kubeadm's default)", func(t *testing.T, dir string) testkit.ForeignCA {
		return testkit.KubeadmCA(t, dir, "")
	}, "RSA PRIVATE KEY"},
	{"kubeadm ECDSA-P256 (encryptionAlgorithm: ECDSA-P256)", func(t *testing.T, dir string) testkit.ForeignCA {
		return testkit.KubeadmCA(t, dir, "ECDSA-P256")
	}, "EC PRIVATE KEY"},
	{"openssl v3_ca defaults: basicConstraints, key identifiers, no keyUsage", func(t *testing.T, dir string) testkit.ForeignCA {
		return testkit.OpenSSLCA(t, dir, testkit.OpenSSLRSA, "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always,issuer\nbasicConstraints=critical,CA:true\n")
	}, "PRIVATE KEY"},
	{"openssl basicConstraints only: no keyUsage, no key identifiers", func(t *testing.T, dir string) testkit.ForeignCA {
		return testkit.OpenSSLCA(t, dir, testkit.OpenSSLECParam, "basicConstraints=critical,CA:TRUE\nsubjectKeyIdentifier=none\nauthorityKeyIdentifier=none\n")
	}, "EC PRIVATE KEY"},
	{"openssl keyUsage keyCertSign only", func(t *testing.T, dir string) testkit.ForeignCA {
		return testkit.OpenSSLCA(t, dir, testkit.OpenSSLRSA, "subjectKeyIdentifier=hash\nbasicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign\n")
	}, "PRIVATE KEY"},
	{"openssl keyCertSign, cRLSign and digitalSignature", func(t *testing.T, dir string) testkit.ForeignCA {
		return testkit.OpenSSLCA(t, dir, testkit.OpenSSLEd25519,
			"subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\nbasicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\n")
	}, "PRIVATE KEY"},
	{"RKE: client-go NewSelfSignedCACert, RSA 2048 in PKCS#1, CN kube-ca", func(t *testing.T, dir string) testkit.ForeignCA {
		return testkit.RKECA(t, dir)
	}, "RSA PRIVATE KEY"},
	{"cfssl gencert -initca (RSA 2048)", func(t *testing.T, dir string) testkit.ForeignCA {
		return testkit.CfsslCA(t, dir)
	}, "RSA PRIVATE KEY"},
}

// TestCAsOtherToolsMakeAreAdoptedAndRotatedWithoutABrokenHandshake adopts
// each CA of the corpus with the real `carousel init --ca-cert --ca-key`,
// starts a rotation to a CA carousel makes, renders every phase with the
// real kustomize and the function, and runs the handshake matrix over the
// phases: every adjacent pair handshakes, every other pair breaks where the
// phase model says. The adopted key is kept byte for byte. Before, every
// render of such a package failed ("a CA needs the certSign and cRLSign key
// usages", "re-encode it").
func TestCAsOtherToolsMakeAreAdoptedAndRotatedWithoutABrokenHandshake(t *testing.T) {
	for _, c := range adoptionCorpus {
		t.Run(c.name, func(t *testing.T) {
			ca := t.TempDir()
			c.make(t, ca)
			dir := testkit.Adopt(t, adoptRotation, ca)
			if got := adoptedKeyType(t, dir, ca); got != c.keyType {
				t.Errorf("the adopted key is a %q block, want %q as the tool wrote it", got, c.keyType)
			}
			rotateThroughEveryPhase(t, dir)
			if strings.HasPrefix(c.name, "kubeadm") {
				// The CA carousel makes goes onto the control plane as
				// ca.crt/ca.key: kubeadm's own loader must take it.
				newCAForKubeadm(t, dir)
			}
		})
	}
}

// packageCA is the CA KeyPair of generation g in the package in dir.
func packageCA(t *testing.T, dir string, g phases.Generation) material.KeyPair {
	t.Helper()
	p, err := rotate.Load(filepath.Join(dir, "carousel.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	set, err := p.Material()
	if err != nil {
		t.Fatal(err)
	}
	return set.CA[g]
}

// adoptedKeyType checks the adopted CA's key is the file's, byte for byte,
// and returns its PEM block type (the first key block).
func adoptedKeyType(t *testing.T, dir, ca string) string {
	t.Helper()
	old := packageCA(t, dir, phases.Old)
	if !old.Adopted {
		t.Errorf("the adopted CA's KeyPair lacks %s", material.AnnotationAdopted)
	}
	got, err := old.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(filepath.Join(ca, "ca.key"))
	if string(got) != string(want) {
		t.Errorf("the adopted key was rewritten:\n%s\nthe tool wrote:\n%s", got, want)
	}
	rest := got
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			t.Fatal("no key block in the adopted key")
		}
		if b.Type != "EC PARAMETERS" {
			return b.Type
		}
	}
}

// rotateThroughEveryPhase renders every phase of the package with the real
// kustomize (the function refusing nothing) and runs the matrix.
func rotateThroughEveryPhase(t *testing.T, dir string) {
	t.Helper()
	p, err := rotate.Load(filepath.Join(dir, "carousel.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	seq, err := phases.Sequence(p.Rotation.Spec.Scope)
	if err != nil {
		t.Fatal(err)
	}
	built := map[phases.Phase]phaseTLS{}
	for _, ph := range seq {
		items := testkit.Parse(t, testkit.Kustomize(t, dir, ph))
		built[ph] = phaseFrom(t, p.Rotation, items, ph)
	}
	checkMatrix(t, "adopted", p.Rotation.Spec.Scope, seq, built)
}

// newCAForKubeadm writes the new CA carousel made as kubeadm's ca.crt and
// ca.key and has kubeadm's loader (pkiutil.TryLoadCertAndKeyFromDisk) and
// its CA check read them.
func newCAForKubeadm(t *testing.T, dir string) {
	t.Helper()
	k := packageCA(t, dir, phases.New)
	key, err := k.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	pkiDir := t.TempDir()
	writeFiles(t, pkiDir, map[string][]byte{"ca.crt": pki.EncodeCerts(k.Cert()), "ca.key": key})
	run(t, pkiDir, testkit.Tool(t, "kubeadm-ca"), "load", "-dir", pkiDir)
}

// fixCommand is the re-signing command a refusal names as the fix.
var fixCommand = regexp.MustCompile(`printf '[^']*' >ca\.ext; openssl x509 -in ca\.crt -signkey ca\.key [^;]*-out ca-renewed\.crt`)

// TestACAWithoutExtensionsIsRefusedAndTheFixItNamesIsAdopted: openssl's
// certificate without any extension (version 1) is no CA for kubeadm,
// cert-manager or a chain; init refuses it, writes nothing, and names a
// fix. The fix, run as printed with the real openssl, keeps the key and
// subject: the renewed CA is adopted and rotated, and a leaf the original
// signed still verifies against it.
func TestACAWithoutExtensionsIsRefusedAndTheFixItNamesIsAdopted(t *testing.T) {
	ca := t.TempDir()
	testkit.OpenSSLCA(t, ca, testkit.OpenSSLRSA, "")
	if v := run(t, ca, "openssl", "x509", "-in", "ca.crt", "-noout", "-text"); !strings.Contains(v, "Version: 1 (0x0)") {
		t.Fatalf("openssl made no version-1 certificate:\n%s", v)
	}
	// A leaf the original signed, to check the fix keeps it valid.
	run(t, ca, "openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "old.key", "-subj", "/CN=old-leaf", "-out", "old.csr")
	writeFiles(t, ca, map[string][]byte{"old.ext": []byte("basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:old.app.svc\n")})
	run(t, ca, "openssl", "x509", "-req", "-in", "old.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "365", "-extfile", "old.ext", "-out", "old.crt")

	dir := t.TempDir()
	writeFiles(t, dir, map[string][]byte{"carousel.yaml": []byte(adoptRotation)})
	r := testkit.Cmd{Dir: dir}.Run(t, "init", "carousel.yaml", "--ca-cert", filepath.Join(ca, "ca.crt"), "--ca-key", filepath.Join(ca, "ca.key"), "--plaintext-keys")
	if r.Err == nil {
		t.Fatalf("init adopted a version-1 certificate as a CA:\n%s", r.Out)
	}
	for _, want := range []string{"not a CA", "version-1 certificate", "basicConstraints CA:TRUE"} {
		if !strings.Contains(r.Out, want) {
			t.Errorf("the refusal lacks %q:\n%s", want, r.Out)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("a refused init wrote to the package: %v", entries)
	}
	fix := fixCommand.FindString(r.Out)
	if fix == "" {
		t.Fatalf("the refusal names no re-signing command:\n%s", r.Out)
	}
	run(t, ca, "sh", "-c", fix)
	run(t, ca, "openssl", "verify", "-CAfile", "ca-renewed.crt", "old.crt")
	if err := os.Rename(filepath.Join(ca, "ca-renewed.crt"), filepath.Join(ca, "ca.crt")); err != nil {
		t.Fatal(err)
	}
	rotateThroughEveryPhase(t, testkit.Adopt(t, adoptRotation, ca))
}
