package certmanager

import (
	"crypto/x509"
	"path/filepath"
	"testing"

	"github.com/carousel-dev/carousel/internal/handshake"
	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/rotate"
)

// adoptCAs are CA Certificates as cert-manager users write them: its
// defaults (RSA 2048, PKCS#1) and ECDSA in PKCS#8.
const adoptCAs = `apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata:
  name: adopt-selfsigned
spec:
  selfSigned: {}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: adopt-rsa
  namespace: cert-manager
spec:
  isCA: true
  commonName: cert-manager rsa root
  secretName: adopt-rsa
  issuerRef: {group: cert-manager.io, kind: ClusterIssuer, name: adopt-selfsigned}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: adopt-ecdsa
  namespace: cert-manager
spec:
  isCA: true
  commonName: cert-manager ecdsa root
  secretName: adopt-ecdsa
  privateKey: {algorithm: ECDSA, size: 256, encoding: PKCS8}
  issuerRef: {group: cert-manager.io, kind: ClusterIssuer, name: adopt-selfsigned}
`

const adoptRotation = `apiVersion: carousel.dev/v1alpha1
kind: CARotation
metadata:
  name: adopted
spec:
  phase: steady
  ca:
    key: {algorithm: ecdsa-p256, encoding: sec1}
  leaves:
  - name: web
    secret: {name: web-tls, namespace: app}
    dnsNames: [web.app.svc]
    usages: [server]
  - name: client
    secret: {name: client-tls, namespace: app}
    usages: [client]
`

// TestACACertManagerMadeIsAdoptedAndRotated adopts the CAs the real
// cert-manager issued (its Secret's tls.crt and tls.key) with `carousel
// init --ca-cert --ca-key`, starts, renders every phase with the real
// kustomize, and handshakes (mutual TLS) within every phase and across
// every adjacent pair, both ways.
func TestACACertManagerMadeIsAdoptedAndRotated(t *testing.T) {
	c := Start(t)
	c.ApplyYAML(t, adoptCAs)
	for _, name := range []string{"adopt-rsa", "adopt-ecdsa"} {
		t.Run(name, func(t *testing.T) {
			c.WaitReady(t, "certificate", Namespace, name)
			data := c.SecretData(t, Namespace, name)
			ca := t.TempDir()
			testkit.ForeignCA{Cert: data["tls.crt"], Key: data["tls.key"]}.WriteTo(t, ca)
			dir := testkit.Adopt(t, adoptRotation, ca)
			p, err := rotate.Load(filepath.Join(dir, "carousel.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			set, err := p.Material()
			if err != nil {
				t.Fatal(err)
			}
			if key, _ := set.CA[phases.Old].KeyPEM(); string(key) != string(data["tls.key"]) {
				t.Errorf("the adopted key was rewritten:\n%s\ncert-manager wrote:\n%s", key, data["tls.key"])
			}
			seq, _ := phases.Sequence(phases.ScopeCA)
			leaves := map[phases.Phase]map[string]testkit.Leaf{}
			for _, ph := range seq {
				leaves[ph] = map[string]testkit.Leaf{}
				for _, l := range testkit.Leaves(t, p.Rotation, testkit.Parse(t, testkit.Kustomize(t, dir, ph)), true) {
					leaves[ph][l.Name] = l
				}
			}
			for i, a := range seq {
				for _, b := range seq[max(0, i-1):min(len(seq), i+2)] {
					srv, cli := leaves[a]["web"], leaves[b]["client"]
					s := handshake.Server{Name: "web", Cert: srv.Pair, ServerDNS: "web.app.svc", ClientCAs: poolOf(srv.CACerts)}
					cl := handshake.Client{Name: "client", Roots: poolOf(cli.CACerts), Cert: &cli.Pair}
					if err := handshake.Handshake(s, cl, testkit.Now); err != nil {
						t.Errorf("server of %s, client of %s: %v", a, b, err)
					}
				}
			}
			// The harness sees a break: steady's client against cleanup's server.
			s := handshake.Server{Cert: leaves[phases.Cleanup]["web"].Pair, ServerDNS: "web.app.svc"}
			if err := handshake.Handshake(s, handshake.Client{Roots: poolOf(leaves[phases.Steady]["client"].CACerts)}, testkit.Now); err == nil {
				t.Error("a client trusting only the adopted CA reached a server of the CA carousel made")
			}
		})
	}
}

func poolOf(certs []*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}
