package handshake

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// phaseTLS is what pods of one phase run: servers with the phase's leaves,
// clients with the phase's trust objects (and client leaves).
type phaseTLS struct {
	servers []Server
	clients []Client
}

func pool(certs []*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

func buildPhase(t *testing.T, rot *spec.CARotation, pkg *testkit.Package, phase phases.Phase) phaseTLS {
	t.Helper()
	return phaseFrom(t, rot, pkg.Render(t, phase).Items, phase)
}

// phaseFrom is what pods of a phase run, from the phase's rendered items.
func phaseFrom(t *testing.T, rot *spec.CARotation, items []*yaml.RNode, phase phases.Phase) phaseTLS {
	t.Helper()
	leaves := testkit.Leaves(t, rot, items, true)
	var out phaseTLS
	var clientLeaves []testkit.Leaf
	for _, l := range leaves {
		if slices.Contains(l.Spec.Usages, "client") {
			clientLeaves = append(clientLeaves, l)
		}
	}
	for _, l := range leaves {
		if !slices.Contains(l.Spec.Usages, "server") {
			continue
		}
		cert, dns := served(t, l)
		s := Server{Name: "server " + l.Name, Cert: cert, ServerDNS: dns}
		if len(clientLeaves) > 0 {
			// Mutual TLS: the server verifies clients against its own ca.crt.
			s.ClientCAs = pool(l.CACerts)
		}
		out.servers = append(out.servers, s)
	}
	objs := testkit.TrustObjects(t, rot, items)
	if len(out.servers) == 0 && len(clientLeaves) > 0 {
		// A rotation of client certificates only (the front-proxy CA): the
		// servers that verify them, like an aggregated API server checking
		// front-proxy-client against its requestheader CA, present a
		// certificate from outside the rotation and verify clients against
		// the phase's trust objects.
		srv := outsideServer(t)
		for _, obj := range objs {
			out.servers = append(out.servers, Server{Name: "server verifying clients against " + obj.Where, Cert: srv.Cert, ServerDNS: srv.ServerDNS, ClientCAs: obj.Pool})
		}
		for _, cl := range clientLeaves {
			cert := cl.Pair
			out.clients = append(out.clients, Client{Name: "client " + cl.Name, Roots: srv.ClientCAs, Cert: &cert})
		}
		objs = nil
	}
	for _, obj := range objs {
		if len(clientLeaves) == 0 {
			out.clients = append(out.clients, Client{Name: "client trusting " + obj.Where, Roots: obj.Pool})
		}
		for _, cl := range clientLeaves {
			cert, _ := served(t, cl)
			out.clients = append(out.clients, Client{Name: fmt.Sprintf("client %s trusting %s", cl.Name, obj.Where), Roots: obj.Pool, Cert: &cert})
		}
	}
	if len(out.servers) == 0 || len(out.clients) == 0 {
		t.Fatalf("%s: no TLS servers or clients: the example needs a server leaf", phase)
	}
	return out
}

// served is the certificate a leaf's holder presents in TLS, and the DNS
// name clients ask for. A CA leaf (Istio's cacerts, Linkerd's identity
// issuer) never serves itself: its holder signs the proxies' certificates.
// So the harness issues one under it, as the mesh's CA would, valid at
// testkit.Now, with the leaf's usages, presented with the intermediate as
// its chain: what a proxy of that phase sends.
func served(t *testing.T, l testkit.Leaf) (tls.Certificate, string) {
	t.Helper()
	if !l.Spec.IsCA {
		if len(l.Cert.DNSNames) == 0 {
			return l.Pair, "" // a client-only leaf
		}
		return l.Pair, l.Cert.DNSNames[0]
	}
	dns := "workload." + l.Name + ".mesh.test"
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var eku []x509.ExtKeyUsage
	for _, u := range l.Spec.Usages {
		eku = append(eku, map[string]x509.ExtKeyUsage{"server": x509.ExtKeyUsageServerAuth, "client": x509.ExtKeyUsageClientAuth}[u])
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: dns},
		DNSNames:     []string{dns},
		NotBefore:    testkit.Now.Add(-time.Hour),
		NotAfter:     testkit.Now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  eku,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, l.Cert, &key.PublicKey, l.Pair.PrivateKey)
	if err != nil {
		t.Fatalf("issuing a workload certificate under CA leaf %s: %v", l.Name, err)
	}
	return tls.Certificate{Certificate: [][]byte{der, l.Cert.Raw}, PrivateKey: key}, dns
}

// mix runs every client of one phase against every server of another and
// returns the failures.
func mix(servers phaseTLS, clients phaseTLS) (tried int, failures []string) {
	for _, s := range servers.servers {
		for _, c := range clients.clients {
			tried++
			if err := Handshake(s, c, testkit.Now); err != nil {
				failures = append(failures, fmt.Sprintf("%s x %s: %v", s.Name, c.Name, err))
			}
		}
	}
	return tried, failures
}

// modelCompatible says whether the phase model predicts every mix of two
// phases handshakes: each side's clients trust the other side's signer.
func modelCompatible(scope phases.Scope, a, b phases.Phase) bool {
	sa, _ := phases.Lookup(scope, a)
	sb, _ := phases.Lookup(scope, b)
	return sa.Trusts(sb.Signer) && sb.Trusts(sa.Signer)
}

// issuesItsOwnLeaves names the examples whose system issues every TLS leaf
// itself from the CA Secret carousel renders, so carousel renders no leaf
// to handshake with; each is proven by the system's own code instead.
var issuesItsOwnLeaves = map[string]string{
	"osm-mrc": "OSM issues the proxies' certificates from the CA Secrets of the active MeshRootCertificates and trusts the active and passive ones; pkg/phases (TestEveryActiveGenerationIsTrustedOnBothSidesOfAMove) and examples/osm_mrc_test.go hold the roles to that",
	"osm":     "OSM's Tresor issues the proxies' certificates from osm-ca-bundle, whose ca.crt is the signer alone: a cut-over, not an overlap (examples/osm/README.md); examples/osm_test.go runs OSM's code on every phase",
}

// TestNoHandshakeFailsWhilePhasesRunSideBySide is the zero-downtime proof:
// for every example and every adjacent pair of phases, forward and back,
// every client of either phase handshakes with every server of either
// phase. For every non-adjacent pair the harness must see the break the
// model predicts, so a green run means it could have gone red.
func TestNoHandshakeFailsWhilePhasesRunSideBySide(t *testing.T) {
	for _, dir := range testkit.Examples(t) {
		pkg := testkit.Load(t, dir)
		rot := pkg.Rotation(t)
		if why, ok := issuesItsOwnLeaves[filepath.Base(dir)]; ok {
			// Held to it: the exclusion must not hide leaves carousel renders.
			if len(rot.Spec.Leaves) > 0 {
				t.Fatalf("%s is excluded (%s) but renders leaves: test them", dir, why)
			}
			continue
		}
		seq := pkg.Phases(t)
		built := map[phases.Phase]phaseTLS{}
		for _, p := range seq {
			built[p] = buildPhase(t, rot, pkg, p)
		}
		checkMatrix(t, filepath.Base(dir), rot.Spec.Scope, seq, built)
	}
}

// checkMatrix handshakes every pair of phases of seq: adjacent pairs must
// all succeed, and every other pair must break exactly where the phase
// model says.
func checkMatrix(t *testing.T, name string, scope phases.Scope, seq []phases.Phase, built map[phases.Phase]phaseTLS) {
	t.Helper()
	for i, a := range seq {
		for j, b := range seq {
			if i == j {
				continue
			}
			adjacent := j == i+1 || j == i-1
			direction := "forward"
			if j < i {
				direction = "rollback"
			}
			t.Run(fmt.Sprintf("%s/%s %s->%s", name, direction, a, b), func(t *testing.T) {
				var all []string
				total := 0
				// Old and new pods side by side: every server of either
				// phase, every client of either phase.
				for _, sp := range []phases.Phase{a, b} {
					for _, cp := range []phases.Phase{a, b} {
						n, f := mix(built[sp], built[cp])
						total += n
						for _, msg := range f {
							all = append(all, fmt.Sprintf("servers of %s, clients of %s: %s", sp, cp, msg))
						}
					}
				}
				switch {
				case adjacent && len(all) > 0:
					t.Fatalf("%d of %d handshakes failed between adjacent phases:\n%s", len(all), total, all[0])
				case !adjacent && !modelCompatible(scope, a, b) && len(all) == 0:
					t.Fatalf("all %d handshakes succeeded between %s and %s, which the model says break: the harness cannot see a break", total, a, b)
				case !adjacent && modelCompatible(scope, a, b) && len(all) > 0:
					t.Fatalf("the model says %s and %s interoperate (the skip is refused by the phase rule, not by TLS), but %d handshakes failed:\n%s", a, b, len(all), all[0])
				}
				if total == 0 {
					t.Fatal(ErrNoPairs)
				}
			})
		}
	}
}

// TestTheHarnessSeesABrokenTrust feeds a client a pool without the signer:
// the handshake must fail, or the matrix above proves nothing.
func TestTheHarnessSeesABrokenTrust(t *testing.T) {
	dir := filepath.Join(testkit.Root(t), "examples", "cluster-ca")
	pkg := testkit.Load(t, dir)
	rot := pkg.Rotation(t)
	steady := buildPhase(t, rot, pkg, phases.Steady)
	cleanup := buildPhase(t, rot, pkg, phases.Cleanup)
	if err := Handshake(steady.servers[0], steady.clients[0], testkit.Now); err != nil {
		t.Fatalf("a steady client must reach a steady server: %v", err)
	}
	if err := Handshake(steady.servers[0], cleanup.clients[0], testkit.Now); err == nil {
		t.Fatal("a client trusting only the new CA reached a server with an old leaf")
	}
	if err := Handshake(cleanup.servers[0], steady.clients[0], testkit.Now); err == nil {
		t.Fatal("a server trusting only the new CA accepted an old client certificate, or an old client accepted a new leaf")
	}
}

var outside struct {
	once sync.Once
	srv  Server
	err  error
}

// outsideServer is a serving certificate from a CA outside every rotation,
// valid at testkit.Now, the same for every phase; ClientCAs holds that CA
// (the roots its clients trust).
func outsideServer(t *testing.T) Server {
	t.Helper()
	outside.once.Do(func() { outside.srv, outside.err = makeOutsideServer() })
	if outside.err != nil {
		t.Fatal(outside.err)
	}
	return outside.srv
}

func makeOutsideServer() (Server, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Server{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "outside.test"}, DNSNames: []string{"outside.test"},
		NotBefore: testkit.Now.AddDate(-1, 0, 0), NotAfter: testkit.Now.AddDate(1, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return Server{}, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return Server{}, err
	}
	return Server{Cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, ServerDNS: "outside.test", ClientCAs: pool([]*x509.Certificate{cert})}, nil
}
