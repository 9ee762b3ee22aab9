package pki

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// RenewRequest is a CA certificate to renew in place.
type RenewRequest struct {
	// CA is the current CA: its certificate (self-signed) and key, PEM.
	CA Pair
	// NotBefore is when the renewed certificate starts (now).
	NotBefore time.Time
	// Validity is how long it lives from NotBefore.
	Validity time.Duration
}

// RenewCA makes a new certificate for a self-signed CA over its own key:
// the same subject (byte for byte), public key, subject key identifier,
// key usages, basic constraints and name constraints, a new serial number
// and validity. A leaf the CA signed verifies under either certificate, so
// renewing re-issues no leaf. It refuses a CA that is not self-signed
// (an intermediate's certificate is its parent's to sign), a key that does
// not belong to the certificate, and a validity that would end before the
// current certificate does (that is no renewal).
func RenewCA(r RenewRequest) ([]byte, error) {
	cur, key, err := r.CA.Parse()
	if err != nil {
		return nil, err
	}
	if err := CheckCA(cur); err != nil {
		return nil, err
	}
	if !bytes.Equal(cur.RawIssuer, cur.RawSubject) || cur.CheckSignatureFrom(cur) != nil {
		return nil, fmt.Errorf("the CA %q is not self-signed (its issuer is %q): its certificate is its parent's to renew", cur.Subject, cur.Issuer)
	}
	if len(cur.SubjectKeyId) == 0 {
		return nil, fmt.Errorf("the CA %q has no subject key identifier: a renewed certificate could not carry the same one", cur.Subject)
	}
	notBefore := r.NotBefore.UTC().Truncate(time.Second)
	notAfter := notBefore.Add(r.Validity)
	if r.Validity <= 0 || !notAfter.After(cur.NotAfter) {
		return nil, fmt.Errorf("the renewed certificate would expire %s, not after the current one (%s): a renewal must outlive it",
			notAfter.Format(time.RFC3339), cur.NotAfter.UTC().Format(time.RFC3339))
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 159))
	if err != nil {
		return nil, fmt.Errorf("drawing a serial number: %w", err)
	}
	serial.Add(serial, big.NewInt(1)) // positive, never zero
	if serial.Cmp(cur.SerialNumber) == 0 {
		return nil, errors.New("drew the current serial number again")
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		RawSubject:            cur.RawSubject,
		Subject:               cur.Subject,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              cur.KeyUsage,
		ExtKeyUsage:           cur.ExtKeyUsage,
		UnknownExtKeyUsage:    cur.UnknownExtKeyUsage,
		BasicConstraintsValid: cur.BasicConstraintsValid,
		IsCA:                  cur.IsCA,
		MaxPathLen:            cur.MaxPathLen,
		MaxPathLenZero:        cur.MaxPathLenZero,
		SubjectKeyId:          cur.SubjectKeyId,
		AuthorityKeyId:        cur.AuthorityKeyId,

		PermittedDNSDomainsCritical: cur.PermittedDNSDomainsCritical,
		PermittedDNSDomains:         cur.PermittedDNSDomains,
		ExcludedDNSDomains:          cur.ExcludedDNSDomains,
		PermittedIPRanges:           cur.PermittedIPRanges,
		ExcludedIPRanges:            cur.ExcludedIPRanges,
		PermittedEmailAddresses:     cur.PermittedEmailAddresses,
		ExcludedEmailAddresses:      cur.ExcludedEmailAddresses,
		PermittedURIDomains:         cur.PermittedURIDomains,
		ExcludedURIDomains:          cur.ExcludedURIDomains,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, cur.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("renewing CA %q: %w", cur.Subject, err)
	}
	renewed, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	// What makes it a renewal, checked on the certificate made rather
	// than assumed from the template.
	switch {
	case !bytes.Equal(renewed.RawSubject, cur.RawSubject):
		return nil, errors.New("the renewed certificate's subject differs from the current one's")
	case !bytes.Equal(renewed.RawSubjectPublicKeyInfo, cur.RawSubjectPublicKeyInfo):
		return nil, errors.New("the renewed certificate's public key differs from the current one's")
	case !bytes.Equal(renewed.SubjectKeyId, cur.SubjectKeyId):
		return nil, errors.New("the renewed certificate's subject key identifier differs from the current one's")
	}
	return EncodeCerts(renewed), nil
}
