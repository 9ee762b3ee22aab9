package rotate

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
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

// TestACAKeepsItsIDFromCreationToRemoval follows the CA IDs through init,
// two rotations and their promotions: each CA gets one when it is made and
// keeps it as it moves from new to old; a CA from before IDs were recorded
// keeps its role's name, recorded by the promotion.
func TestACAKeepsItsIDFromCreationToRemoval(t *testing.T) {
	ids := func(p *Package) (string, string) {
		t.Helper()
		set, err := p.Material()
		if err != nil {
			t.Fatal(err)
		}
		return set.CA[phases.Old].CAID, set.CA[phases.New].CAID
	}
	step := func(p *Package, wantOld, wantNew string) {
		t.Helper()
		if err := p.SetPhase(phases.Cleanup); err != nil {
			t.Fatal(err)
		}
		if _, err := Start(p, plaintext, StartRequest{}); err != nil {
			t.Fatal(err)
		}
		if o, n := ids(p); o != wantOld || n != wantNew {
			t.Fatalf("after the promotion and start: old %q, new %q; want %q, %q", o, n, wantOld, wantNew)
		}
	}
	t.Run("recorded from init on", func(t *testing.T) {
		p := newPackage(t)
		if _, err := Init(p, plaintext); err != nil {
			t.Fatal(err)
		}
		if o, _ := ids(p); o != "g1" {
			t.Fatalf("init recorded %q, want g1", o)
		}
		if _, err := Start(p, plaintext, StartRequest{}); err != nil {
			t.Fatal(err)
		}
		if o, n := ids(p); o != "g1" || n != "g2" {
			t.Fatalf("start: old %q, new %q", o, n)
		}
		step(p, "g2", "g3")
		step(p, "g3", "g4")
	})
	t.Run("material from before IDs", func(t *testing.T) {
		p := newPackage(t)
		if _, err := Init(p, plaintext); err != nil {
			t.Fatal(err)
		}
		if _, err := Start(p, plaintext, StartRequest{}); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"ca-old.yaml", "ca-new.yaml"} {
			stripCAID(t, filepath.Join(p.MaterialDir(), f))
		}
		if o, n := ids(p); o != "old" || n != "new" {
			t.Fatalf("legacy material: old %q, new %q", o, n)
		}
		step(p, "new", "g1")
		step(p, "g1", "g2")
	})
}

func stripCAID(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := regexp.MustCompile(`(?m)^\s+carousel\.dev/ca-id: .*\n`).ReplaceAll(b, nil)
	if bytes.Equal(out, b) {
		t.Fatalf("%s records no CA ID", path)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}
