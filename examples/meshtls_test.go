package examples

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/carousel-dev/carousel/internal/handshake"
	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
)

// The meshes' zero-downtime claim, judged by a second TLS stack: the Go
// matrix (internal/handshake) serves what carousel renders with crypto/tls;
// here the proxies of each phase are openssl s_server / s_client processes
// holding a workload certificate their phase's mesh CA issued, as the mesh
// would issue it, presented with the chain the mesh appends, and trusting
// the anchors the phase injects.

// meshProxy is what a meshed pod of one phase holds: a workload certificate
// the phase's mesh CA signed, the chain presented after it, its key, and
// the anchors it verifies peers against.
type meshProxy struct {
	phase                     phases.Phase
	cert, chain, key, anchors string // PEM files
	name                      string // its identity (a DNS SAN)
}

// issueProxy signs a workload certificate for name under issuer (valid at
// testkit.Now, server and client authentication, as mesh CAs issue them)
// and writes it, its key, the chain it is presented with and the anchors
// it trusts into PEM files.
func issueProxy(t *testing.T, phase phases.Phase, name string, issuer *x509.Certificate, issuerKey crypto.PrivateKey, chain, anchors []byte) meshProxy {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, ok := issuerKey.(crypto.Signer)
	if !ok {
		t.Fatalf("%s: the issuer's key is a %T, not a signer", phase, issuerKey)
	}
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    testkit.Now.Add(-time.Hour),
		NotAfter:     testkit.Now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}, issuer, &key.PublicKey, signer)
	if err != nil {
		t.Fatalf("%s: issuing a workload certificate: %v", phase, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(file string, b []byte) string {
		p := filepath.Join(dir, file)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return meshProxy{
		phase:   phase,
		name:    name,
		cert:    write("proxy.crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		chain:   write("chain.crt", chain),
		key:     write("proxy.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})),
		anchors: write("anchors.crt", anchors),
	}
}

// opensslHandshake runs handshake.OpenSSL between a proxy of each side,
// verifying at testkit.Now.
func opensslHandshake(t *testing.T, server, client meshProxy) error {
	t.Helper()
	peer := func(p meshProxy) handshake.Peer {
		return handshake.Peer{Name: p.name, Cert: p.cert, Chain: p.chain, Key: p.key, Anchors: p.anchors}
	}
	return handshake.OpenSSL(peer(server), peer(client), testkit.Now)
}

// opensslMatrix runs, for every ordered pair of phases, a proxy of one as
// the server and a proxy of the other as the client. Every pair of adjacent
// phases (old and new pods side by side) must handshake in both
// directions; every pair the phase model says cannot interoperate (steady
// and sign-new: the new CA signs, steady trusts only the old one) must
// fail, so the check can fail.
func opensslMatrix(t *testing.T, pkg *testkit.Package, proxies map[phases.Phase]meshProxy) {
	t.Helper()
	scope := pkg.Rotation(t).Spec.Scope
	seq := pkg.Phases(t)
	failed := 0
	for i, sp := range seq {
		for j, cp := range seq {
			ss, _ := phases.Lookup(scope, sp)
			cs, _ := phases.Lookup(scope, cp)
			// Mutual TLS: each side must trust the signer of the other's CA.
			compatible := ss.Trusts(cs.Leaves) && cs.Trusts(ss.Leaves)
			adjacent := i-j <= 1 && j-i <= 1
			if adjacent && !compatible {
				t.Fatalf("the phase model says adjacent phases %s and %s do not interoperate", sp, cp)
			}
			err := opensslHandshake(t, proxies[sp], proxies[cp])
			switch {
			case compatible && err != nil:
				t.Errorf("server proxy of %s, client proxy of %s: the handshake failed: %v", sp, cp, err)
			case !compatible && err == nil:
				t.Errorf("server proxy of %s, client proxy of %s: the handshake succeeded, but neither trusts the other's CA", sp, cp)
			case err != nil:
				failed++
			}
		}
	}
	if failed == 0 {
		t.Fatal("no pair of phases failed: the harness cannot see a break")
	}
}
