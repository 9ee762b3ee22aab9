package status

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// TestProbesCompareTheCrossCertificateServedAfterTheLeaf: in a
// cross-signed rotation a server presenting the phase's leaf has
// converged only when it also sends the cross-certificate where the phase
// serves it (sign-new to distrust-old), and no longer sends it where the
// phase does not (cleanup); the leaf is still told apart as before.
func TestProbesCompareTheCrossCertificateServedAfterTheLeaf(t *testing.T) {
	mk := func(cn string) pki.Pair {
		ca, err := pki.NewCA(pki.CARequest{CommonName: cn, Validity: 720 * time.Hour, Algorithm: "ecdsa-p256"})
		if err != nil {
			t.Fatal(err)
		}
		return ca
	}
	parse := func(b []byte) *x509.Certificate {
		c, err := pki.ParseCert(b)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	old, nw := mk("old"), mk("new")
	crossPEM, err := pki.CrossSign(pki.CrossRequest{Old: old, New: nw.CertPEM, NotBefore: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := pki.Issue(nw, pki.LeafRequest{CommonName: "web", DNSNames: []string{"web.apps.svc"}, Usages: []string{"server"}, Validity: time.Hour, Algorithm: "ecdsa-p256"})
	if err != nil {
		t.Fatal(err)
	}
	pair := func(chain ...[]byte) tls.Certificate {
		c, err := tls.X509KeyPair(append(append([]byte{}, leaf.CertPEM...), joinPEM(chain)...), leaf.KeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	withCross, bare := serve(t, pair(crossPEM)), serve(t, pair())
	lc, cross := parse(leaf.CertPEM), parse(crossPEM)
	known := map[string]string{pki.Fingerprint(lc): "web"}
	probe := func(addr string, served bool) ObjectStatus {
		return ProbeStatus(context.Background(), spec.Probe{Address: addr, ServerName: "web.apps.svc", Leaf: "web"}, parse(nw.CertPEM), lc, cross, served, known)
	}
	tests := []struct {
		name   string
		addr   string
		served bool
		state  Verdict
		detail string
	}{
		{"a sign-new server sending the cross-certificate has converged", withCross, true, Converged, ""},
		{"a sign-new server without it has not reloaded or rolled", bare, true, Progressing, "without the cross-certificate"},
		{"a cleanup server sending the leaf alone has converged", bare, false, Converged, ""},
		{"a cleanup server still sending the cross-certificate has not rolled", withCross, false, Progressing, "still serves the cross-certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := probe(tt.addr, tt.served)
			if got.State != tt.state || !strings.Contains(got.Detail, tt.detail) {
				t.Fatalf("got %s (%s), want %s (%s)", got.State, got.Detail, tt.state, tt.detail)
			}
		})
	}
}

func joinPEM(parts [][]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
