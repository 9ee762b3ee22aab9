package rotate

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carousel-dev/carousel/pkg/phases"
)

const cmRotation = `# a comment that must survive
apiVersion: carousel.dev/v1alpha1
kind: CARotation
metadata:
  name: mesh
spec:
  phase: steady
  backend: cert-manager
  certManager:
    namespace: cert-manager
    generations:
      old: 1 # the CA in use
  ca:
    commonName: mesh root
`

func cmPackage(t *testing.T) *Package {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "carousel.yaml")
	if err := os.WriteFile(file, []byte(cmRotation), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func selfSigned(t *testing.T, cn string) *x509.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<33, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

// TestStartAndFinishMoveTheGenerationNumbersInPlace: start announces old+1,
// finishing at cleanup makes it the one in use and the phase steady; the
// rest of the file (comments, other fields) stays as it was.
func TestStartAndFinishMoveTheGenerationNumbersInPlace(t *testing.T) {
	p := cmPackage(t)
	if err := p.StartCertManager(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p.File)
	if !strings.Contains(string(b), "    generations:\n      old: 1\n      new: 2\n  ca:") || !strings.HasPrefix(string(b), "# a comment that must survive\n") {
		t.Fatalf("after start:\n%s", b)
	}
	if err := p.StartCertManager(); err == nil {
		t.Fatal("a second start while generation 2 is announced was accepted")
	}
	if err := p.FinishCertManager(); err == nil {
		t.Fatal("finishing at steady was accepted")
	}
	if err := p.SetPhase(phases.Cleanup); err != nil {
		t.Fatal(err)
	}
	if err := p.FinishCertManager(); err != nil {
		t.Fatal(err)
	}
	q, err := Load(p.File)
	if err != nil {
		t.Fatal(err)
	}
	if g := q.Rotation.Spec.CertManager.Generations; g.Old != 2 || g.New != 0 || q.Rotation.Spec.Phase != phases.Steady {
		t.Fatalf("after finishing: generations %+v, phase %s", g, q.Rotation.Spec.Phase)
	}
}

// TestPullRecordsAGenerationOnceAndRefusesAReplacedCA: a name never changes
// meaning, so a second pull of a different certificate for the same
// generation is refused and leaves the committed one.
func TestPullRecordsAGenerationOnceAndRefusesAReplacedCA(t *testing.T) {
	p := cmPackage(t)
	first := selfSigned(t, "mesh root")
	if _, err := p.Pull(map[int]*x509.Certificate{1: first}); err != nil {
		t.Fatal(err)
	}
	k, _ := os.ReadFile(filepath.Join(p.MaterialDir(), "kustomization.yaml"))
	if !strings.Contains(string(k), "- ca-1.crt.yaml\n") {
		t.Fatalf("the material kustomization does not list the pulled file:\n%s", k)
	}
	if rep, err := p.Pull(map[int]*x509.Certificate{1: first}); err != nil || len(rep.Written) != 0 {
		t.Fatalf("pulling the same certificate again: %v, wrote %v", err, rep)
	}
	before, _ := os.ReadFile(filepath.Join(p.MaterialDir(), "ca-1.crt.yaml"))
	_, err := p.Pull(map[int]*x509.Certificate{1: selfSigned(t, "mesh root")})
	if err == nil || !strings.Contains(err.Error(), "was replaced") {
		t.Fatalf("a different CA under generation 1: want a refusal, got %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(p.MaterialDir(), "ca-1.crt.yaml"))
	if string(before) != string(after) || strings.Contains(string(after), "PRIVATE KEY") {
		t.Fatal("the committed certificate changed, or holds a key")
	}
}
