package rotate

import (
	"crypto/x509"
	"fmt"
	"os"

	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
)

// checkCrossSignable refuses, before any key is made or decrypted, a
// current CA that cannot cross-sign: one held externally (its KeyPair
// holds no key, and the old CA's key signs the cross-certificate).
func (p *Package) checkCrossSignable(ca material.KeyPair) error {
	if !ca.HasKey() {
		return fmt.Errorf("the current CA %q is held externally (its KeyPair holds no key): carousel cannot cross-sign the new CA with it, since the old CA's key signs the cross-certificate. Have its holder cross-sign, or rotate it with scope ca (`carousel csr %s --ca`, then `carousel import`)",
			ca.Cert().Subject.CommonName, p.File)
	}
	return nil
}

// crossSign stages a cross-signed rotation's new material: a new CA (its
// key encrypted like scope ca's), every leaf issued by it, and the
// cross-certificate, the new CA's subject and key signed by the current
// CA's key (decrypted in memory only; pki.CrossSign), as a KeyPair of role
// cross holding the certificate alone.
func (p *Package) crossSign(o Options, w keyEncoder, old pki.Pair, cur *material.Set) ([]staged, error) {
	rot := p.Rotation
	ca, err := newCA(rot)
	if err != nil {
		return nil, err
	}
	crossPEM, err := pki.CrossSign(pki.CrossRequest{Old: old, New: ca.CertPEM, NotBefore: o.now()})
	if err != nil {
		return nil, fmt.Errorf("cross-signing the new CA with the current one: %w", err)
	}
	var files []staged
	f, err := p.pairFile(w, material.KeyPair{Rotation: rot.Metadata.Name, Role: material.RoleCA, Generation: phases.New, CAID: material.NextCAID(cur)}, ca, caKeyField(rot))
	if err != nil {
		return nil, err
	}
	files = append(files, f)
	for _, l := range rot.Spec.Leaves {
		f, err := p.issue(w, ca, l, phases.New)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	cross, err := pki.ParseCert(crossPEM)
	if err != nil {
		return nil, err
	}
	f, err = p.crossFile(material.KeyPair{Rotation: rot.Metadata.Name, Role: material.RoleCross, Generation: phases.New, Certs: []*x509.Certificate{cross}})
	if err != nil {
		return nil, err
	}
	return append(files, f), nil
}

// crossFile stages the cross-certificate's KeyPair: no key, so readable by
// all like any certificate.
func (p *Package) crossFile(k material.KeyPair) (staged, error) {
	n, err := material.New(k, nil)
	if err != nil {
		return staged{}, err
	}
	back, err := material.Parse(n)
	if err != nil || back.HasKey() || pki.Fingerprint(back.Cert()) != pki.Fingerprint(k.Cert()) {
		return staged{}, fmt.Errorf("%s: the cross-certificate's KeyPair does not read back as made: %v", k.Name(), err)
	}
	return staged{p.path(k), []byte(n.MustString()), os.FileMode(0o644)}, nil
}
