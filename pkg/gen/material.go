package gen

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"

	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// loadMaterial takes this rotation's KeyPairs out of the items, checks them,
// and keeps every other item in order. It reports whether rendering can go on.
func (r *renderer) loadMaterial() bool {
	var pairs []material.KeyPair
	ok := true
	for _, n := range r.in.Items {
		if r.isRootState(n) {
			r.rootStates = append(r.rootStates, n)
			continue
		}
		if !material.IsKeyPair(n) || material.RotationOf(n) != r.rot.Metadata.Name {
			r.items = append(r.items, n)
			continue
		}
		k, err := material.Parse(n)
		if err != nil {
			var fe *material.FieldError
			if errors.As(err, &fe) {
				r.errorAt(n, fe.Field, fe.Err)
			} else {
				r.errorAt(n, "", err)
			}
			ok = false
			continue
		}
		pairs = append(pairs, k)
	}
	if !ok {
		return false
	}
	set, err := material.NewSet(pairs)
	if err != nil {
		var fe *material.FieldError
		if errors.As(err, &fe) {
			r.errorAt(fe.Node, fe.Field, fe.Err)
		} else {
			r.configError("", err)
		}
		return false
	}
	r.set = set
	r.checkMaterial()
	return !r.hasErrors()
}

func (r *renderer) hasErrors() bool {
	for _, res := range r.results {
		if res.Severity == "error" {
			return true
		}
	}
	return false
}

// signerOf says which CA generation must have signed a leaf generation.
func (r *renderer) signerOf(g phases.Generation) phases.Generation {
	if r.rot.Spec.Scope == phases.ScopeLeaf || r.rot.Spec.Scope == phases.ScopeRenew {
		return phases.Old
	}
	return g
}

// verifiersOf says under which CA generations a leaf generation must
// verify: its signer's, and in a renewal in place both, since the renewed
// certificate is the old key's too (checkRenewal proves it is).
func (r *renderer) verifiersOf(g phases.Generation) []phases.Generation {
	if r.rot.Spec.Scope == phases.ScopeRenew {
		return phases.Generations
	}
	return []phases.Generation{r.signerOf(g)}
}

// checkRenewal proves a renewal in place renews: the new CA certificate has
// the old one's key, subject and subject key identifier, so every leaf the
// old one signed chains to it, and it is self-signed, so it needs no parent.
func (r *renderer) checkRenewal() {
	if r.rot.Spec.Scope != phases.ScopeRenew {
		return
	}
	old, ok := r.set.CA[phases.Old]
	nw, ok2 := r.set.CA[phases.New]
	if !ok || !ok2 {
		return // a phase that needs both says so
	}
	o, n := old.Cert(), nw.Cert()
	fail := func(format string, args ...any) {
		r.errorAt(nw.Source, "certificate", fmt.Errorf("spec.scope is renew, but the new CA certificate "+format+": a renewal keeps them (a new key is a CA rotation: `carousel start --scope ca`)", args...))
	}
	switch {
	case !bytes.Equal(o.RawSubjectPublicKeyInfo, n.RawSubjectPublicKeyInfo):
		fail("has another public key (sha256 %s) than the old one (%s)", pki.Fingerprint(n)[:16], pki.Fingerprint(o)[:16])
	case !bytes.Equal(o.RawSubject, n.RawSubject):
		fail("has subject %q where the old one has %q", n.Subject, o.Subject)
	case !bytes.Equal(o.SubjectKeyId, n.SubjectKeyId):
		fail("has subject key identifier %x where the old one has %x", n.SubjectKeyId, o.SubjectKeyId)
	case pki.CheckSignedBy(n, n) != nil:
		fail("is not self-signed")
	}
}

// checkMaterial proves the committed material can serve the phase: every
// needed pair exists, CAs are CAs, keys match certificates (when readable),
// and every leaf was signed by the CA the phase model expects.
func (r *renderer) checkMaterial() {
	st := r.state
	needCA := slices.Clone(st.CAPresent)
	for _, g := range append(slices.Clone(st.Trusted), st.Signer) {
		if !slices.Contains(needCA, g) {
			needCA = append(needCA, g)
		}
	}
	for _, g := range needCA {
		if _, ok := r.set.CA[g]; !ok {
			r.configError("spec.phase", fmt.Errorf("phase %s needs the %s CA, but no KeyPair for it is in the input: %s",
				st.Phase, g, missingHint(g)))
		}
	}
	for _, g := range phases.Generations {
		k, ok := r.set.CA[g]
		if !ok {
			continue
		}
		if k.Adopted {
			// A CA another tool made (init --ca-cert): held to what TLS
			// stacks need, exactly as init held it, not to the spec's
			// key and path length, which describe the CAs carousel makes.
			a := pki.AdoptCA(k.Cert(), r.issuesIntermediates())
			for _, err := range a.Refusals {
				r.errorAt(k.Source, "certificate", fmt.Errorf("%s CA (adopted): %w", g, err))
			}
			for _, w := range a.Warnings {
				r.warnAt(k.Source, "certificate", "%s CA (adopted): %s", g, w)
			}
			r.checkKey(k, "", spec.Key{})
			continue
		}
		for _, err := range pki.CAPolicy(k.Cert(), r.rot.Spec.CA.PathLength) {
			r.errorAt(k.Source, "certificate", fmt.Errorf("%s CA: %w", g, err))
		}
		r.checkKey(k, "spec.ca.key", r.rot.Spec.CA.Key)
	}
	r.checkRenewal()
	r.checkCross()
	for i, l := range r.rot.Spec.Leaves {
		gens := r.set.Leaves[l.Name]
		if _, ok := gens[st.Leaves]; !ok && r.recovering() {
			r.missingAtRecovery(i, l.Name)
		} else if !ok {
			hint := missingHint(st.Leaves)
			if ca, ok := r.set.CA[r.signerOf(st.Leaves)]; ok && !ca.HasKey() {
				hint = fmt.Sprintf("the %s CA is held externally (no key): request the leaf with `carousel csr --leaf %s`, have the CA sign the CSR, and `carousel import` it", r.signerOf(st.Leaves), l.Name)
			}
			r.configError(fmt.Sprintf("spec.leaves[%d]", i), fmt.Errorf("phase %s serves the %s generation of leaf %q, but no KeyPair for it is in the input: %s",
				st.Phase, st.Leaves, l.Name, hint))
		}
	}
	names := make([]string, 0, len(r.set.Leaves))
	for name := range r.set.Leaves {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		gens := r.set.Leaves[name]
		leaf, known := r.rot.Spec.LeafByName(name)
		for _, g := range phases.Generations {
			k, ok := gens[g]
			if !ok {
				continue
			}
			if !known {
				r.warnAt(k.Source, "metadata.annotations."+material.AnnotationLeaf,
					"material for leaf %q, which spec.leaves does not list: it is not rendered", name)
				continue
			}
			r.checkKey(k, fmt.Sprintf("spec.leaves[%d].key", slices.IndexFunc(r.rot.Spec.Leaves, func(l spec.Leaf) bool { return l.Name == name })), leaf.Key)
			if errs := pki.CommonPolicy(k.Cert()); len(errs) > 0 {
				for _, err := range errs {
					r.errorAt(k.Source, "certificate", fmt.Errorf("%s leaf %q: %w", g, name, err))
				}
				continue
			}
			for _, cg := range r.verifiersOf(g) {
				ca, ok := r.set.CA[cg]
				if !ok {
					continue // reported above when the phase needs it
				}
				if err := pki.CheckSignedBy(k.Cert(), ca.Cert()); err != nil {
					r.errorAt(k.Source, "certificate", fmt.Errorf("%s leaf %q must be signed by the %s CA: %w", g, name, cg, err))
					break
				}
				l, _ := r.rot.Spec.LeafByName(name)
				want := pki.LeafWant{DNSNames: l.DNSNames, IPAddresses: l.IPAddresses, Usages: l.Usages, IsCA: l.IsCA}
				errs := pki.LeafPolicy(k.Cert(), ca.Cert(), want)
				for _, err := range errs {
					r.errorAt(k.Source, "certificate", fmt.Errorf("%s leaf %q: %w", g, name, err))
				}
				if len(errs) > 0 {
					break
				}
			}
		}
	}
}

// issuesIntermediates reports whether a leaf of the rotation is a CA.
func (r *renderer) issuesIntermediates() bool {
	return slices.ContainsFunc(r.rot.Spec.Leaves, func(l spec.Leaf) bool { return l.IsCA })
}

func missingHint(g phases.Generation) string {
	if g == phases.New {
		return "run `carousel start` to make the new material, and list it in the kustomization"
	}
	return "run `carousel init` (or import the current CA), and list the material in the kustomization"
}

// checkKey proves a plaintext key belongs to its certificate and, when the
// spec (at path) names an encoding, is written in it: the system reading the
// Secret may accept one encoding only (OSM's Tresor: PKCS#8), so a key in
// another is caught here, not by a crash-looping controller. Encrypted keys
// are checked when they are made (`start`, `import`, which write the spec's
// encoding); the function never decrypts.
func (r *renderer) checkKey(k material.KeyPair, path string, want spec.Key) {
	if k.Encrypted() || !k.HasKey() {
		return
	}
	keyPEM, err := k.KeyPEM()
	if err != nil {
		r.errorAt(k.Source, "data."+k.KeyField, err)
		return
	}
	if block, _ := pem.Decode(keyPEM); want.Encoding != "" && block != nil && block.Type != pki.KeyPEMType(want.Encoding, want.Algorithm) {
		r.errorAt(k.Source, "data."+k.KeyField, fmt.Errorf("%s.encoding is %s (a %q PEM block) but the key is a %q block: re-encode it (openssl pkey) or make it again with `carousel start`",
			path, want.Encoding, pki.KeyPEMType(want.Encoding, want.Algorithm), block.Type))
		return
	}
	key, err := pki.ParseKey(keyPEM)
	if err != nil {
		r.errorAt(k.Source, "data."+k.KeyField, err)
		return
	}
	if !pki.KeyMatches(k.Cert(), key) {
		r.errorAt(k.Source, "data."+k.KeyField, fmt.Errorf("the private key does not match the certificate (sha256 %s)", pki.Fingerprint(k.Cert())[:16]))
	}
}

func (r *renderer) caCerts(gens []phases.Generation) []*x509.Certificate {
	var out []*x509.Certificate
	for _, g := range gens {
		out = append(out, r.set.CA[g].Cert())
	}
	return out
}

// trustCerts is what the trusted set holds for generations gens: their
// CAs, or with spec.ca.trust: root the self-signed root each CA's
// committed chain ends in (docs/fleet.md, "One root, many clusters"). A CA
// whose chain does not end in a root that signed it through the chain is
// an error at its KeyPair: trusting anything else would trust the wrong
// CA, or none.
func (r *renderer) trustCerts(gens []phases.Generation) []*x509.Certificate {
	if !r.rot.Spec.CA.TrustsRoots() {
		return r.caCerts(gens)
	}
	var out []*x509.Certificate
	for _, g := range gens {
		k := r.set.CA[g]
		root, err := pki.ChainRoot(k.Certs)
		if err != nil {
			r.errorAt(k.Source, "data", fmt.Errorf("spec.ca.trust is root, but the %s CA's chain %v: import the CA with its chain (`carousel import --chain ROOT.pem`)", g, err))
			continue
		}
		out = append(out, root)
	}
	return out
}

// warnExpiry reports material in use this phase that has expired or
// expires within the window. It is the only place the clock is read.
//
// Expired material is an error where the phase depends on it: serving a leaf
// past its NotAfter, or signing the phase's new leaves with an expired CA
// (every client refuses a chain through it). A CA that has expired but is
// only still trusted breaks nothing the phase adds, so it is a warning that
// names the way out: the phase that stops trusting it, or a new CA.
func (r *renderer) warnExpiry() {
	window := r.rot.Spec.ExpiryWarning.Value()
	now := r.in.Now
	deadline := now.Add(window)
	day := func(k material.KeyPair) string { return k.Cert().NotAfter.UTC().Format("2006-01-02") }
	r.warnCrossExpiry()
	for _, g := range r.state.Trusted {
		k := r.set.CA[g]
		name := k.Cert().Subject.CommonName
		switch {
		case now.After(k.Cert().NotAfter) && g == r.state.Signer && r.state.Leaves == phases.New:
			r.errorAt(k.Source, "certificate", fmt.Errorf("the %s CA %q expired on %s, and phase %s serves new leaves it signed: no client accepts them. %s",
				g, name, day(k), r.state.Phase, r.newCAHint()))
		case now.After(k.Cert().NotAfter):
			r.warnAt(k.Source, "certificate", "the %s CA %q expired on %s and phase %s still trusts it: %s",
				g, name, day(k), r.state.Phase, r.expiredCAWayOut(g))
		case k.Cert().NotAfter.Before(deadline):
			r.warnAt(k.Source, "certificate", "the %s CA %q expires %s, within %s: start a CA rotation (`carousel renew`)",
				g, name, day(k), window)
		}
	}
	for _, l := range r.rot.Spec.Leaves {
		k, ok := r.set.Leaves[l.Name][r.state.Leaves]
		switch {
		case !ok: // only at recover's steady (missingAtRecovery)
		case now.After(k.Cert().NotAfter) && r.recovering():
			r.warnAt(k.Source, "certificate", "leaf %q expired on %s and phase steady of scope recover still serves it: %s",
				l.Name, day(k), recoverWayOut)
		case now.After(k.Cert().NotAfter):
			r.errorAt(k.Source, "certificate", fmt.Errorf("leaf %q expired on %s: phase %s serves it and no client accepts it. Re-issue it (`carousel renew`)",
				l.Name, day(k), r.state.Phase))
		case k.Cert().NotAfter.Before(deadline):
			r.warnAt(k.Source, "certificate", "leaf %q expires %s, within %s: re-issue it (`carousel renew`)",
				l.Name, day(k), window)
		}
	}
}

// newCAHint is the way out when the CA signing the phase's leaves expired.
func (r *renderer) newCAHint() string {
	if r.rot.Spec.Scope == phases.ScopeLeaf {
		return "Re-issuing under an expired CA cannot help: rotate the CA (`carousel start --scope ca`, at steady)"
	}
	return "Make a new CA and leaves (`carousel start`) before this phase"
}

// expiredCAWayOut names how a phase stops trusting an expired CA generation.
func (r *renderer) expiredCAWayOut(g phases.Generation) string {
	if r.recovering() {
		return recoverWayOut
	}
	if (r.rot.Spec.Scope == phases.ScopeCA || r.rot.Spec.Scope == phases.ScopeRenew) && g == phases.Old && r.state.Phase != phases.Steady {
		return "advance to distrust-old (then cleanup) to stop trusting it"
	}
	return "rotate the CA (`carousel renew`, or `carousel start` at steady)"
}
