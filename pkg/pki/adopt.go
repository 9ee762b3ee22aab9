package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// Adoption is what carousel makes of a CA made elsewhere (kubeadm, RKE,
// openssl, cfssl, cert-manager) before `init --ca-cert` adopts it: the
// reasons it cannot serve (each with the fix), and the warnings where a
// known TLS stack minds what RFC 5280 and the common stacks accept.
type Adoption struct {
	Refusals []error
	Warnings []string
}

// Err joins the refusals, or is nil.
func (a Adoption) Err() error { return errors.Join(a.Refusals...) }

// renewCommand re-signs a CA certificate with its own key, keeping its
// subject byte for byte (so every leaf it signed still chains to it) and
// adding the extensions a CA needs. Checked with the real openssl and Go:
// a leaf signed by a version-1 certificate verifies against the result.
const renewCommand = "printf 'basicConstraints=critical,CA:TRUE\\nkeyUsage=critical,keyCertSign,cRLSign\\nsubjectKeyIdentifier=hash\\n' >ca.ext; " +
	"openssl x509 -in ca.crt -signkey ca.key -days 3650 -extfile ca.ext -out ca-renewed.crt"

// AdoptCA checks a CA certificate made by another tool. It refuses only
// what TLS stacks refuse:
//
//   - no basicConstraints CA:TRUE (a version-1 certificate has no
//     extensions at all): kubeadm, cert-manager's CA issuer and OpenSSL's
//     strict verification refuse to use it as a CA, Go and OpenSSL refuse
//     it anywhere but as the trust anchor itself;
//   - a keyUsage extension without keyCertSign: Go ("parent certificate
//     cannot sign this kind of certificate") and OpenSSL ("key usage does
//     not include certificate signing") refuse every certificate it signs;
//   - SHA-1 or MD5 signatures and RSA keys under 2048 bits (CommonPolicy);
//   - a path length of 0 when the rotation issues intermediates
//     (spec.leaves[].isCA): no stack accepts a CA under it.
//
// It accepts, with a warning, what RFC 5280 asks for but Go and OpenSSL's
// defaults do without, because OpenSSL's strict mode (X509_V_FLAG_X509_STRICT,
// Python 3.13's default) refuses it: no keyUsage extension at all, and no
// subject key identifier (the leaves it signs then carry no authority key
// identifier). A missing cRLSign is accepted silently: verifying a TLS chain
// never needs it (Go and OpenSSL checked; kubeadm's own CAs lack it).
func AdoptCA(c *x509.Certificate, issuesIntermediates bool) Adoption {
	var a Adoption
	a.Refusals = append(a.Refusals, CommonPolicy(c)...)
	if !c.BasicConstraintsValid || !c.IsCA {
		what := "its basicConstraints extension says CA:FALSE"
		switch {
		case c.Version < 3:
			what = "it is a version-1 certificate, without extensions"
		case !c.BasicConstraintsValid:
			what = "it has no basicConstraints extension"
		}
		a.Refusals = append(a.Refusals, fmt.Errorf("the certificate is not a CA: %s, and a CA needs basicConstraints CA:TRUE (kubeadm, cert-manager's CA issuer and OpenSSL's strict verification refuse to sign with it; Go and OpenSSL refuse it in a chain). Fix: re-sign it with its own key, which keeps its subject, so every leaf it signed stays valid: %s; then adopt ca-renewed.crt", what, renewCommand))
	}
	if c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageCertSign == 0 {
		a.Refusals = append(a.Refusals, fmt.Errorf("the CA certificate has a keyUsage extension without keyCertSign: Go and OpenSSL refuse every certificate it signs. Fix: re-sign it with its own key and keyCertSign: %s; then adopt ca-renewed.crt", renewCommand))
	}
	if issuesIntermediates && c.MaxPathLenZero {
		a.Refusals = append(a.Refusals, errors.New("the CA's path length is 0, but spec.leaves has an intermediate CA (isCA: true): no TLS stack accepts a CA signed by it. Fix: adopt a CA without pathlen:0 (re-sign it with its own key: "+renewCommand+"), or make a new CA (`carousel init` without --ca-cert)"))
	}
	if c.KeyUsage == 0 && c.BasicConstraintsValid && c.IsCA {
		a.Warnings = append(a.Warnings, "the CA certificate has no keyUsage extension: Go and OpenSSL accept it, but OpenSSL's strict verification (-x509_strict; Python 3.13 and later verify so by default) refuses it (\"CA cert does not include key usage extension\"). The next CA, which carousel makes, has keyCertSign and cRLSign; to fix it now, re-sign it with its own key: "+renewCommand)
	}
	if len(c.SubjectKeyId) == 0 && c.BasicConstraintsValid && c.IsCA {
		a.Warnings = append(a.Warnings, "the CA certificate has no subject key identifier, so the leaves it signs carry no authority key identifier: Go and OpenSSL accept them, but OpenSSL's strict verification (Python 3.13 and later by default) refuses them (\"Missing Authority Key Identifier\"). The next CA, which carousel makes, has one; to fix it now, re-sign it with its own key: "+renewCommand)
	}
	return a
}

// ClockSkew is how far in the future a CA to adopt may begin: a CA made a
// moment ago on a machine whose clock runs a little ahead is valid by the
// time anything rolls out.
const ClockSkew = 5 * time.Minute

// CheckValidAt refuses a CA to adopt that is not valid at now (give or
// take ClockSkew for its start): every leaf it signed, and every one
// carousel would issue with it, would be refused by every client. The
// message names the way out.
func CheckValidAt(c *x509.Certificate, now time.Time) error {
	day := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	switch {
	case now.After(c.NotAfter):
		return fmt.Errorf("the CA %q expired on %s: no client accepts a certificate it signs, so carousel cannot adopt it for a rotation that overlaps trust. Either renew it with its own key first (the subject and key stay, so leaves it signs verify again): %s, and adopt ca-renewed.crt; or make a new CA (`carousel init` without --ca-cert) and replace the cluster's trust at once, as the CA's expiry already broke it (docs/rotations.md, \"Adopting a CA\")",
			c.Subject.CommonName, day(c.NotAfter), "openssl x509 -in ca.crt -signkey ca.key -days 3650 -out ca-renewed.crt")
	case now.Add(ClockSkew).Before(c.NotBefore):
		return fmt.Errorf("the CA %q is not valid until %s (now %s): every client would refuse the leaves it signs until then. Check this machine's clock (and the clock of the machine that made the CA); adopt it once it is valid, or re-sign it with its own key from now: %s, and adopt ca-renewed.crt (docs/rotations.md, \"Adopting a CA\")",
			c.Subject.CommonName, day(c.NotBefore), day(now), "openssl x509 -in ca.crt -signkey ca.key -days 3650 -out ca-renewed.crt")
	}
	return nil
}
