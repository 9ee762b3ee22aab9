package gen

import (
	"crypto/x509"
	"maps"
	"slices"

	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// ConsumptionDigests is the digest of each kind of consumption in a phase:
// "trust" (the trusted set), "ca" (the signing CA with the trusted set, as
// spec.ca.secret holds them; absent without a signer) and "leaf:<name>"
// (the leaf each name serves; with backend cert-manager, which never
// holds the leaf, its signer generation's CA: see usePulled), and
// "in-cluster-config" (the set
// kube-controller-manager publishes, when published is not nil: a rotation
// with a node step). It is the one place these digests are made:
// the owner's restart annotations are hashed from them, and `carousel
// publish` writes them into the state consumers in other packages hash
// from, so a workload rolls exactly when it would in the owner's package.
func ConsumptionDigests(trust, published []*x509.Certificate, signer *x509.Certificate, leaves map[string]*x509.Certificate) map[string]string {
	t := newTrustSet(trust)
	out := map[string]string{spec.Trust: t.digest}
	if published != nil {
		out[spec.InClusterConfig] = newTrustSet(published).digest
	}
	if signer != nil {
		out[spec.SigningCA] = hashLines(pki.Fingerprint(signer), t.digest)
	}
	for _, name := range slices.Sorted(maps.Keys(leaves)) {
		out[spec.LeafPrefix+name] = pki.Fingerprint(leaves[name])
	}
	return out
}

// consumptionDigests is ConsumptionDigests over the renderer's material, in
// its phase (made once: every workload reads it).
func (r *renderer) consumptionDigests() map[string]string {
	if r.digests != nil {
		return r.digests
	}
	var signer *x509.Certificate
	if k, ok := r.set.CA[r.state.Signer]; ok {
		signer = k.Cert()
	}
	leaves := map[string]*x509.Certificate{}
	for name, gens := range r.set.Leaves {
		if k, ok := gens[r.state.Leaves]; ok {
			leaves[name] = k.Cert()
		}
	}
	var published []*x509.Certificate
	if r.nodeTrust() {
		published = r.published.certs
	}
	r.digests = ConsumptionDigests(r.trust.certs, published, signer, leaves)
	return r.digests
}
