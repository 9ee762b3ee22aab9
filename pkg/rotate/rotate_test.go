package rotate

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
)

const rotation = `# The mesh trust anchor.
apiVersion: carousel.dev/v1alpha1
kind: CARotation
metadata:
  name: mesh
spec:
  phase: steady # advanced one PR at a time
  ca:
    commonName: root.mesh
  leaves:
  - name: issuer
    secret: {name: issuer, namespace: mesh}
    isCA: true
    usages: [server, client]
`

func newPackage(t *testing.T) *Package {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "carousel.yaml")
	if err := os.WriteFile(file, []byte(rotation), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var plaintext = Options{Plaintext: true, Stderr: &bytes.Buffer{}}

func TestWithoutEncryptionOrTheOptInNoKeyIsWritten(t *testing.T) {
	p := newPackage(t)
	_, err := Init(p, Options{Stderr: &bytes.Buffer{}})
	if err == nil {
		t.Fatal("init wrote keys without encryption or --plaintext-keys")
	}
	if _, statErr := os.Stat(p.MaterialDir()); statErr == nil {
		entries, _ := os.ReadDir(p.MaterialDir())
		if len(entries) > 0 {
			t.Fatalf("a refused init left files: %v", entries)
		}
	}
}

func TestThePlaintextOptInWarns(t *testing.T) {
	p := newPackage(t)
	var stderr bytes.Buffer
	if _, err := Init(p, Options{Plaintext: true, Stderr: &stderr}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "PLAINTEXT") {
		t.Fatalf("no warning on stderr: %q", stderr.String())
	}
}

func TestARotationCycleMakesPromotesAndReplacesMaterial(t *testing.T) {
	p := newPackage(t)
	if _, err := Init(p, plaintext); err != nil {
		t.Fatal(err)
	}
	if _, err := Init(p, plaintext); err == nil {
		t.Fatal("a second init must be refused")
	}
	if _, err := Start(p, plaintext, nil); err != nil {
		t.Fatal(err)
	}
	set, err := p.Material()
	if err != nil {
		t.Fatal(err)
	}
	oldCA, newCA := set.CA[phases.Old].Cert(), set.CA[phases.New].Cert()
	if pki.Fingerprint(oldCA) == pki.Fingerprint(newCA) {
		t.Fatal("start did not make a new CA")
	}
	for _, g := range phases.Generations {
		leaf := set.Leaves["issuer"][g].Cert()
		if err := pki.CheckSignedBy(leaf, set.CA[g].Cert()); err != nil {
			t.Fatalf("the %s leaf: %v", g, err)
		}
	}
	if _, err := Start(p, plaintext, nil); err == nil {
		t.Fatal("starting twice must be refused")
	}
	if err := p.SetPhase(phases.TrustNew); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(p, plaintext, nil); err == nil || !strings.Contains(err.Error(), "in flight") {
		t.Fatalf("starting mid-rotation must be refused, got %v", err)
	}

	// Finish the rotation; the next start promotes new to old first.
	if err := p.SetPhase(phases.Cleanup); err != nil {
		t.Fatal(err)
	}
	rep, err := Start(p, plaintext, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Removed) == 0 {
		t.Fatal("promotion removed nothing")
	}
	if p.Rotation.Spec.Phase != phases.Steady {
		t.Fatalf("after promotion the phase is %s, want steady", p.Rotation.Spec.Phase)
	}
	again, err := p.Material()
	if err != nil {
		t.Fatal(err)
	}
	if pki.Fingerprint(again.CA[phases.Old].Cert()) != pki.Fingerprint(newCA) {
		t.Fatal("the finished rotation's new CA did not become the current one")
	}
	if pki.Fingerprint(again.CA[phases.New].Cert()) == pki.Fingerprint(newCA) {
		t.Fatal("the next rotation reused the CA it replaces")
	}
}

func TestSetPhaseKeepsCommentsAndFormatting(t *testing.T) {
	p := newPackage(t)
	if err := p.SetPhase(phases.TrustNew); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p.File)
	want := strings.Replace(rotation, "phase: steady", "phase: trust-new", 1)
	if string(b) != want {
		t.Fatalf("SetPhase changed more than the phase:\n--- want\n%s\n--- got\n%s", want, b)
	}
}
