package rotate

import (
	"strings"
	"testing"

	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
)

func TestARotationCycleMakesPromotesAndReplacesMaterial(t *testing.T) {
	p := newPackage(t)
	if _, err := Init(p, plaintext); err != nil {
		t.Fatal(err)
	}
	if _, err := Init(p, plaintext); err == nil {
		t.Fatal("a second init must be refused")
	}
	if _, err := Start(p, plaintext, StartRequest{}); err != nil {
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
	if _, err := Start(p, plaintext, StartRequest{}); err == nil {
		t.Fatal("starting twice must be refused")
	}
	if err := p.SetPhase(phases.TrustNew); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(p, plaintext, StartRequest{}); err == nil || !strings.Contains(err.Error(), "in flight") {
		t.Fatalf("starting mid-rotation must be refused, got %v", err)
	}

	// Finish the rotation; the next start promotes new to old first.
	if err := p.SetPhase(phases.Cleanup); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(p, plaintext, StartRequest{}); err != nil {
		t.Fatal(err)
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
	for _, k := range again.CA {
		if pki.Fingerprint(k.Cert()) == pki.Fingerprint(oldCA) {
			t.Fatal("the promotion kept the CA it replaced")
		}
	}
}
