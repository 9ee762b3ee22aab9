package examples

import (
	"bufio"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// opensslHandshake runs `openssl s_server` as the server's proxy (requiring
// and verifying a client certificate against its anchors) and `openssl
// s_client` as the client's proxy (verifying the server's certificate and
// name against its anchors, presenting its own), both verifying at
// testkit.Now. It returns nil when both sides completed the handshake and
// exchanged data.
func opensslHandshake(t *testing.T, server, client meshProxy) error {
	t.Helper()
	// A bound for a wedged process, not an assertion: a loopback handshake
	// takes milliseconds.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	attime := fmt.Sprint(testkit.Now.Unix())
	srv := exec.CommandContext(ctx, "openssl", "s_server", "-accept", "127.0.0.1:0", "-naccept", "1", "-rev",
		"-cert", server.cert, "-cert_chain", server.chain, "-key", server.key,
		"-CAfile", server.anchors, "-Verify", "4", "-verify_return_error", "-attime", attime)
	pr, pw := io.Pipe()
	srv.Stdout, srv.Stderr = pw, pw
	if err := srv.Start(); err != nil {
		t.Fatalf("openssl s_server: %v (is openssl installed?)", err)
	}
	port := make(chan string, 1)
	serverOut := make(chan string, 1)
	go func() {
		var all strings.Builder
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			all.WriteString(line + "\n")
			if p, ok := strings.CutPrefix(line, "ACCEPT 127.0.0.1:"); ok {
				port <- p
			}
		}
		close(port)
		serverOut <- all.String()
	}()
	p, ok := <-port
	if !ok {
		_ = srv.Wait()
		t.Fatalf("openssl s_server did not listen:\n%s", <-serverOut)
	}
	cl := exec.CommandContext(ctx, "openssl", "s_client", "-connect", "127.0.0.1:"+p, "-quiet", "-ign_eof",
		"-servername", server.name, "-verify_hostname", server.name, "-verify_return_error", "-attime", attime,
		"-CAfile", client.anchors, "-cert", client.cert, "-cert_chain", client.chain, "-key", client.key)
	cl.Stdin = strings.NewReader("ping\nCLOSE\n")
	clientOut, clientErr := cl.CombinedOutput()
	_ = srv.Wait()
	pw.Close()
	sOut := <-serverOut
	// s_server -rev answers each line reversed: "gnip" proves the client's
	// data crossed the handshake both ways.
	if clientErr != nil || !strings.Contains(string(clientOut), "gnip") || !strings.Contains(sOut, "CONNECTION ESTABLISHED") {
		return fmt.Errorf("client (%v):\n%s\nserver:\n%s", clientErr, clientOut, sOut)
	}
	return nil
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
