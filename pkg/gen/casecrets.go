package gen

import (
	"fmt"
	"slices"

	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// GenerationName is the name of an object that stands for one CA
// generation: base (spec.ca.secret.name for the generation Secrets, or the
// base name of any other per-generation object) and the generation's ID
// (material.KeyPair.CAID, carousel.dev/ca-id). Every object that names one
// CA generation, and every reference to one, takes its name from here.
//
// The name follows the CA, not its role: a role (old, new) changes when
// the next rotation promotes the new CA to old, and objects that point at
// a generation cannot follow a rename (an OSM MeshRootCertificate's
// secretRef is immutable; a cert-manager CA Issuer or a trust-manager
// Bundle would read a Secret that no longer exists). The ID is fixed when
// the generation is created, so the name holds across every phase and
// rotation of that CA's life.
func GenerationName(base, caID string) string { return material.GenerationName(base, caID) }

// renderCASecrets renders the signing CA of the phase into spec.ca.secret,
// and each CA generation present into GenerationName(name, its CA ID).
func (r *renderer) renderCASecrets() part {
	var p part
	t := r.rot.Spec.CA.Secret
	if t == nil {
		return p
	}
	// A CA held externally (no key in its KeyPair) cannot be rendered into
	// a Secret that carries the CA's key: say which field asks for it.
	keyless := false
	for _, g := range r.state.CAPresent {
		if k := r.set.CA[g]; !k.HasKey() {
			r.configError("spec.ca.secret", fmt.Errorf("renders the CA's private key into Secret %s/%s, but the %s CA (KeyPair %s) holds no key: it is held externally (adopted without --ca-key). Remove spec.ca.secret, or adopt the CA with its key",
				t.Namespace, t.Name, g, k.Source.GetName()))
			keyless = true
		}
	}
	if keyless {
		return p
	}
	r.emitCASecret(&p, t.Name, *t, r.set.CA[r.state.Signer], nil)
	for _, g := range r.state.CAPresent {
		var anns map[string]string
		if slices.Contains(r.state.Trusted, g) {
			anns = r.rot.Spec.CA.TrustedAnnotations
		}
		r.emitCASecret(&p, r.generationName(t.Name, g), *t, r.set.CA[g], anns)
	}
	return p
}

// generationName is the name of an object that stands for one CA
// generation: the generation's CA Secret (from spec.ca.secret.name) and
// what names it, such as its MeshRootCertificate and that MRC's secretRef.
// Every such name is made here, so that they always agree.
func (r *renderer) generationName(base string, g phases.Generation) string {
	return GenerationName(base, r.set.CA[g].CAID)
}

// emitCASecret renders one CA Secret, with extra annotations, into p. A
// consumer of it sees the CA (and its key) and the trusted set.
func (r *renderer) emitCASecret(p *part, name string, t spec.SecretTarget, k material.KeyPair, anns map[string]string) {
	if k.KeyField != t.Keys.Key {
		r.errorAt(k.Source, "data", fmt.Errorf("the CA key is stored under %q but spec.ca.secret.keys.key is %q: the key must be made for the Secret it goes into (an encrypted value only decrypts under its own key)", k.KeyField, t.Keys.Key))
		return
	}
	s := r.labelled(newSecret(name, t.Namespace, t.Type))
	setAnnotations(s, anns)
	setData(s, t.Keys.Cert, b64(pki.EncodeCerts(k.Cert())))
	setData(s, t.Keys.Key, k.KeyValue)
	if t.Keys.CA != spec.OmitKey {
		setData(s, t.Keys.CA, b64(r.trust.pem))
	}
	if t.Keys.Chain != "" {
		// The CA and the chain committed with it: an intermediate's up to
		// its root (Istio's cert-chain.pem).
		setData(s, t.Keys.Chain, b64(pki.EncodeCerts(k.Certs...)))
	}
	withSops(s, k)
	r.emit(p, s, "ca", hashLines(pki.Fingerprint(k.Cert()), r.trust.digest))
}
