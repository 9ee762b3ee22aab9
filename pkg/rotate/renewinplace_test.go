package rotate

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
)

func TestStartScopeRenewRenewsTheCAOverItsKeyAndCarriesEveryLeafForward(t *testing.T) {
	p := newPackage(t)
	if _, err := Init(p, plaintext); err != nil {
		t.Fatal(err)
	}
	before, err := p.Material()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	o := plaintext
	o.Now = func() time.Time { return now }
	if _, err := Start(p, o, StartRequest{Scope: phases.ScopeRenew}); err != nil {
		t.Fatal(err)
	}
	if p.Rotation.Spec.Scope != phases.ScopeRenew {
		t.Fatalf("spec.scope is %s, want renew", p.Rotation.Spec.Scope)
	}
	set, err := p.Material()
	if err != nil {
		t.Fatal(err)
	}
	old, nw := set.CA[phases.Old], set.CA[phases.New]
	o1, n1 := old.Cert(), nw.Cert()
	switch {
	case pki.Fingerprint(o1) != pki.Fingerprint(before.CA[phases.Old].Cert()):
		t.Fatal("the current CA changed")
	case !bytes.Equal(o1.RawSubject, n1.RawSubject):
		t.Fatal("the subject changed")
	case !bytes.Equal(o1.RawSubjectPublicKeyInfo, n1.RawSubjectPublicKeyInfo):
		t.Fatal("the public key changed")
	case !bytes.Equal(o1.SubjectKeyId, n1.SubjectKeyId):
		t.Fatal("the subject key identifier changed")
	case o1.SerialNumber.Cmp(n1.SerialNumber) == 0:
		t.Fatal("the serial number did not change")
	case !n1.NotBefore.Equal(now):
		t.Fatalf("NotBefore is %s, want the clock's %s", n1.NotBefore, now)
	case !n1.NotAfter.Equal(now.Add(p.Rotation.Spec.CA.Validity.Value())):
		t.Fatalf("NotAfter is %s, want now + spec.ca.validity", n1.NotAfter)
	case nw.KeyValue != old.KeyValue:
		t.Fatal("the renewed CA's key value is not the current one's")
	case nw.CAID == old.CAID:
		t.Fatalf("the renewed certificate has the current CA's ID %s: its generation objects would collide", nw.CAID)
	}
	for _, l := range p.Rotation.Spec.Leaves {
		a, b := set.Leaves[l.Name][phases.Old], set.Leaves[l.Name][phases.New]
		if pki.Fingerprint(a.Cert()) != pki.Fingerprint(b.Cert()) || a.KeyValue != b.KeyValue {
			t.Fatalf("leaf %s was not carried forward unchanged", l.Name)
		}
		if err := pki.CheckSignedBy(b.Cert(), n1); err != nil {
			t.Fatalf("leaf %s does not verify under the renewed certificate: %v", l.Name, err)
		}
	}
	if _, err := Start(p, o, StartRequest{Scope: phases.ScopeRenew}); err == nil || !strings.Contains(err.Error(), "already holds new material") {
		t.Fatalf("a second start must say the rotation was started, got %v", err)
	}

	// Finished: the next start promotes the renewed certificate, and the
	// leaves stay the ones issued before the renewal.
	if err := p.SetPhase(phases.Cleanup); err != nil {
		t.Fatal(err)
	}
	later := now.Add(24 * time.Hour)
	o.Now = func() time.Time { return later }
	if _, err := Start(p, o, StartRequest{}); err != nil {
		t.Fatal(err)
	}
	again, err := p.Material()
	if err != nil {
		t.Fatal(err)
	}
	if pki.Fingerprint(again.CA[phases.Old].Cert()) != pki.Fingerprint(n1) {
		t.Fatal("the promotion did not make the renewed certificate the current one")
	}
	if again.CA[phases.New].KeyValue != old.KeyValue || !again.CA[phases.New].Cert().NotBefore.Equal(later) {
		t.Fatal("the second renewal is not over the same key at the clock's time")
	}
	for _, l := range p.Rotation.Spec.Leaves {
		if pki.Fingerprint(again.Leaves[l.Name][phases.Old].Cert()) != pki.Fingerprint(before.Leaves[l.Name][phases.Old].Cert()) {
			t.Fatalf("leaf %s changed across two renewals", l.Name)
		}
	}
}

func TestStartScopeRenewRefusesWhatCannotBeRenewedInPlaceAndWritesNothing(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, p *Package)
		// setup may rewrite the file; the package is loaded again after it.
		want string
	}{
		{"a key other than spec.ca.key.algorithm needs a key change", func(t *testing.T, p *Package) {
			if _, err := Init(p, plaintext); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(p.File)
			b = bytes.Replace(b, []byte("commonName: root.mesh"), []byte("commonName: root.mesh\n    key: {algorithm: ecdsa-p384}"), 1)
			if err := os.WriteFile(p.File, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "has a ecdsa-p256 key, but spec.ca.key.algorithm is ecdsa-p384: a renewal keeps the key, so a key change is due instead: `carousel start"},
		{"a rotation in flight is refused", func(t *testing.T, p *Package) {
			if _, err := Init(p, plaintext); err != nil {
				t.Fatal(err)
			}
			if _, err := Start(p, plaintext, StartRequest{}); err != nil {
				t.Fatal(err)
			}
			if err := p.SetPhase(phases.TrustNew); err != nil {
				t.Fatal(err)
			}
		}, "a rotation is in flight (phase trust-new)"},
		{"an intermediate is its parent's to renew", func(t *testing.T, p *Package) {
			root, err := pki.NewCA(pki.CARequest{CommonName: "root", Validity: 87600 * time.Hour, Algorithm: "ecdsa-p256"})
			if err != nil {
				t.Fatal(err)
			}
			inter, err := pki.Issue(root, pki.LeafRequest{CommonName: "root.mesh", IsCA: true, Validity: 8760 * time.Hour, Algorithm: "ecdsa-p256"})
			if err != nil {
				t.Fatal(err)
			}
			// The intermediate signs leaves only (path length 0).
			b, _ := os.ReadFile(p.File)
			if err := os.WriteFile(p.File, bytes.Replace(b, []byte("    isCA: true\n"), nil, 1), 0o644); err != nil {
				t.Fatal(err)
			}
			if p, err = Load(p.File); err != nil {
				t.Fatal(err)
			}
			o := plaintext
			o.CACertPEM = append(append([]byte{}, inter.CertPEM...), root.CertPEM...)
			o.CAKeyPEM = inter.KeyPEM
			if _, err := Init(p, o); err != nil {
				t.Fatal(err)
			}
		}, "is an intermediate (issued by \"root\")"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPackage(t)
			tt.setup(t, p)
			p, err := Load(p.File)
			if err != nil {
				t.Fatal(err)
			}
			was := snapshot(t, filepath.Dir(p.File))
			_, err = Start(p, plaintext, StartRequest{Scope: phases.ScopeRenew})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want an error containing %q, got %v", tt.want, err)
			}
			now := snapshot(t, filepath.Dir(p.File))
			if len(now) != len(was) {
				t.Fatalf("the refusal changed the package's files: %d before, %d after", len(was), len(now))
			}
			for f, b := range was {
				if now[f] != b {
					t.Fatalf("the refusal changed %s", f)
				}
			}
		})
	}
}
