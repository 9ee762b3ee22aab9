package pki

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"strings"
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

// Each encoding writes its own PEM block, reads back through ParseKey, and
// the default (empty) encoding is cfssl's own, byte for byte.
func TestKeysAreWrittenInTheChosenEncoding(t *testing.T) {
	for _, c := range []struct {
		name, algorithm, encoding, block string
	}{
		{"an RSA key by default is PKCS#1, as carousel always wrote it", "rsa-2048", "", "RSA PRIVATE KEY"},
		{"an RSA key in pkcs8 is a PRIVATE KEY block (what OSM's Tresor reads)", "rsa-2048", "pkcs8", "PRIVATE KEY"},
		{"an RSA key in pkcs1 is an RSA PRIVATE KEY block", "rsa-2048", "pkcs1", "RSA PRIVATE KEY"},
		{"an ECDSA key by default is SEC 1", "ecdsa-p256", "", "EC PRIVATE KEY"},
		{"an ECDSA key in pkcs8 is a PRIVATE KEY block", "ecdsa-p384", "pkcs8", "PRIVATE KEY"},
		{"an ECDSA key in sec1 is an EC PRIVATE KEY block", "ecdsa-p256", "sec1", "EC PRIVATE KEY"},
		{"an Ed25519 key by default is cfssl's own block", "ed25519", "", "Ed25519 PRIVATE KEY"},
		{"an Ed25519 key in pkcs8 is a PRIVATE KEY block", "ed25519", "pkcs8", "PRIVATE KEY"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ca, err := NewCA(CARequest{CommonName: "ca", Validity: time.Hour, Algorithm: c.algorithm, Encoding: c.encoding})
			if err != nil {
				t.Fatal(err)
			}
			leaf, err := Issue(ca, LeafRequest{CommonName: "leaf", Validity: time.Hour, Algorithm: c.algorithm, Encoding: c.encoding})
			if err != nil {
				t.Fatal(err)
			}
			for name, p := range map[string]Pair{"CA": ca, "leaf": leaf} {
				block, _ := pem.Decode(p.KeyPEM)
				if block == nil || block.Type != c.block {
					t.Fatalf("%s key: want a %q block, got %q", name, c.block, p.KeyPEM)
				}
				if want := KeyPEMType(c.encoding, c.algorithm); want != c.block {
					t.Fatalf("KeyPEMType(%q, %q) = %q, want %q", c.encoding, c.algorithm, want, c.block)
				}
				k, err := ParseKey(p.KeyPEM)
				if err != nil {
					t.Fatal(err)
				}
				cert, _ := ParseCert(p.CertPEM)
				if !KeyMatches(cert, k) {
					t.Fatalf("%s key does not match its certificate", name)
				}
			}
			if c.encoding == "" {
				return
			}
			// Re-encoding a key already in its encoding is the identity,
			// and the default keeps bytes as they are.
			if again, err := EncodeKey(ca.KeyPEM, c.encoding); err != nil || !bytes.Equal(again, ca.KeyPEM) {
				t.Fatalf("re-encoding changed the key (%v)", err)
			}
			if same, _ := EncodeKey(ca.KeyPEM, ""); !bytes.Equal(same, ca.KeyPEM) {
				t.Fatal("the empty encoding changed the key")
			}
		})
	}
}

func TestAnEncodingThatCannotHoldTheKeyIsRefused(t *testing.T) {
	ec, err := NewCA(CARequest{CommonName: "ca", Validity: time.Hour, Algorithm: "ecdsa-p256"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := EncodeKey(ec.KeyPEM, "pkcs1"); err == nil || !strings.Contains(err.Error(), "RSA keys only") {
		t.Fatalf("an ECDSA key in PKCS#1: got %v", err)
	}
	if _, err := NewCA(CARequest{CommonName: "ca", Validity: time.Hour, Algorithm: "rsa-2048", Encoding: "sec1"}); err == nil || !strings.Contains(err.Error(), "ECDSA keys only") {
		t.Fatalf("an RSA key in SEC 1: got %v", err)
	}
}
