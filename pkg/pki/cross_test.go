package pki

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"
)

func crossCA(t *testing.T, cn string, validity time.Duration, pathLen *int) Pair {
	t.Helper()
	ca, err := NewCA(CARequest{CommonName: cn, Validity: validity, Algorithm: "ecdsa-p256", PathLength: pathLen})
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func crossCert(t *testing.T, b []byte) *x509.Certificate {
	t.Helper()
	c, err := ParseCert(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCrossSignMakesTheNewCAsCertificateUnderTheOldOne: the
// cross-certificate is the new CA's name and key under the old CA's
// signature, never outliving the old CA; a leaf of the new CA served with
// it verifies under the old CA alone, and without it does not.
func TestCrossSignMakesTheNewCAsCertificateUnderTheOldOne(t *testing.T) {
	old := crossCA(t, "old root", 48*time.Hour, nil)
	nw := crossCA(t, "new root", 8760*time.Hour, nil)
	now := time.Now()
	b, err := CrossSign(CrossRequest{Old: old, New: nw.CertPEM, NotBefore: now})
	if err != nil {
		t.Fatal(err)
	}
	cross, oc, nc := crossCert(t, b), crossCert(t, old.CertPEM), crossCert(t, nw.CertPEM)
	if err := CheckCross(cross, nc, oc); err != nil {
		t.Fatal(err)
	}
	if !cross.NotAfter.Equal(oc.NotAfter) {
		t.Errorf("the cross-certificate ends %s, want the old CA's NotAfter %s", cross.NotAfter, oc.NotAfter)
	}
	if string(cross.AuthorityKeyId) != string(oc.SubjectKeyId) {
		t.Error("the authority key identifier is not the old CA's")
	}
	leafPair, err := Issue(nw, LeafRequest{CommonName: "web", DNSNames: []string{"web"}, Usages: []string{"server"}, Validity: time.Hour, Algorithm: "ecdsa-p256"})
	if err != nil {
		t.Fatal(err)
	}
	leaf := crossCert(t, leafPair.CertPEM)
	verify := func(roots []*x509.Certificate, inter ...*x509.Certificate) error {
		r, i := x509.NewCertPool(), x509.NewCertPool()
		for _, c := range roots {
			r.AddCert(c)
		}
		for _, c := range inter {
			i.AddCert(c)
		}
		_, err := leaf.Verify(x509.VerifyOptions{Roots: r, Intermediates: i, CurrentTime: now.Add(time.Minute), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		return err
	}
	if err := verify([]*x509.Certificate{oc}, cross); err != nil {
		t.Errorf("the new CA's leaf with the cross-certificate does not verify under the old CA: %v", err)
	}
	if err := verify([]*x509.Certificate{oc}); err == nil {
		t.Error("the new CA's leaf verifies under the old CA without the cross-certificate: the test proves nothing")
	}
	if err := verify([]*x509.Certificate{nc}, cross); err != nil {
		t.Errorf("with the cross-certificate in the chain, the leaf does not verify under the new CA: %v", err)
	}

	t.Run("a new CA of the old one's name gets the old CA's key identifier as authority too", func(t *testing.T) {
		same := crossCA(t, "old root", 8760*time.Hour, nil)
		b, err := CrossSign(CrossRequest{Old: old, New: same.CertPEM, NotBefore: now})
		if err != nil {
			t.Fatal(err)
		}
		if c := crossCert(t, b); string(c.AuthorityKeyId) != string(oc.SubjectKeyId) {
			t.Errorf("authority key identifier %x, want the old CA's %x", c.AuthorityKeyId, oc.SubjectKeyId)
		}
	})
	t.Run("CheckCross refuses what is not the cross-certificate", func(t *testing.T) {
		other := crossCA(t, "new root", 8760*time.Hour, nil)
		if err := CheckCross(cross, crossCert(t, other.CertPEM), oc); err == nil || !strings.Contains(err.Error(), "public key") {
			t.Errorf("another key under the same name: %v", err)
		}
		if err := CheckCross(cross, nc, crossCert(t, other.CertPEM)); err == nil {
			t.Error("another old CA accepted")
		}
		impostor := crossCA(t, "old root", 48*time.Hour, nil)
		forged, err := CrossSign(CrossRequest{Old: impostor, New: nw.CertPEM, NotBefore: now})
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckCross(crossCert(t, forged), nc, oc); err == nil || !strings.Contains(err.Error(), "authority key identifier") {
			t.Errorf("a cross-certificate signed by a same-named CA of another key: %v", err)
		}
	})
	t.Run("refusals", func(t *testing.T) {
		zero := 0
		limited := crossCA(t, "old root", 48*time.Hour, &zero)
		if _, err := CrossSign(CrossRequest{Old: limited, New: nw.CertPEM, NotBefore: now}); err == nil || !strings.Contains(err.Error(), "path length 0") {
			t.Errorf("an old CA with path length 0: %v", err)
		}
		if _, err := CrossSign(CrossRequest{Old: old, New: nw.CertPEM, NotBefore: now.Add(72 * time.Hour)}); err == nil || !strings.Contains(err.Error(), "expired") {
			t.Errorf("an expired old CA: %v", err)
		}
		if _, err := CrossSign(CrossRequest{Old: Pair{CertPEM: old.CertPEM, KeyPEM: nw.KeyPEM}, New: nw.CertPEM, NotBefore: now}); err == nil {
			t.Error("a key that is not the old CA's")
		}
	})
}
