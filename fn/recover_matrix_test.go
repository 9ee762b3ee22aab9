package fn

import (
	"crypto/tls"
	"crypto/x509"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carousel-dev/carousel/internal/handshake"
	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/rotate"
)

// TestRecoverHandshakesOnlyOnceReplaced is the recover route's handshake
// matrix, with Go and openssl at the real time: the cluster's CA expired
// (made in the test, adopted by init), and so did what it signed, so no
// pair of steady's pods handshakes; replace's pods (the new CA's leaves and
// trusted set, rendered by the real kustomize) handshake with each other,
// and not with steady's (phases.Outages names both directions). Nothing but
// replace can help, which is why the route is one phase.
func TestRecoverHandshakesOnlyOnceReplaced(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	expired := newTestCA(t, now.Add(-60*24*time.Hour), now.Add(-24*time.Hour))
	dir := t.TempDir()
	writeFile(t, dir, "carousel.yaml", []byte(strings.Replace(renewalRotation, "spec:\n", "spec:\n  scope: recover\n", 1)))
	cmd := testkit.Cmd{Dir: dir, AgeKey: true, Env: []string{"CAROUSEL_NOW=" + now.Format(time.RFC3339)}}
	cmd.Must(t, "init", "carousel.yaml", "--age", demoRecipient,
		"--ca-cert", writeFile(t, t.TempDir(), "ca.crt", expired.certPEM()), "--ca-key", writeFile(t, t.TempDir(), "ca.key", expired.keyPEM(t)))
	cmd.Must(t, "start", "carousel.yaml", "--scope", "recover", "--age", demoRecipient)
	cmd.Must(t, "advance", "carousel.yaml", "--no-cluster")
	p, err := rotate.Load(filepath.Join(dir, "carousel.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Rotation.Spec.Phase != phases.Replace || p.Rotation.Spec.Scope != phases.ScopeRecover {
		t.Fatalf("advance must move the recovery to replace: at %s, scope %s", p.Rotation.Spec.Phase, p.Rotation.Spec.Scope)
	}
	walk := map[phases.Phase]renewalPhase{phases.Replace: renewalPhaseOf(t, p.Rotation, phases.Replace, renderPackage(t, dir, now))}

	// steady's pods: what the expired CA signed, trusting it alone.
	files := t.TempDir()
	srvCrt, srvKey := expired.issue(t, "web", nil, true)
	cliCrt, cliKey := expired.issue(t, "api-client", nil, false)
	srvPair, err := tls.X509KeyPair(srvCrt, srvKey)
	if err != nil {
		t.Fatal(err)
	}
	cliPair, err := tls.X509KeyPair(cliCrt, cliKey)
	if err != nil {
		t.Fatal(err)
	}
	anchors := writeFile(t, files, "expired-ca.crt", expired.certPEM())
	empty := writeFile(t, files, "empty-chain.crt", expired.certPEM())
	walk[phases.Steady] = renewalPhase{phase: phases.Steady,
		server:      handshake.Server{Name: "steady web", Cert: srvPair, ServerDNS: "localhost", ClientCAs: certPool([]*x509.Certificate{expired.cert})},
		serverPeer:  handshake.Peer{Name: "localhost", Cert: writeFile(t, files, "web.crt", srvCrt), Chain: empty, Key: writeFile(t, files, "web.key", srvKey), Anchors: anchors},
		clients:     []handshake.Client{{Name: "steady client", Roots: certPool([]*x509.Certificate{expired.cert}), Cert: &cliPair}},
		clientPeers: []handshake.Peer{{Cert: writeFile(t, files, "client.crt", cliCrt), Chain: empty, Key: writeFile(t, files, "client.key", cliKey), Anchors: anchors}},
	}

	outages, _ := phases.Outages(phases.ScopeRecover, phases.Steady, phases.Replace)
	if len(outages) != 2 {
		t.Fatalf("the model says %v: steady and replace must refuse each other both ways", outages)
	}
	tried := 0
	for _, cl := range []phases.Phase{phases.Steady, phases.Replace} {
		for _, srv := range []phases.Phase{phases.Steady, phases.Replace} {
			want := cl == phases.Replace && srv == phases.Replace
			for j, c := range walk[cl].clients {
				tried++
				goErr := handshake.Handshake(walk[srv].server, c, now)
				sslErr := handshake.OpenSSL(walk[srv].serverPeer, walk[cl].clientPeers[j], now)
				if (goErr == nil) != want || (sslErr == nil) != want {
					t.Errorf("%s against the %s server: Go %v, openssl %v; want handshake=%v", c.Name, srv, goErr, sslErr, want)
				}
			}
		}
	}
	if tried == 0 {
		t.Fatal("no pair was tried")
	}
	// The steady pair fails for the expiry alone: at a time the expired
	// CA was valid, it handshakes (so the matrix above can tell).
	if err := handshake.Handshake(walk[phases.Steady].server, walk[phases.Steady].clients[0], expired.cert.NotAfter.Add(-time.Hour)); err != nil {
		t.Errorf("steady's own pair must handshake while its CA was valid: %v", err)
	}
}
