package fn

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/handshake"
	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// crossRotation has a server and a client leaf (mutual TLS, so both
// directions of every pair are tried) and a CA Secret. The old CA lives
// 720h; the new one gets a year (the spec is edited after init), so the
// cross-certificate's NotAfter is bounded by the old CA, not the new one.
const crossRotation = `apiVersion: carousel.dev/v1alpha1
kind: CARotation
metadata:
  name: crossed
spec:
  phase: steady
  ca:
    commonName: crossed root
    validity: 720h
    secret: {name: crossed-ca, namespace: pki}
  leaves:
  - name: web
    secret: {name: web-tls, namespace: apps}
    dnsNames: [web.apps.svc]
    usages: [server]
    validity: 24h
  - name: api-client
    secret: {name: api-client-tls, namespace: apps}
    usages: [client]
    validity: 24h
`

// crossPhase is what pods of one phase run, as the phase renders it: the
// web server presenting its Secret's whole tls.crt, and a client (the
// api-client leaf, its whole tls.crt) per distinct trusted set; for
// openssl the same as PEM files.
type crossPhase struct {
	phase       phases.Phase
	server      handshake.Server
	serverPeer  handshake.Peer
	clients     []handshake.Client
	clientPeers []handshake.Peer
	// served is the web Secret's tls.crt, as certificates.
	served []*x509.Certificate
	// clientPair is the api-client leaf with its chain (openssl: its files).
	clientPair             tls.Certificate
	clientCert, clientKey  string
	clientChain, webLeafFn string
	trusted                [][]*x509.Certificate
	files                  string
}

// chainFiles writes a Secret's tls.crt as openssl's -cert (the leaf) and
// -cert_chain (what follows it; the leaf again when nothing does, since
// openssl refuses an empty chain file and a repeated leaf adds no path).
func chainFiles(t *testing.T, dir, name string, certs []*x509.Certificate) (leaf, chain string) {
	t.Helper()
	leaf = writeFile(t, dir, name+".crt", pki.EncodeCerts(certs[0]))
	if len(certs) == 1 {
		return leaf, leaf
	}
	return leaf, writeFile(t, dir, name+"-chain.crt", pki.EncodeCerts(certs[1:]...))
}

func crossPhaseOf(t *testing.T, rot *spec.CARotation, ph phases.Phase, items []*yaml.RNode) crossPhase {
	t.Helper()
	out := crossPhase{phase: ph, files: t.TempDir()}
	for _, l := range testkit.Leaves(t, rot, items, true) {
		key := mustB64(t, testkit.Decrypt(t, l.Secret).GetDataMap()["tls.key"])
		certs, err := pki.ParseCerts(mustB64(t, l.Secret.GetDataMap()["tls.crt"]))
		if err != nil {
			t.Fatal(err)
		}
		switch l.Name {
		case "web":
			out.served = certs
			out.server = handshake.Server{Name: string(ph) + " web", Cert: l.Pair, ServerDNS: "web.apps.svc", ClientCAs: certPool(l.CACerts)}
			cert, chain := chainFiles(t, out.files, "web", certs)
			out.webLeafFn = cert
			out.serverPeer = handshake.Peer{Name: "web.apps.svc", Cert: cert, Chain: chain,
				Key: writeFile(t, out.files, "web.key", key), Anchors: writeFile(t, out.files, "web-ca.crt", pki.EncodeCerts(l.CACerts...))}
		case "api-client":
			out.clientPair = l.Pair
			out.clientCert, out.clientChain = chainFiles(t, out.files, "client", certs)
			out.clientKey = writeFile(t, out.files, "client.key", key)
		}
	}
	seen := map[string]bool{}
	for i, obj := range testkit.TrustObjects(t, rot, items) {
		var fps []string
		for _, c := range obj.Certs {
			fps = append(fps, pki.Fingerprint(c))
		}
		slices.Sort(fps)
		if id := strings.Join(fps, ","); !seen[id] {
			seen[id] = true
			out.trusted = append(out.trusted, obj.Certs)
			pair := out.clientPair
			out.clients = append(out.clients, handshake.Client{Name: string(ph) + " client trusting " + obj.Where, Roots: obj.Pool, Cert: &pair})
			out.clientPeers = append(out.clientPeers, handshake.Peer{Cert: out.clientCert, Chain: out.clientChain, Key: out.clientKey,
				Anchors: writeFile(t, out.files, fmt.Sprintf("trust-%d.crt", i), pki.EncodeCerts(obj.Certs...))})
		}
	}
	if out.server.ServerDNS == "" || len(out.clients) == 0 {
		t.Fatalf("%s: no server or no client rendered", ph)
	}
	return out
}

// outsideClient is a client that trusts only the old CA certificate and is
// never updated. With Go it presents no certificate (the server asks for
// none: what is tried is whether it accepts the server). openssl's server
// always asks for one, so there it presents the phase's own client leaf,
// which the phase's server accepts, and the client's verdict on the
// server is again what decides.
func outsideClient(t *testing.T, old *x509.Certificate, servers crossPhase, anchors string) (handshake.Server, handshake.Client, handshake.Peer) {
	t.Helper()
	srv := servers.server
	srv.ClientCAs = nil
	return srv, handshake.Client{Name: "outside client trusting only the old CA", Roots: certPool([]*x509.Certificate{old})},
		handshake.Peer{Cert: servers.clientCert, Chain: servers.clientChain, Key: servers.clientKey, Anchors: anchors}
}

// TestCrossSignWalkHandshakesWhereTheModelSaysAndOutsideClientsOnTheOldTrustUntilCleanup
// walks a cross-signed rotation with the real binary: init, start --scope
// cross-sign, advance through every phase, each rendered by the real
// kustomize and function. Clients of every phase against servers of every
// phase (mutual TLS, Go and openssl) complete the handshake exactly where
// phases.Handshakes says: every adjacent pair, both ways. A client that
// trusts only the old CA accepts every server up to distrust-old and not
// at cleanup, as phases.StayOnOld says; without the cross-certificate in a
// sign-new server's chain it does not, and neither does a steady client.
func TestCrossSignWalkHandshakesWhereTheModelSaysAndOutsideClientsOnTheOldTrustUntilCleanup(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "carousel.yaml"), []byte(crossRotation), 0o644); err != nil {
		t.Fatal(err)
	}
	testkit.Cmd{Dir: dir, AgeKey: true}.Must(t, "init", "carousel.yaml", "--age", demoRecipient)
	editRotationFile(t, dir, "validity: 720h", "validity: 8760h")
	oldFile, _ := os.ReadFile(filepath.Join(dir, "material", "ca-old.yaml"))
	_, oldCA := readPair(t, dir, "ca-old.yaml")
	old := oldCA.Cert()

	now := time.Now().UTC().Truncate(time.Second)
	cmd := testkit.Cmd{Dir: dir, AgeKey: true, Env: []string{"CAROUSEL_NOW=" + now.Format(time.RFC3339)}}
	cmd.Must(t, "start", "carousel.yaml", "--scope", "cross-sign", "--age", demoRecipient)
	_, newCA := readPair(t, dir, "ca-new.yaml")
	crossNode, crossPair := readPair(t, dir, "cross-new.yaml")
	nw, cross := newCA.Cert(), crossPair.Cert()

	t.Run("the cross-certificate is the new CA's subject and key, signed by the old CA, not beyond it, and holds no key", func(t *testing.T) {
		switch {
		case !bytes.Equal(cross.RawSubject, nw.RawSubject):
			t.Error("its subject is not the new CA's")
		case !bytes.Equal(cross.RawSubjectPublicKeyInfo, nw.RawSubjectPublicKeyInfo):
			t.Error("its public key is not the new CA's")
		case !bytes.Equal(cross.SubjectKeyId, nw.SubjectKeyId):
			t.Error("its subject key identifier is not the new CA's")
		case !bytes.Equal(cross.RawIssuer, old.RawSubject) || !bytes.Equal(cross.AuthorityKeyId, old.SubjectKeyId):
			t.Error("its issuer or authority key identifier is not the old CA's")
		case !cross.IsCA || !cross.BasicConstraintsValid:
			t.Error("it is not a CA")
		case cross.NotAfter.After(old.NotAfter):
			t.Errorf("it is valid until %s, beyond the old CA (%s)", cross.NotAfter, old.NotAfter)
		case !nw.NotAfter.After(old.NotAfter):
			t.Error("the new CA does not outlive the old one: the NotAfter bound proves nothing")
		}
		if err := cross.CheckSignatureFrom(old); err != nil {
			t.Errorf("not signed by the old CA: %v", err)
		}
		if err := cross.CheckSignatureFrom(nw); err == nil {
			t.Error("signed by the new CA")
		}
		if crossPair.HasKey() || crossNode.Field("data") != nil || crossNode.Field("sops") != nil {
			t.Error("the cross-certificate's KeyPair holds a key")
		}
		if got, _ := os.ReadFile(filepath.Join(dir, "material", "ca-old.yaml")); !bytes.Equal(got, oldFile) {
			t.Error("start changed the current CA's KeyPair")
		}
		// openssl agrees: a leaf of the new CA verifies under the old CA
		// through the cross-certificate, and not without it.
		_, leaf := readPair(t, dir, "leaf-web-new.yaml")
		work := t.TempDir()
		anchors, untrusted, leafFile := writeFile(t, work, "old.crt", pki.EncodeCerts(old)), writeFile(t, work, "cross.crt", pki.EncodeCerts(cross)), writeFile(t, work, "leaf.crt", pki.EncodeCerts(leaf.Cert()))
		if out, err := opensslOut("verify", "-CAfile", anchors, "-untrusted", untrusted, leafFile); err != nil {
			t.Errorf("openssl verify through the cross-certificate: %v: %s", err, out)
		}
		if _, err := opensslOut("verify", "-CAfile", anchors, leafFile); err == nil {
			t.Error("openssl verifies the new CA's leaf under the old CA without the cross-certificate")
		}
	})

	at := now.Add(time.Hour)
	seq, rots, rendered := walkScope(t, cmd, dir, phases.ScopeCrossSign, at)
	walk := map[phases.Phase]crossPhase{}
	for i, ph := range seq {
		walk[ph] = crossPhaseOf(t, rots[i], ph, rendered[i])
	}

	t.Run("leaves carry the cross-certificate after them exactly where the model says, and trust moves old, old, both, new, new", func(t *testing.T) {
		fp := pki.Fingerprint
		wantTrust := map[phases.Phase][]string{
			phases.Steady: {fp(old)}, phases.SignNew: {fp(old)}, phases.TrustNew: {fp(old), fp(nw)},
			phases.DistrustOld: {fp(nw)}, phases.Cleanup: {fp(nw)},
		}
		for _, ph := range seq {
			st, _ := phases.Lookup(phases.ScopeCrossSign, ph)
			w := walk[ph]
			var got []string
			for _, c := range w.served {
				got = append(got, fp(c))
			}
			want := []string{fp(w.served[0])}
			if st.Cross {
				want = append(want, fp(cross))
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s serves %d certificates %v, want the leaf then the cross-certificate: %v", ph, len(got), got, st.Cross)
			}
			signer := old
			if st.Signer == phases.New {
				signer = nw
			}
			if err := w.served[0].CheckSignatureFrom(signer); err != nil {
				t.Errorf("%s: the leaf is not the %s CA's: %v", ph, st.Signer, err)
			}
			wt := slices.Clone(wantTrust[ph])
			slices.Sort(wt)
			for _, set := range w.trusted {
				var g []string
				for _, c := range set {
					g = append(g, fp(c))
				}
				slices.Sort(g)
				if !slices.Equal(g, wt) {
					t.Errorf("%s trusts %v, want %v", ph, g, wt)
				}
			}
		}
	})

	t.Run("clients of every phase against servers of every phase handshake exactly where phases.Handshakes says, with Go and openssl", func(t *testing.T) {
		fails := 0
		for i, a := range seq {
			for j, b := range seq {
				want, err := phases.Handshakes(phases.ScopeCrossSign, a, b)
				if err != nil {
					t.Fatal(err)
				}
				if d := i - j; d >= -1 && d <= 1 && !want {
					t.Errorf("the model says adjacent phases %s and %s do not handshake", a, b)
				}
				if !want {
					fails++
				}
				clients, servers := walk[a], walk[b]
				for k, c := range clients.clients {
					gerr := handshake.Handshake(servers.server, c, at)
					if (gerr == nil) != want {
						t.Errorf("Go: %s against the %s server: %v, the model says %v", c.Name, b, gerr, want)
					}
					oerr := handshake.OpenSSL(servers.serverPeer, clients.clientPeers[k], at)
					if (oerr == nil) != want {
						t.Errorf("openssl: %s against the %s server: %v, the model says %v", c.Name, b, oerr, want)
					}
				}
			}
		}
		if fails == 0 {
			t.Fatal("the model says every pair handshakes: the matrix cannot fail")
		}
	})

	oldAnchors := writeFile(t, t.TempDir(), "old-only.crt", pki.EncodeCerts(old))
	stay, err := phases.StayOnOld(phases.ScopeCrossSign)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("a client outside that trusts only the old CA accepts every server up to distrust-old and none at cleanup", func(t *testing.T) {
		if stay.AcceptsUntil != phases.DistrustOld || stay.Breaks != phases.Cleanup {
			t.Fatalf("the model says until %s, breaking at %s", stay.AcceptsUntil, stay.Breaks)
		}
		until, _ := phases.Index(phases.ScopeCrossSign, stay.AcceptsUntil)
		for i, ph := range seq {
			want := i <= until
			srv, cl, peer := outsideClient(t, old, walk[ph], oldAnchors)
			if err := handshake.Handshake(srv, cl, at); (err == nil) != want {
				t.Errorf("Go: the outside client against the %s server: %v, want accepted %v", ph, err, want)
			}
			if err := handshake.OpenSSL(walk[ph].serverPeer, peer, at); (err == nil) != want {
				t.Errorf("openssl: the outside client against the %s server: %v, want accepted %v", ph, err, want)
			}
		}
	})

	t.Run("without the cross-certificate in its chain a sign-new server is refused by the outside client and by steady's", func(t *testing.T) {
		w := walk[phases.SignNew]
		bare := w.server
		bare.Cert.Certificate = bare.Cert.Certificate[:1]
		bare.ClientCAs = nil
		_, cl, _ := outsideClient(t, old, w, oldAnchors)
		if err := handshake.Handshake(w.server, walk[phases.Steady].clients[0], at); err != nil {
			t.Fatalf("with the cross-certificate, steady's client refuses the sign-new server: %v", err)
		}
		if err := handshake.Handshake(bare, cl, at); err == nil {
			t.Error("Go: the outside client accepts a sign-new leaf without the cross-certificate: the walk above proves nothing")
		}
		bareMutual := w.server
		bareMutual.Cert.Certificate = bareMutual.Cert.Certificate[:1]
		if err := handshake.Handshake(bareMutual, walk[phases.Steady].clients[0], at); err == nil {
			t.Error("Go: steady's client accepts a sign-new leaf without the cross-certificate")
		}
		peer := w.serverPeer
		peer.Chain = w.webLeafFn // the leaf alone
		_, _, outside := outsideClient(t, old, w, oldAnchors)
		if err := handshake.OpenSSL(peer, outside, at); err == nil {
			t.Error("openssl: the outside client accepts a sign-new leaf without the cross-certificate")
		}
		if err := handshake.OpenSSL(peer, walk[phases.Steady].clientPeers[0], at); err == nil {
			t.Error("openssl: steady's client accepts a sign-new leaf without the cross-certificate")
		}
	})

	t.Run("plan names how long clients on the old trust keep working", func(t *testing.T) {
		r := testkit.Cmd{Dir: dir, AgeKey: true, Env: []string{"CAROUSEL_NOW=" + at.Format(time.RFC3339)}}.Must(t, "plan", "carousel.yaml")
		day := cross.NotAfter.UTC().Format("2006-01-02")
		for _, s := range []string{"trust only the old CA", "accept every server up to distrust-old", "cleanup", day} {
			if !strings.Contains(r.Out, s) {
				t.Errorf("plan does not say %q:\n%s", s, r.Out)
			}
		}
	})

	t.Run("no plaintext private key is in a written file or the rendered output", func(t *testing.T) {
		noPlaintextKeys(t, dir, seq, rendered)
	})
}

// TestCrossSignRefusesWhatItCannotCrossSignAndWritesNothing runs the real
// start --scope cross-sign where it cannot work: a CA held externally (no
// key to sign the cross-certificate with), a rotation in flight, an old CA
// whose path length leaves no room for the cross-certificate. Each exits
// non-zero, says why, and leaves the package byte for byte as it was.
func TestCrossSignRefusesWhatItCannotCrossSignAndWritesNothing(t *testing.T) {
	keyless := strings.Replace(crossRotation, "    secret: {name: crossed-ca, namespace: pki}\n", "", 1)
	tests := []struct {
		name  string
		setup func(t *testing.T) string
		says  []string
	}{
		{"a CA held externally has no key to cross-sign with", func(t *testing.T) string {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "carousel.yaml"), []byte(keyless), 0o644); err != nil {
				t.Fatal(err)
			}
			flags := opensslIntermediate(t)
			testkit.Cmd{Dir: dir, AgeKey: true}.Must(t, "init", "carousel.yaml", "--age", demoRecipient, flags[0], flags[1])
			return dir
		}, []string{`the current CA "cluster intermediate" is held externally`, "cannot cross-sign", "scope ca"}},
		{"a rotation in flight is refused", func(t *testing.T) string {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "carousel.yaml"), []byte(crossRotation), 0o644); err != nil {
				t.Fatal(err)
			}
			c := testkit.Cmd{Dir: dir, AgeKey: true}
			c.Must(t, "init", "carousel.yaml", "--age", demoRecipient)
			c.Must(t, "start", "carousel.yaml", "--scope", "cross-sign", "--age", demoRecipient)
			c.Must(t, "advance", "carousel.yaml", "--no-cluster")
			return dir
		}, []string{"a rotation is in flight (phase sign-new)"}},
		{"an old CA of path length 0 cannot have a CA below it", func(t *testing.T) string {
			dir := t.TempDir()
			rot := strings.Replace(crossRotation, "    validity: 720h\n", "    validity: 720h\n    pathLength: 0\n", 1)
			if err := os.WriteFile(filepath.Join(dir, "carousel.yaml"), []byte(rot), 0o644); err != nil {
				t.Fatal(err)
			}
			testkit.Cmd{Dir: dir, AgeKey: true}.Must(t, "init", "carousel.yaml", "--age", demoRecipient)
			return dir
		}, []string{"has path length 0", "rotate with scope ca"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.setup(t)
			before := snapshotDir(t, dir)
			r := testkit.Cmd{Dir: dir, AgeKey: true}.Run(t, "start", "carousel.yaml", "--scope", "cross-sign", "--age", demoRecipient)
			if r.Code == 0 {
				t.Fatalf("start --scope cross-sign must be refused:\n%s", r.Out)
			}
			for _, s := range tt.says {
				if !strings.Contains(r.Out, s) {
					t.Errorf("the refusal does not say %q:\n%s", s, r.Out)
				}
			}
			if after := snapshotDir(t, dir); !maps.Equal(before, after) {
				t.Error("the refused start changed the package")
			}
		})
	}
}

// opensslOut runs openssl and returns what it printed.
func opensslOut(args ...string) ([]byte, error) {
	return exec.Command("openssl", args...).CombinedOutput()
}
