package rotate

import (
	"bytes"
	"fmt"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
)

// checkRenewable refuses, before anything is decrypted or made, a current
// CA that cannot be renewed in place: one held externally (no key), an
// intermediate (its certificate is its parent's to sign), or one whose key
// does not meet spec.ca.key.algorithm (a key change is due, which is a CA
// rotation).
func (p *Package) checkRenewable(ca material.KeyPair) error {
	cert := ca.Cert()
	name := cert.Subject.CommonName
	if !ca.HasKey() {
		return fmt.Errorf("the current CA %q is held externally (its KeyPair holds no key): carousel cannot renew its certificate; its holder renews it, or rotate it (`carousel csr %s --ca`, then `carousel import`)", name, p.File)
	}
	if len(ca.Certs) > 1 || !bytes.Equal(cert.RawIssuer, cert.RawSubject) || pki.CheckSignedBy(cert, cert) != nil {
		return fmt.Errorf("the current CA %q is an intermediate (issued by %q): renewing it needs its parent to sign a new certificate, so it cannot be renewed in place. Rotate it with its parent: `carousel csr %s --ca`, have the parent sign the request (`carousel sign`), then `carousel import %s --cert FILE --chain PARENT.pem`",
			name, cert.Issuer.CommonName, p.File, p.File)
	}
	want := p.Rotation.Spec.CA.Key.Algorithm
	if got := pki.PublicKeyAlgorithm(cert); got != want {
		return &KeyChangeDue{fmt.Errorf("the current CA %q has a %s key, but spec.ca.key.algorithm is %s: a renewal keeps the key, so a key change is due instead: `carousel start %s --scope ca`",
			name, got, want, p.File)}
	}
	return nil
}

// KeyChangeDue is why a CA cannot be renewed in place when its key does
// not meet spec.ca.key: a CA rotation (scope ca) is due instead.
type KeyChangeDue struct{ Err error }

func (e *KeyChangeDue) Error() string { return e.Err.Error() }
func (e *KeyChangeDue) Unwrap() error { return e.Err }

// Renewable says whether the CA in use (the current one, or a finished
// rotation's new one, which the next start promotes) can be renewed in
// place: nil, a *KeyChangeDue, or why not at all (held externally, an
// intermediate, a rotation in flight).
func (p *Package) Renewable() error {
	gen, _, err := p.InUse()
	if err != nil {
		return err
	}
	set, err := p.Material()
	if err != nil {
		return err
	}
	ca, ok := set.CA[gen]
	if !ok {
		return fmt.Errorf("there is no %s CA in %s", gen, p.MaterialDir())
	}
	return p.checkRenewable(ca)
}

// renewCA stages the renewal of the current CA in place: a new certificate
// over the same key (pki.RenewCA; the key is decrypted in memory only), as
// the new CA generation. Its KeyPair is the current one's, key value and
// SOPS metadata byte for byte (SOPS binds the encrypted value to its path
// and MACs only encrypted values, so it decrypts as before), with the new
// certificate, generation and CA ID: no private key is written, in the
// clear or encrypted again.
func (p *Package) renewCA(o Options, cur *material.Set) (staged, error) {
	old := cur.CA[phases.Old]
	if err := p.checkRenewable(old); err != nil {
		return staged{}, err
	}
	pair, err := o.readablePair(old)
	if err != nil {
		return staged{}, fmt.Errorf("renewing the current CA needs its key: %w", err)
	}
	certPEM, err := pki.RenewCA(pki.RenewRequest{CA: pair, NotBefore: o.now(), Validity: p.Rotation.Spec.CA.Validity.Value()})
	if err != nil {
		return staged{}, fmt.Errorf("spec.ca.validity: %w", err)
	}
	if err := checkPair(pki.Pair{CertPEM: certPEM, KeyPEM: pair.KeyPEM}, true); err != nil {
		return staged{}, err
	}
	renewed, err := pki.ParseCert(certPEM)
	if err != nil {
		return staged{}, err
	}
	k := old
	k.Generation = phases.New
	k.CAID = material.NextCAID(cur)
	n := old.Source.Copy()
	n.SetName(k.Name())
	anns := n.GetAnnotations()
	delete(anns, material.AnnotationPromoted) // nothing promoted it: it is new
	anns[material.AnnotationGeneration] = string(phases.New)
	anns[material.AnnotationCAID] = k.CAID
	anns[material.AnnotationSHA256] = pki.Fingerprint(renewed)
	anns[material.AnnotationNotAfter] = renewed.NotAfter.UTC().Format("2006-01-02T15:04:05Z")
	if err := n.SetAnnotations(anns); err != nil {
		return staged{}, err
	}
	c := yaml.NewStringRNode(string(certPEM))
	c.YNode().Style = yaml.LiteralStyle
	if err := n.PipeE(yaml.SetField("certificate", c)); err != nil {
		return staged{}, err
	}
	// What is staged reads back as the renewal it is.
	back, err := material.Parse(n)
	if err != nil {
		return staged{}, err
	}
	if back.KeyValue != old.KeyValue || back.Generation != phases.New || pki.Fingerprint(back.Cert()) != pki.Fingerprint(renewed) {
		return staged{}, fmt.Errorf("%s: the renewed CA's KeyPair does not read back as made", k.Name())
	}
	return nodeFile(p.path(k), n, old.Encrypted()), nil
}
