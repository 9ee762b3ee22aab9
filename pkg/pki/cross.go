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

// CrossRequest is a new CA to cross-sign with an old one.
type CrossRequest struct {
	// Old is the CA that signs: its certificate and key, PEM.
	Old Pair
	// New is the certificate of the CA cross-signed, PEM.
	New []byte
	// NotBefore is when the cross-certificate starts (now; the new CA's
	// NotBefore when that is earlier).
	NotBefore time.Time
}

// CrossSign makes the cross-certificate of a new CA under an old one: the
// new CA's subject (byte for byte), public key, subject key identifier,
// key usages, basic constraints and name constraints, issued by the old CA
// (its subject as issuer, its key identifier as authority key identifier,
// its key's signature), valid from NotBefore (or the new CA's, if earlier) until the new CA's NotAfter
// but never beyond the old CA's. A leaf the new CA signed, served with it,
// verifies under the old CA. No key is made: the cross-certificate's key is
// the new CA's.
func CrossSign(r CrossRequest) ([]byte, error) {
	old, key, err := r.Old.Parse()
	if err != nil {
		return nil, err
	}
	nw, err := ParseCert(r.New)
	if err != nil {
		return nil, err
	}
	if err := CheckCA(old); err != nil {
		return nil, fmt.Errorf("the old CA: %w", err)
	}
	if err := CheckCA(nw); err != nil {
		return nil, fmt.Errorf("the new CA: %w", err)
	}
	if err := crossPathLength(old, nw); err != nil {
		return nil, err
	}
	if len(nw.SubjectKeyId) == 0 {
		return nil, fmt.Errorf("the new CA %q has no subject key identifier: leaves name their issuer's, so the cross-certificate must carry it", nw.Subject)
	}
	// From now, or from the new CA's own start when that is earlier (the
	// CA and its leaves are backdated for clients whose clocks lag).
	notBefore := r.NotBefore.UTC().Truncate(time.Second)
	if !old.NotAfter.After(notBefore) {
		return nil, fmt.Errorf("the old CA %q expired (%s): it cannot cross-sign", old.Subject, old.NotAfter.UTC().Format(time.RFC3339))
	}
	if nw.NotBefore.Before(notBefore) {
		notBefore = nw.NotBefore
	}
	notAfter := nw.NotAfter
	if old.NotAfter.Before(notAfter) {
		notAfter = old.NotAfter
	}
	if !notAfter.After(notBefore) {
		return nil, fmt.Errorf("the old CA %q expired (%s): it cannot cross-sign", old.Subject, old.NotAfter.UTC().Format(time.RFC3339))
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 159))
	if err != nil {
		return nil, fmt.Errorf("drawing a serial number: %w", err)
	}
	serial.Add(serial, big.NewInt(1))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		RawSubject:            nw.RawSubject,
		Subject:               nw.Subject,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              nw.KeyUsage,
		ExtKeyUsage:           nw.ExtKeyUsage,
		UnknownExtKeyUsage:    nw.UnknownExtKeyUsage,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            nw.MaxPathLen,
		MaxPathLenZero:        nw.MaxPathLenZero,
		SubjectKeyId:          nw.SubjectKeyId,
		// x509 takes it from the parent's subject key identifier, except
		// when issuer and subject are one name (the new CA may keep the
		// old one's): then from here.
		AuthorityKeyId: old.SubjectKeyId,

		PermittedDNSDomainsCritical: nw.PermittedDNSDomainsCritical,
		PermittedDNSDomains:         nw.PermittedDNSDomains,
		ExcludedDNSDomains:          nw.ExcludedDNSDomains,
		PermittedIPRanges:           nw.PermittedIPRanges,
		ExcludedIPRanges:            nw.ExcludedIPRanges,
		PermittedEmailAddresses:     nw.PermittedEmailAddresses,
		ExcludedEmailAddresses:      nw.ExcludedEmailAddresses,
		PermittedURIDomains:         nw.PermittedURIDomains,
		ExcludedURIDomains:          nw.ExcludedURIDomains,
	}
	// The issuer is the parent's subject.
	der, err := x509.CreateCertificate(rand.Reader, tmpl, old, nw.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("cross-signing CA %q with %q: %w", nw.Subject, old.Subject, err)
	}
	cross, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	if err := CheckCross(cross, nw, old); err != nil {
		return nil, err
	}
	return EncodeCerts(cross), nil
}

// crossPathLength refuses an old CA whose path length cannot hold the new
// CA one level down: every chain the new CA may sign must verify through
// the cross-certificate, which is one more CA under the old one.
func crossPathLength(old, nw *x509.Certificate) error {
	limited := func(c *x509.Certificate) bool { return c.MaxPathLen > 0 || (c.MaxPathLen == 0 && c.MaxPathLenZero) }
	if !limited(old) || (limited(nw) && old.MaxPathLen >= nw.MaxPathLen+1) {
		return nil
	}
	want := "no limit"
	if limited(nw) {
		want = fmt.Sprint(nw.MaxPathLen + 1)
	}
	return fmt.Errorf("the old CA %q has path length %d, so a cross-certificate one level below it could not carry the chains the new CA signs (they need %s): cross-signing needs an old CA whose path length leaves room; rotate with scope ca instead", old.Subject, old.MaxPathLen, want)
}

// CheckCross proves cross is the cross-certificate of the new CA under the
// old one: the new CA's subject, public key and subject key identifier, a
// CA, signed by the old CA (its subject as issuer, its key identifier as
// authority key identifier), and not valid beyond the old CA.
func CheckCross(cross, nw, old *x509.Certificate) error {
	switch {
	case !bytes.Equal(cross.RawSubject, nw.RawSubject):
		return fmt.Errorf("the cross-certificate's subject %q is not the new CA's (%q)", cross.Subject, nw.Subject)
	case !bytes.Equal(cross.RawSubjectPublicKeyInfo, nw.RawSubjectPublicKeyInfo):
		return errors.New("the cross-certificate's public key is not the new CA's")
	case !bytes.Equal(cross.SubjectKeyId, nw.SubjectKeyId):
		return fmt.Errorf("the cross-certificate's subject key identifier %x is not the new CA's (%x)", cross.SubjectKeyId, nw.SubjectKeyId)
	case !cross.BasicConstraintsValid || !cross.IsCA:
		return errors.New("the cross-certificate is not a CA (basic constraints CA:true)")
	case !bytes.Equal(cross.RawIssuer, old.RawSubject):
		return fmt.Errorf("the cross-certificate's issuer %q is not the old CA (%q)", cross.Issuer, old.Subject)
	case len(old.SubjectKeyId) > 0 && !bytes.Equal(cross.AuthorityKeyId, old.SubjectKeyId):
		return fmt.Errorf("the cross-certificate's authority key identifier %x is not the old CA's key identifier (%x)", cross.AuthorityKeyId, old.SubjectKeyId)
	case cross.NotAfter.After(old.NotAfter):
		return fmt.Errorf("the cross-certificate is valid until %s, beyond the old CA (%s)", cross.NotAfter.UTC().Format(time.RFC3339), old.NotAfter.UTC().Format(time.RFC3339))
	}
	if err := cross.CheckSignatureFrom(old); err != nil {
		return fmt.Errorf("the cross-certificate is not signed by the old CA: %w", err)
	}
	return nil
}
