package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"
)

// TestARenewedCAVerifiesTheOldCAsLeavesAfterTheOldCertificateExpires: the
// renewed certificate has the old key, subject and key identifier, so a
// leaf the old certificate's key signed verifies under it alone, after the
// old certificate expired, and not under the old one then.
func TestARenewedCAVerifiesTheOldCAsLeavesAfterTheOldCertificateExpires(t *testing.T) {
	for _, alg := range []string{"ecdsa-p256", "rsa-2048", "ed25519"} {
		t.Run(alg, func(t *testing.T) {
			ca, err := NewCA(CARequest{CommonName: "renew-me", Organization: []string{"carousel"}, Validity: 48 * time.Hour, Algorithm: alg})
			if err != nil {
				t.Fatal(err)
			}
			old, _ := ParseCert(ca.CertPEM)
			// A leaf outliving the old certificate: what the system
			// itself issues with the CA key, uncapped.
			leaf := leafOutliving(t, ca, old.NotAfter.Add(24*time.Hour))
			renewedPEM, err := RenewCA(RenewRequest{CA: ca, NotBefore: time.Now(), Validity: 365 * 24 * time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			renewed, _ := ParseCert(renewedPEM)
			if !bytes.Equal(renewed.RawSubject, old.RawSubject) || !bytes.Equal(renewed.RawSubjectPublicKeyInfo, old.RawSubjectPublicKeyInfo) || !bytes.Equal(renewed.SubjectKeyId, old.SubjectKeyId) {
				t.Fatal("the renewed certificate changed the subject, key or key identifier")
			}
			if renewed.SerialNumber.Cmp(old.SerialNumber) == 0 {
				t.Fatal("the renewed certificate has the old serial number")
			}
			if !renewed.NotAfter.After(old.NotAfter) {
				t.Fatalf("the renewed certificate expires %s, not after %s", renewed.NotAfter, old.NotAfter)
			}
			if errs := CAPolicy(renewed, nil); len(errs) > 0 {
				t.Fatalf("the renewed certificate fails the CA policy: %v", errs)
			}
			at := old.NotAfter.Add(time.Hour)
			verify := func(root *x509.Certificate, when time.Time) error {
				pool := x509.NewCertPool()
				pool.AddCert(root)
				_, err := leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: when, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
				return err
			}
			if err := verify(renewed, leaf.NotBefore.Add(time.Minute)); err != nil {
				t.Fatalf("a leaf of the old certificate does not verify under the renewed one alone: %v", err)
			}
			if err := verify(renewed, at); err != nil {
				t.Fatalf("at %s: %v", at, err)
			}
			if err := verify(old, at); err == nil {
				t.Fatal("the old certificate verifies after it expired: the test cannot tell")
			}
		})
	}
}

func TestRenewingRefusesWhatIsNoRenewal(t *testing.T) {
	root := mustCA(t, "root", 48*time.Hour)
	inter, err := Issue(root, LeafRequest{CommonName: "inter", IsCA: true, Validity: 24 * time.Hour, Algorithm: "ecdsa-p256"})
	if err != nil {
		t.Fatal(err)
	}
	other := mustCA(t, "other", time.Hour)
	tests := []struct {
		name string
		req  RenewRequest
		want string
	}{
		{"an intermediate is its parent's to renew", RenewRequest{CA: inter, NotBefore: time.Now(), Validity: 72 * time.Hour}, "not self-signed"},
		{"a key of another CA is refused", RenewRequest{CA: Pair{CertPEM: root.CertPEM, KeyPEM: other.KeyPEM}, NotBefore: time.Now(), Validity: 72 * time.Hour}, "does not match"},
		{"a renewal that ends before the current certificate is refused", RenewRequest{CA: root, NotBefore: time.Now(), Validity: time.Hour}, "must outlive it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := RenewCA(tt.req)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want an error containing %q, got %v", tt.want, err)
			}
		})
	}
}

// leafOutliving is a server leaf the CA's key signs with Go directly,
// valid until notAfter, past the CA certificate: what a system issuing
// with the CA key (and not capping at its certificate) serves.
func leafOutliving(t *testing.T, ca Pair, notAfter time.Time) *x509.Certificate {
	t.Helper()
	caCert, _ := ParseCert(ca.CertPEM)
	caKey, err := ParseKey(ca.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "svc"}, DNSNames: []string{"svc.example"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
