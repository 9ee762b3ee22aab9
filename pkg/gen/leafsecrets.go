package gen

import (
	"crypto/x509"
	"fmt"

	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// renderLeafSecrets renders every leaf of the generation the phase serves.
// A consumer of a leaf Secret sees the leaf and, unless the Secret leaves
// its CA key out, the trusted set.
func (r *renderer) renderLeafSecrets() part {
	var p part
	for i, l := range r.rot.Spec.Leaves {
		k, ok := r.set.Leaves[l.Name][r.state.Leaves]
		if !ok {
			continue // only at recover's steady (missingAtRecovery)
		}
		t := l.Secret
		if k.KeyField != t.Keys.Key {
			r.errorAt(k.Source, "data", fmt.Errorf("leaf %q's key is stored under %q but spec.leaves[%d].secret.keys.key is %q: the key must be made for the Secret it goes into", l.Name, k.KeyField, i, t.Keys.Key))
			continue
		}
		s := r.labelled(newSecret(t.Name, t.Namespace, t.Type))
		certs := k.Certs
		if r.rot.Spec.CA.TrustsRoots() && len(certs) == 1 {
			// Peers trust the root (spec.ca.trust: root): the leaf is
			// served with the intermediate that signed it.
			certs = []*x509.Certificate{k.Cert(), r.set.CA[r.signerOf(r.state.Leaves)].Cert()}
		}
		cross := r.crossCert()
		if cross != nil {
			// Cross-signed (State.Cross): the new CA's certificate
			// under the old CA follows the leaf, so clients that
			// trust only the old CA accept it.
			certs = append(certs[:len(certs):len(certs)], cross)
		}
		setData(s, t.Keys.Cert, b64(pki.EncodeCerts(certs...)))
		setData(s, t.Keys.Key, k.KeyValue)
		lines := []string{pki.Fingerprint(k.Cert())}
		if cross != nil {
			// Holders roll when the cross-certificate joins or leaves
			// what they serve (sign-new, cleanup).
			lines = append(lines, "cross "+pki.Fingerprint(cross))
		}
		if t.Keys.CA != spec.OmitKey {
			setData(s, t.Keys.CA, b64(r.trust.pem))
			lines = append(lines, r.trust.digest)
		}
		if t.Keys.Chain != "" {
			signer := r.set.CA[r.chainCA()].Cert()
			if cross != nil {
				signer = cross // the signer's certificate under the old CA
			}
			setData(s, t.Keys.Chain, b64(pki.EncodeCerts(k.Cert(), signer)))
		}
		withSops(s, k)
		r.emit(&p, s, spec.LeafPrefix+l.Name, hashLines(lines...))
	}
	return p
}

// chainCA is the CA generation served after a leaf in its chain: the one
// that signed it, or in a renewal in place the certificate the phase signs
// with (the renewed one from trust-new on: the leaf verifies under it,
// since it is the same key).
func (r *renderer) chainCA() phases.Generation {
	if r.rot.Spec.Scope == phases.ScopeRenew {
		return r.state.Signer
	}
	return r.signerOf(r.state.Leaves)
}
