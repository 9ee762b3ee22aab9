package pki

import (
	"bytes"
	"crypto/x509"
	"testing"
	"time"
)

func mustCA(t *testing.T, cn string, validity time.Duration) Pair {
	t.Helper()
	ca, err := NewCA(CARequest{CommonName: cn, Validity: validity, Algorithm: "ecdsa-p256"})
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func TestANewCAIsACAWhoseKeyMatches(t *testing.T) {
	ca := mustCA(t, "root", 24*time.Hour)
	cert, err := ParseCert(ca.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckCA(cert); err != nil {
		t.Fatal(err)
	}
	key, err := ParseKey(ca.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !KeyMatches(cert, key) {
		t.Fatal("the CA key does not match its certificate")
	}
	other := mustCA(t, "other", time.Hour)
	otherKey, _ := ParseKey(other.KeyPEM)
	if KeyMatches(cert, otherKey) {
		t.Fatal("another CA's key matched")
	}
}

func TestIssuedLeavesChainAndNeverOutliveTheirIssuer(t *testing.T) {
	ca := mustCA(t, "root", 48*time.Hour)
	caCert, _ := ParseCert(ca.CertPEM)
	leaf, err := Issue(ca, LeafRequest{CommonName: "svc", DNSNames: []string{"svc.ns.svc"}, IPAddresses: []string{"127.0.0.1"},
		Usages: []string{"server", "client"}, Validity: 10 * 365 * 24 * time.Hour, Algorithm: "ecdsa-p256"})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := ParseCert(leaf.CertPEM)
	if err := CheckSignedBy(c, caCert); err != nil {
		t.Fatal(err)
	}
	if c.NotAfter.After(caCert.NotAfter) {
		t.Fatalf("leaf expires %v after its CA %v", c.NotAfter, caCert.NotAfter)
	}
	if len(c.DNSNames) != 1 || len(c.IPAddresses) != 1 || c.IsCA {
		t.Fatalf("unexpected SANs or CA flag: %v %v %v", c.DNSNames, c.IPAddresses, c.IsCA)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	if _, err := c.Verify(x509.VerifyOptions{Roots: pool, DNSName: "svc.ns.svc", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Fatal(err)
	}
	other := mustCA(t, "other", time.Hour)
	otherCert, _ := ParseCert(other.CertPEM)
	if CheckSignedBy(c, otherCert) == nil {
		t.Fatal("a leaf verified against a CA that did not sign it")
	}
}

func TestAnIntermediateLeafIsACA(t *testing.T) {
	ca := mustCA(t, "anchor", 48*time.Hour)
	issuer, err := Issue(ca, LeafRequest{CommonName: "identity.linkerd.cluster.local", IsCA: true, Usages: []string{"server", "client"}, Validity: time.Hour, Algorithm: "ecdsa-p256"})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := ParseCert(issuer.CertPEM)
	if err := CheckCA(c); err != nil {
		t.Fatalf("an isCA leaf must be a CA: %v", err)
	}
}

func TestBundlesAreDeduplicatedAndSortedSoBytesOnlyChangeWithTheSet(t *testing.T) {
	a, _ := ParseCert(mustCA(t, "a", time.Hour).CertPEM)
	b, _ := ParseCert(mustCA(t, "b", time.Hour).CertPEM)
	one := Bundle(a, b, a)
	two := Bundle(b, a)
	if !bytes.Equal(one, two) {
		t.Fatal("the same set in another order gave other bytes")
	}
	certs, err := ParseCerts(one)
	if err != nil || len(certs) != 2 {
		t.Fatalf("want 2 certificates, got %d (%v)", len(certs), err)
	}
	if Fingerprint(certs[0]) > Fingerprint(certs[1]) {
		t.Fatal("bundle not sorted by fingerprint")
	}
}

func TestParseCertsRefusesKeysAndGarbage(t *testing.T) {
	ca := mustCA(t, "a", time.Hour)
	if _, err := ParseCerts(append(ca.CertPEM, ca.KeyPEM...)); err == nil {
		t.Fatal("a private key in a bundle must be refused")
	}
	if _, err := ParseCerts([]byte("nothing")); err == nil {
		t.Fatal("no certificate must be refused")
	}
}

func TestWeakKeysAreRefused(t *testing.T) {
	for _, alg := range []string{"rsa-1024", "dsa", "ecdsa-p224"} {
		if _, err := KeyRequest(alg); err == nil {
			t.Errorf("%s was accepted", alg)
		}
	}
}
