package gen

import (
	"crypto/x509"
	"fmt"
	"time"

	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
)

// crossCert is the cross-certificate served after every leaf in the phase
// (State.Cross: the new CA's subject and key, signed by the old CA), or
// nil when the phase serves none or the material lacks it (checkCross
// reports that).
func (r *renderer) crossCert() *x509.Certificate {
	if !r.state.Cross || r.set == nil {
		return nil
	}
	k, ok := r.set.Cross[phases.New]
	if !ok || len(k.Certs) == 0 {
		return nil
	}
	return k.Cert()
}

// checkCross proves, in a phase whose leaves carry the cross-certificate,
// that it is one: the new CA's subject, public key and key identifier,
// signed by the old CA and not valid beyond it; and that every leaf served
// verifies under the old CA through it (crypto/x509, at the latest
// NotBefore of the chain, so the render does not read the clock), which
// also holds the old CA's constraints to the leaves. A phase that serves
// none ignores it (a promotion lists it until its last step).
func (r *renderer) checkCross() {
	if !r.state.Cross {
		return
	}
	k, has := r.set.Cross[phases.New]
	if !has {
		r.configError("spec.phase", fmt.Errorf("phase %s serves every leaf with the cross-certificate (the new CA signed by the old one), but no KeyPair for it is in the input: run `carousel start --scope cross-sign`, and list the material in the kustomization", r.state.Phase))
		return
	}
	old, okOld := r.set.CA[phases.Old]
	nw, okNew := r.set.CA[phases.New]
	if !okOld || !okNew {
		return // reported by checkMaterial
	}
	cross := k.Cert()
	if err := pki.CheckCross(cross, nw.Cert(), old.Cert()); err != nil {
		r.errorAt(k.Source, "certificate", fmt.Errorf("%w: it must be the new CA's certificate signed by the old CA (`carousel start --scope cross-sign` makes it)", err))
		return
	}
	for _, l := range r.rot.Spec.Leaves {
		leaf, ok := r.set.Leaves[l.Name][r.state.Leaves]
		if !ok {
			continue // reported by checkMaterial
		}
		at := leaf.Cert().NotBefore
		for _, c := range []*x509.Certificate{cross, old.Cert()} {
			if c.NotBefore.After(at) {
				at = c.NotBefore
			}
		}
		roots, inter := x509.NewCertPool(), x509.NewCertPool()
		roots.AddCert(old.Cert())
		inter.AddCert(cross)
		if _, err := leaf.Cert().Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: at.Add(time.Second), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			r.errorAt(leaf.Source, "certificate", fmt.Errorf("%s leaf %q does not verify under the old CA through the cross-certificate, which phase %s serves it with: %w", r.state.Leaves, l.Name, r.state.Phase, err))
		}
	}
}

// warnCrossExpiry: past the cross-certificate's NotAfter, a client that
// trusts only the old CA refuses every leaf served with it. Where no
// trust object holds the new CA yet (sign-new) that is every client: an
// error; later, only clients outside the rotation: a warning.
func (r *renderer) warnCrossExpiry() {
	c := r.crossCert()
	if c == nil || !r.in.Now.After(c.NotAfter) {
		return
	}
	k := r.set.Cross[phases.New]
	day := c.NotAfter.UTC().Format("2006-01-02")
	if !r.state.Trusts(phases.New) {
		r.errorAt(k.Source, "certificate", fmt.Errorf("the cross-certificate expired on %s, and phase %s's clients trust only the old CA: they refuse every leaf. Roll back to steady and rotate with scope ca", day, r.state.Phase))
		return
	}
	r.warnAt(k.Source, "certificate", "the cross-certificate expired on %s: clients that trust only the old CA refuse every leaf from now on (those inside trust the new CA)", day)
}
