package rotate

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
)

// SignRequest is a certificate signing request another package's `carousel
// csr --ca` wrote, for this package's CA to sign as an intermediate: a
// cluster's CA under a shared root (docs/fleet.md, "One root, many
// clusters").
type SignRequest struct {
	// CSR is the request, PEM.
	CSR []byte
	// Generation is which of this package's CAs signs: old (the current
	// root) or new (the next rotation's, from `carousel start`).
	Generation phases.Generation
	// Validity of the intermediate; it never outlives the root.
	Validity time.Duration
}

// Sign signs req as an intermediate CA (path length 0: it signs leaves
// only) with the package's CA of req.Generation and returns the
// certificate and the signing CA's, PEM: the requesting package's
// `carousel import --cert` and `--chain`. The subject is the
// request's; nothing else it claims is copied. The root's key is
// decrypted in memory and never written: nothing is written at all.
func Sign(p *Package, o Options, req SignRequest) (cert, root []byte, err error) {
	block, _ := pem.Decode(req.CSR)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, nil, errors.New("the request is not a PEM certificate request (CERTIFICATE REQUEST)")
	}
	cr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the request: %w", err)
	}
	if err := cr.CheckSignature(); err != nil {
		return nil, nil, fmt.Errorf("the request's signature does not verify (it was altered, or not made with its key): %w", err)
	}
	if cr.Subject.CommonName == "" {
		return nil, nil, errors.New("the request names no subject common name (`carousel csr --ca` takes it from the cluster's spec.ca.commonName)")
	}
	set, err := p.Material()
	if err != nil {
		return nil, nil, err
	}
	ca, ok := set.CA[req.Generation]
	if !ok {
		if req.Generation == phases.New {
			return nil, nil, fmt.Errorf("%s has no new CA: run `carousel start %s` first (the new root), then sign the clusters' requests with it", p.File, p.File)
		}
		return nil, nil, fmt.Errorf("%s has no %s CA", p.File, req.Generation)
	}
	if !ca.HasKey() {
		return nil, nil, fmt.Errorf("the %s CA of %s is held externally (no key): it cannot sign", req.Generation, p.File)
	}
	pair, err := o.readablePair(ca)
	if err != nil {
		return nil, nil, err
	}
	validity := req.Validity
	if validity <= 0 {
		validity = p.Rotation.Spec.CA.Validity.Value()
	}
	cert, err = pki.SignCSR(pair, req.CSR, pki.LeafRequest{
		CommonName:   cr.Subject.CommonName,
		Organization: cr.Subject.Organization,
		IsCA:         true,
		Validity:     validity,
	})
	if err != nil {
		return nil, nil, err
	}
	issued, err := pki.ParseCert(cert)
	if err != nil {
		return nil, nil, err
	}
	if err := pki.CheckSignedBy(issued, ca.Cert()); err != nil {
		return nil, nil, err
	}
	return cert, pki.EncodeCerts(ca.Cert()), nil
}
