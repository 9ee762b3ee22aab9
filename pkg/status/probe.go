package status

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// ProbeStatus dials a TLS endpoint and checks the leaf it serves: chained to
// the phase's signer, and the phase's certificate for that leaf. A server
// still presenting an older leaf is progressing (it has not reloaded or
// rolled); one presenting a certificate of another CA is blocked. With a
// cross-certificate (scope cross-sign, cross non-nil) the rest of the chain
// counts too: a server that serves the phase's leaf but not the
// cross-certificate where the phase serves it (crossServed), or still
// serves it where the phase no longer does, has not reloaded or rolled.
func ProbeStatus(ctx context.Context, p spec.Probe, signer, leaf, cross *x509.Certificate, crossServed bool, known map[string]string) ObjectStatus {
	st := ObjectStatus{Kind: "Probe", Name: p.Address, State: Converged}
	name := p.ServerName
	if name == "" {
		name, _, _ = net.SplitHostPort(p.Address)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// Verification is carousel's own below: it must tell an old leaf from
	// a foreign one, which a handshake failure would not.
	d := tls.Dialer{Config: &tls.Config{ServerName: name, InsecureSkipVerify: true}} //nolint:gosec
	conn, err := d.DialContext(ctx, "tcp", p.Address)
	if err != nil {
		st.State, st.Detail = Progressing, fmt.Sprintf("cannot reach it: %v", err)
		return st
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		st.State, st.Detail = Blocked, "the server presented no certificate"
		return st
	}
	served := certs[0]
	fp := pki.Fingerprint(served)
	switch {
	case fp == pki.Fingerprint(leaf):
		if err := pki.CheckSignedBy(served, signer); err != nil {
			st.State, st.Detail = Blocked, err.Error()
		} else if cross != nil {
			st.State, st.Detail = crossServedStatus(certs[1:], cross, crossServed)
		}
	case known[fp] == p.Leaf:
		st.State, st.Detail = Progressing, fmt.Sprintf("serves another generation of leaf %q (sha256 %s): it has not reloaded or rolled yet", p.Leaf, fp[:16])
	case known[fp] != "":
		st.State, st.Detail = Blocked, fmt.Sprintf("serves leaf %q, not %q: check spec.probes", known[fp], p.Leaf)
	default:
		st.State, st.Detail = Blocked, fmt.Sprintf("serves a certificate that is not this rotation's (sha256 %s, issuer %q)", fp[:16], served.Issuer.CommonName)
	}
	return st
}

// crossServedStatus compares the certificates a server sends after its leaf
// with what the phase serves there: the cross-certificate or not.
func crossServedStatus(chain []*x509.Certificate, cross *x509.Certificate, want bool) (Verdict, string) {
	has := slices.ContainsFunc(chain, func(c *x509.Certificate) bool { return pki.Fingerprint(c) == pki.Fingerprint(cross) })
	switch {
	case want && !has:
		return Progressing, "serves the phase's leaf without the cross-certificate after it (clients that trust only the old CA refuse it): it has not reloaded or rolled yet"
	case !want && has:
		return Progressing, "still serves the cross-certificate after its leaf, which this phase no longer serves: it has not reloaded or rolled yet"
	}
	return Converged, ""
}
