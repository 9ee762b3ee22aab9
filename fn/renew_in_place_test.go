package fn

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
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
	mat "github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/rotate"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// renewalRotation is a CA near its end (48h) with a server and a client
// leaf: mutual TLS, so both directions of every pair are tried.
const renewalRotation = `apiVersion: carousel.dev/v1alpha1
kind: CARotation
metadata:
  name: renewal
spec:
  phase: steady
  ca:
    commonName: renewal root
    validity: 48h
    secret: {name: renewal-ca, namespace: pki}
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

// renewalPackage is a package whose CA was recorded by the real `init`
// (keys SOPS-encrypted to the demo recipient), then given a longer
// spec.ca.validity: the life a renewal gives.
func renewalPackage(t *testing.T, rotation string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "carousel.yaml"), []byte(rotation), 0o644); err != nil {
		t.Fatal(err)
	}
	testkit.Cmd{Dir: dir, AgeKey: true}.Must(t, "init", "carousel.yaml", "--age", demoRecipient)
	editRotationFile(t, dir, "validity: 48h", "validity: 8760h")
	return dir
}

func editRotationFile(t *testing.T, dir, from, to string) {
	t.Helper()
	f := filepath.Join(dir, "carousel.yaml")
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(from)) {
		t.Fatalf("carousel.yaml has no %q", from)
	}
	if err := os.WriteFile(f, bytes.Replace(b, []byte(from), []byte(to), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}

// renderPackage renders the package as it is with the real kustomize and
// the real function (a copy, whose exec path names bin/carousel).
func renderPackage(t *testing.T, dir string, now time.Time) []*yaml.RNode {
	t.Helper()
	tmp := t.TempDir()
	if err := os.CopyFS(tmp, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	testkit.SetPhase(t, tmp, "")
	return testkit.Parse(t, testkit.KustomizeDir(t, tmp, "CAROUSEL_NOW="+now.Format(time.RFC3339)))
}

// renewalPhase is what pods of one phase run: the server with the web
// leaf, clients with the api-client leaf and each distinct trusted set the
// phase renders; for openssl the same as PEM files.
type renewalPhase struct {
	phase   phases.Phase
	server  handshake.Server
	clients []handshake.Client
	// client leaf, for openssl
	serverPeer  handshake.Peer
	clientPeers []handshake.Peer
	trusted     [][]*x509.Certificate
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	f := filepath.Join(dir, name)
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func renewalPhaseOf(t *testing.T, rot *spec.CARotation, ph phases.Phase, items []*yaml.RNode) renewalPhase {
	t.Helper()
	out := renewalPhase{phase: ph}
	files := t.TempDir()
	signer := testkit.Find(items, "Secret", "pki", "renewal-ca")
	if signer == nil {
		t.Fatalf("%s: the CA Secret was not rendered", ph)
	}
	// Each side presents its phase's signing CA certificate after its
	// leaf, as a server configured with its issuer does.
	chain := writeFile(t, files, "chain.crt", mustB64(t, signer.GetDataMap()["tls.crt"]))
	var clientLeaf testkit.Leaf
	var clientKey []byte
	for _, l := range testkit.Leaves(t, rot, items, true) {
		key := mustB64(t, testkit.Decrypt(t, l.Secret).GetDataMap()["tls.key"])
		switch l.Name {
		case "web":
			out.server = handshake.Server{Name: string(ph) + " web", Cert: l.Pair, ServerDNS: "web.apps.svc", ClientCAs: certPool(l.CACerts)}
			out.serverPeer = handshake.Peer{Name: "web.apps.svc", Cert: writeFile(t, files, "web.crt", pki.EncodeCerts(l.Cert)), Chain: chain,
				Key: writeFile(t, files, "web.key", key), Anchors: writeFile(t, files, "web-ca.crt", pki.EncodeCerts(l.CACerts...))}
		case "api-client":
			clientLeaf, clientKey = l, key
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
			cert := clientLeaf.Pair
			out.clients = append(out.clients, handshake.Client{Name: string(ph) + " client trusting " + obj.Where, Roots: obj.Pool, Cert: &cert})
			out.clientPeers = append(out.clientPeers, handshake.Peer{Cert: writeFile(t, files, "client.crt", pki.EncodeCerts(clientLeaf.Cert)), Chain: chain,
				Key: writeFile(t, files, "client.key", clientKey), Anchors: writeFile(t, files, fmt.Sprintf("trust-%d.crt", i), pki.EncodeCerts(obj.Certs...))})
		}
	}
	if out.server.ServerDNS == "" || len(out.clients) == 0 {
		t.Fatalf("%s: no server or no client rendered", ph)
	}
	return out
}

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func certPool(certs []*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// uncappedLeaf is a server certificate the CA key signs with openssl,
// valid for 30 days, past the CA certificate's 48 hours: what a system
// issuing with the CA Secret's key serves. The key is decrypted with the
// demo identity into a temporary directory outside the package.
func uncappedLeaf(t *testing.T, caPair *yaml.RNode) *x509.Certificate {
	t.Helper()
	work := t.TempDir()
	plain := testkit.Decrypt(t, caPair)
	k, err := mat.Parse(plain)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := k.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, work, "ca.key", keyPEM)
	writeFile(t, work, "ca.crt", pki.EncodeCerts(k.Cert()))
	writeFile(t, work, "ext", []byte("subjectAltName=DNS:svc.apps.svc\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\nauthorityKeyIdentifier=keyid\n"))
	opensslIn(t, work, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "svc.key", "-out", "svc.csr", "-subj", "/CN=svc")
	opensslIn(t, work, "x509", "-req", "-in", "svc.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-set_serial", "7", "-days", "30", "-extfile", "ext", "-out", "svc.crt")
	b, _ := os.ReadFile(filepath.Join(work, "svc.crt"))
	c, err := pki.ParseCert(b)
	if err != nil {
		t.Fatal(err)
	}
	if !c.NotAfter.After(k.Cert().NotAfter) {
		t.Fatalf("the leaf expires %s, not after the CA certificate (%s): it proves nothing", c.NotAfter, k.Cert().NotAfter)
	}
	return c
}

// opensslVerify runs `openssl verify -attime` of leaf against the anchors.
func opensslVerify(t *testing.T, anchors []*x509.Certificate, leaf *x509.Certificate, at time.Time) error {
	t.Helper()
	work := t.TempDir()
	cmd := exec.Command("openssl", "verify", "-attime", fmt.Sprint(at.Unix()), "-CAfile", writeFile(t, work, "anchors.crt", pki.EncodeCerts(anchors...)), writeFile(t, work, "leaf.crt", pki.EncodeCerts(leaf)))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

func goVerify(anchors []*x509.Certificate, leaf *x509.Certificate, at time.Time) error {
	_, err := leaf.Verify(x509.VerifyOptions{Roots: certPool(anchors), CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err
}

func readPair(t *testing.T, dir, name string) (*yaml.RNode, mat.KeyPair) {
	t.Helper()
	n, err := yaml.ReadFile(filepath.Join(dir, "material", name))
	if err != nil {
		t.Fatal(err)
	}
	k, err := mat.Parse(n)
	if err != nil {
		t.Fatal(err)
	}
	return n, k
}

// TestRenewInPlaceWalkHandshakesAndLeavesVerifyUnderTheRenewedCertificate
// walks a renewal in place with the real binary: init, start --scope
// renew, advance through every phase, each rendered by the real
// kustomize and function. At every adjacent pair, both ways, clients of
// one phase complete mutual TLS with servers of the other, with Go and
// with openssl. Leaves issued before the renewal verify under the renewed
// certificate alone, also after the old certificate expired, and not
// under the old one then. The renewed certificate is the old key's, and
// no plaintext key is written or rendered.
func TestRenewInPlaceWalkHandshakesAndLeavesVerifyUnderTheRenewedCertificate(t *testing.T) {
	dir := renewalPackage(t, renewalRotation)
	oldNode, oldCA := readPair(t, dir, "ca-old.yaml")
	oldFile, _ := os.ReadFile(filepath.Join(dir, "material", "ca-old.yaml"))
	// Issued before the renewal, with the old key.
	early := uncappedLeaf(t, oldNode)
	packageLeaves := map[string]*x509.Certificate{}
	for _, name := range []string{"web", "api-client"} {
		_, k := readPair(t, dir, "leaf-"+name+"-old.yaml")
		packageLeaves[name] = k.Cert()
	}

	now := time.Now().UTC().Truncate(time.Second)
	cmd := testkit.Cmd{Dir: dir, AgeKey: true, Env: []string{"CAROUSEL_NOW=" + now.Format(time.RFC3339)}}
	cmd.Must(t, "start", "carousel.yaml", "--scope", "renew")
	newNode, newCA := readPair(t, dir, "ca-new.yaml")
	old, renewed := oldCA.Cert(), newCA.Cert()

	t.Run("the renewed certificate is the old key's under the old name, with a new serial and a longer life", func(t *testing.T) {
		switch {
		case !bytes.Equal(old.RawSubject, renewed.RawSubject):
			t.Error("the subject changed")
		case !bytes.Equal(old.RawSubjectPublicKeyInfo, renewed.RawSubjectPublicKeyInfo):
			t.Error("the public key changed")
		case !bytes.Equal(old.SubjectKeyId, renewed.SubjectKeyId):
			t.Error("the subject key identifier changed")
		case old.SerialNumber.Cmp(renewed.SerialNumber) == 0:
			t.Error("the serial number is the old one")
		case !renewed.NotBefore.Equal(now) || !renewed.NotAfter.Equal(now.Add(8760*time.Hour)):
			t.Errorf("valid %s to %s, want CAROUSEL_NOW %s plus spec.ca.validity", renewed.NotBefore, renewed.NotAfter, now)
		}
		if got, _ := os.ReadFile(filepath.Join(dir, "material", "ca-old.yaml")); !bytes.Equal(got, oldFile) {
			t.Error("start changed the current CA's KeyPair")
		}
		if newCA.KeyValue != oldCA.KeyValue || newNode.Field("sops").Value.MustString() != oldNode.Field("sops").Value.MustString() {
			t.Error("the renewed KeyPair's key is not the current one's ciphertext and sops metadata")
		}
		plainOld, plainNew := testkit.Decrypt(t, oldNode), testkit.Decrypt(t, newNode)
		ko, _ := mat.Parse(plainOld)
		kn, err := mat.Parse(plainNew)
		if err != nil {
			t.Fatal(err)
		}
		po, _ := ko.KeyPEM()
		pn, err := kn.KeyPEM()
		if err != nil || !bytes.Equal(po, pn) {
			t.Fatalf("the renewed KeyPair does not decrypt to the current key: %v", err)
		}
		key, err := pki.ParseKey(pn)
		if err != nil || !pki.KeyMatches(renewed, key) {
			t.Fatalf("the decrypted key does not match the renewed certificate: %v", err)
		}
		for _, name := range []string{"web", "api-client"} {
			_, k := readPair(t, dir, "leaf-"+name+"-new.yaml")
			if pki.Fingerprint(k.Cert()) != pki.Fingerprint(packageLeaves[name]) {
				t.Errorf("leaf %s was re-issued: a renewal in place carries every leaf forward", name)
			}
		}
	})

	// Advance through every phase with the real advance; render each.
	at := now.Add(time.Hour)
	seq, rots, rendered := walkScope(t, cmd, dir, phases.ScopeRenew, at)
	walk := map[phases.Phase]renewalPhase{}
	for i, ph := range seq {
		walk[ph] = renewalPhaseOf(t, rots[i], ph, rendered[i])
	}

	t.Run("the leaves never change and the trusted set moves old, both, renewed", func(t *testing.T) {
		want := [][]string{{pki.Fingerprint(old)}, {pki.Fingerprint(old), pki.Fingerprint(renewed)}, {pki.Fingerprint(renewed)}, {pki.Fingerprint(renewed)}}
		for i, ph := range seq {
			slices.Sort(want[i])
			for _, set := range walk[ph].trusted {
				var got []string
				for _, c := range set {
					got = append(got, pki.Fingerprint(c))
				}
				slices.Sort(got)
				if !slices.Equal(got, want[i]) {
					t.Errorf("%s trusts %v, want %v", ph, got, want[i])
				}
			}
			if fp := pki.Fingerprint(walk[ph].server.Cert.Leaf); fp != pki.Fingerprint(packageLeaves["web"]) {
				t.Errorf("%s serves another web leaf than the one issued before the renewal", ph)
			}
		}
	})

	t.Run("every adjacent pair handshakes both ways, with Go and with openssl", func(t *testing.T) {
		tried := 0
		for i := 0; i+1 < len(seq); i++ {
			for _, pair := range [][2]phases.Phase{{seq[i], seq[i+1]}, {seq[i+1], seq[i]}} {
				clients, servers := walk[pair[0]], walk[pair[1]]
				if ok, err := phases.Handshakes(phases.ScopeRenew, pair[0], pair[1]); err != nil || !ok {
					t.Errorf("the phase model says %s and %s do not handshake: %v", pair[0], pair[1], err)
				}
				for j, c := range clients.clients {
					tried++
					if err := handshake.Handshake(servers.server, c, at); err != nil {
						t.Errorf("Go: %s against the %s server: %v", c.Name, pair[1], err)
					}
					if err := handshake.OpenSSL(servers.serverPeer, clients.clientPeers[j], at); err != nil {
						t.Errorf("openssl: %s against the %s server: %v", c.Name, pair[1], err)
					}
				}
			}
		}
		if tried == 0 {
			t.Fatal("no pair was tried")
		}
	})

	t.Run("the handshakes can fail: a CA of the same name over another key is not the renewed one", func(t *testing.T) {
		impostor, err := pki.NewCA(pki.CARequest{CommonName: "renewal root", Validity: 8760 * time.Hour, Algorithm: "ecdsa-p256"})
		if err != nil {
			t.Fatal(err)
		}
		ic, _ := pki.ParseCert(impostor.CertPEM)
		for _, ph := range seq {
			w := walk[ph]
			c := w.clients[0]
			c.Roots = certPool([]*x509.Certificate{ic})
			if err := handshake.Handshake(w.server, c, at); err == nil {
				t.Errorf("Go: a client trusting only a same-named CA of another key accepts the %s server: the matrix above proves nothing", ph)
			}
			peer := w.clientPeers[0]
			peer.Anchors = writeFile(t, t.TempDir(), "impostor.crt", impostor.CertPEM)
			if err := handshake.OpenSSL(w.serverPeer, peer, at); err == nil {
				t.Errorf("openssl: a client trusting only a same-named CA of another key accepts the %s server", ph)
			}
		}
	})

	t.Run("leaves issued before the renewal verify under the renewed certificate alone, with Go and openssl", func(t *testing.T) {
		for name, leaf := range packageLeaves {
			if err := goVerify([]*x509.Certificate{renewed}, leaf, at); err != nil {
				t.Errorf("Go: leaf %s under the renewed certificate alone: %v", name, err)
			}
			if err := opensslVerify(t, []*x509.Certificate{renewed}, leaf, at); err != nil {
				t.Errorf("openssl: leaf %s under the renewed certificate alone: %v", name, err)
			}
		}
		// After the old certificate's expiry: the leaf the CA key issued
		// before the renewal (the package's own leaves never outlive the
		// CA certificate that was current when they were issued).
		after := old.NotAfter.Add(time.Hour)
		if err := goVerify([]*x509.Certificate{renewed}, early, after); err != nil {
			t.Errorf("Go, after the old certificate expired: %v", err)
		}
		if err := opensslVerify(t, []*x509.Certificate{renewed}, early, after); err != nil {
			t.Errorf("openssl, after the old certificate expired: %v", err)
		}
		if err := goVerify([]*x509.Certificate{old}, early, after); err == nil {
			t.Error("Go verifies the leaf under the expired old certificate: the test cannot tell")
		}
		if err := opensslVerify(t, []*x509.Certificate{old}, early, after); err == nil {
			t.Error("openssl verifies the leaf under the expired old certificate: the test cannot tell")
		}
	})

	t.Run("no plaintext private key is in a written file or the rendered output", func(t *testing.T) {
		noPlaintextKeys(t, dir, seq, rendered)
	})
}

// TestRenewInPlaceRefusesWhatItCannotRenewAndWritesNothing runs the real
// start --scope renew where a renewal in place is wrong: an intermediate
// CA, a key that is not (or is weaker than) spec.ca.key.algorithm, a
// rotation in flight. Each exits non-zero, says why and what to do, and
// leaves the package byte for byte as it was.
func TestRenewInPlaceRefusesWhatItCannotRenewAndWritesNothing(t *testing.T) {
	leafOnly := strings.Replace(renewalRotation, "    secret: {name: renewal-ca, namespace: pki}\n", "", 1)
	tests := []struct {
		name  string
		setup func(t *testing.T) string
		says  []string
	}{
		{"an intermediate CA is its parent's to renew", func(t *testing.T) string {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "carousel.yaml"), []byte(leafOnly), 0o644); err != nil {
				t.Fatal(err)
			}
			testkit.Cmd{Dir: dir, AgeKey: true}.Must(t, append([]string{"init", "carousel.yaml", "--age", demoRecipient}, opensslIntermediate(t)...)...)
			return dir
		}, []string{`the current CA "cluster intermediate" is an intermediate (issued by "shared root")`, "carousel csr", "carousel sign", "carousel import"}},
		{"a key other than spec.ca.key.algorithm is a key change", func(t *testing.T) string {
			dir := renewalPackage(t, renewalRotation)
			editRotationFile(t, dir, "commonName: renewal root\n", "commonName: renewal root\n    key: {algorithm: ed25519}\n")
			return dir
		}, []string{"has a ecdsa-p256 key, but spec.ca.key.algorithm is ed25519", "a key change is due instead", "--scope ca"}},
		{"a key weaker than spec.ca.key.algorithm is a key change", func(t *testing.T) string {
			dir := renewalPackage(t, strings.Replace(renewalRotation, "commonName: renewal root\n", "commonName: renewal root\n    key: {algorithm: rsa-2048}\n", 1))
			editRotationFile(t, dir, "algorithm: rsa-2048", "algorithm: rsa-3072")
			return dir
		}, []string{"has a rsa-2048 key, but spec.ca.key.algorithm is rsa-3072", "--scope ca"}},
		{"a rotation in flight is refused", func(t *testing.T) string {
			dir := renewalPackage(t, renewalRotation)
			c := testkit.Cmd{Dir: dir, AgeKey: true}
			c.Must(t, "start", "carousel.yaml", "--scope", "renew")
			c.Must(t, "advance", "carousel.yaml", "--no-cluster")
			return dir
		}, []string{"a rotation is in flight (phase trust-new)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.setup(t)
			before := snapshotDir(t, dir)
			r := testkit.Cmd{Dir: dir, AgeKey: true}.Run(t, "start", "carousel.yaml", "--scope", "renew")
			if r.Code == 0 {
				t.Fatalf("start --scope renew must be refused:\n%s", r.Out)
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

// TestRenewInPlaceFlagRenewsADueCAOverItsKeyOrSaysAKeyChangeIsDue: `renew
// --in-place` starts scope renew for a due CA whose key meets the policy,
// notes the due leaves it does not re-issue, and starts a CA rotation,
// saying why, when the key does not.
func TestRenewInPlaceFlagRenewsADueCAOverItsKeyOrSaysAKeyChangeIsDue(t *testing.T) {
	t.Run("a due CA whose key meets the policy is renewed in place", func(t *testing.T) {
		dir := renewalPackage(t, renewalRotation)
		_, oldCA := readPair(t, dir, "ca-old.yaml")
		r := testkit.Cmd{Dir: dir, AgeKey: true}.Must(t, "renew", "carousel.yaml", "--before", "720h", "--in-place")
		for _, s := range []string{"due: CA expires", "started a renew rotation", "note: leaf web is due too and a renewal in place re-issues no leaf"} {
			if !strings.Contains(r.Out, s) {
				t.Errorf("renew --in-place does not say %q:\n%s", s, r.Out)
			}
		}
		p, err := rotate.Load(filepath.Join(dir, "carousel.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		_, newCA := readPair(t, dir, "ca-new.yaml")
		if p.Rotation.Spec.Scope != phases.ScopeRenew || !bytes.Equal(newCA.Cert().RawSubjectPublicKeyInfo, oldCA.Cert().RawSubjectPublicKeyInfo) || newCA.KeyValue != oldCA.KeyValue {
			t.Fatalf("scope %s: the due CA was not renewed over its key", p.Rotation.Spec.Scope)
		}
	})
	t.Run("a due CA whose key does not meet the policy gets a CA rotation, and renew says why", func(t *testing.T) {
		dir := renewalPackage(t, renewalRotation)
		editRotationFile(t, dir, "commonName: renewal root\n", "commonName: renewal root\n    key: {algorithm: ecdsa-p384}\n")
		_, oldCA := readPair(t, dir, "ca-old.yaml")
		r := testkit.Cmd{Dir: dir, AgeKey: true}.Must(t, "renew", "carousel.yaml", "--before", "720h", "--in-place", "--age", demoRecipient)
		if !strings.Contains(r.Out, "not renewed in place: the current CA \"renewal root\" has a ecdsa-p256 key, but spec.ca.key.algorithm is ecdsa-p384") || !strings.Contains(r.Out, "started a ca rotation") {
			t.Fatalf("renew --in-place must say a key change is due and start a CA rotation:\n%s", r.Out)
		}
		_, newCA := readPair(t, dir, "ca-new.yaml")
		if bytes.Equal(newCA.Cert().RawSubjectPublicKeyInfo, oldCA.Cert().RawSubjectPublicKeyInfo) || pki.PublicKeyAlgorithm(newCA.Cert()) != "ecdsa-p384" {
			t.Fatal("the CA rotation did not make a new ecdsa-p384 key")
		}
	})
}

// noPlaintextKeys fails the test for a plaintext private key, PEM or
// base64 PEM, in any file of the package in dir or in any object rendered
// at each phase of seq.
func noPlaintextKeys(t *testing.T, dir string, seq []phases.Phase, rendered [][]*yaml.RNode) {
	t.Helper()
	plaintext := func(where, s string) {
		if strings.Contains(s, "PRIVATE KEY") {
			t.Errorf("%s holds a plaintext private key", where)
		}
		for _, f := range strings.Fields(s) {
			if b, err := base64.StdEncoding.DecodeString(strings.Trim(f, `"'`)); err == nil && bytes.Contains(b, []byte("PRIVATE KEY")) {
				t.Errorf("%s holds a base64 plaintext private key", where)
			}
		}
	}
	files := snapshotDir(t, dir)
	for _, f := range slices.Sorted(maps.Keys(files)) {
		plaintext(f, files[f])
	}
	for i, items := range rendered {
		for _, n := range items {
			plaintext(fmt.Sprintf("%s: %s %s/%s", seq[i], n.GetKind(), n.GetNamespace(), n.GetName()), n.MustString())
		}
	}
}

// walkScope advances the package in dir through every phase of scope with
// the real advance (the first phase is where it stands), and renders each
// with the real kustomize at the given time: the phases, the rotation at
// each, and what each renders.
func walkScope(t *testing.T, cmd testkit.Cmd, dir string, scope phases.Scope, at time.Time) ([]phases.Phase, []*spec.CARotation, [][]*yaml.RNode) {
	t.Helper()
	seq, _ := phases.Sequence(scope)
	var rots []*spec.CARotation
	var rendered [][]*yaml.RNode
	for i, ph := range seq {
		if i > 0 {
			cmd.Must(t, "advance", "carousel.yaml", "--no-cluster")
		}
		p, err := rotate.Load(filepath.Join(dir, "carousel.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if p.Rotation.Spec.Phase != ph || p.Rotation.Spec.Scope != scope {
			t.Fatalf("after %d advances: phase %s scope %s, want %s and %s", i, p.Rotation.Spec.Phase, p.Rotation.Spec.Scope, ph, scope)
		}
		rots = append(rots, p.Rotation)
		rendered = append(rendered, renderPackage(t, dir, at))
	}
	return seq, rots, rendered
}
