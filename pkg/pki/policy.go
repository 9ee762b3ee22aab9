package pki

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"net"
	"slices"
)

// weakSignatures are refused in any certificate carousel renders.
var weakSignatures = []x509.SignatureAlgorithm{
	x509.MD2WithRSA, x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1,
}

// CommonPolicy applies the rules every certificate follows: no SHA-1 or MD5
// signature, no RSA key under 2048 bits. Check it before the signature: Go
// refuses to verify SHA-1, which would hide the real reason.
func CommonPolicy(c *x509.Certificate) []error {
	var errs []error
	if slices.Contains(weakSignatures, c.SignatureAlgorithm) {
		errs = append(errs, fmt.Errorf("signed with %s: SHA-1 and MD5 signatures are refused", c.SignatureAlgorithm))
	}
	if k, ok := c.PublicKey.(*rsa.PublicKey); ok && k.N.BitLen() < 2048 {
		errs = append(errs, fmt.Errorf("RSA key of %d bits: at least 2048 are required", k.N.BitLen()))
	}
	return errs
}

// CAPolicy checks a CA certificate: CA:TRUE, certSign and cRLSign, the path
// length the spec asks for, a subject key identifier, and no weak crypto.
func CAPolicy(c *x509.Certificate, pathLength *int) []error {
	errs := CommonPolicy(c)
	if err := CheckCA(c); err != nil {
		errs = append(errs, err)
	}
	if c.KeyUsage&x509.KeyUsageCertSign == 0 || c.KeyUsage&x509.KeyUsageCRLSign == 0 {
		errs = append(errs, fmt.Errorf("a CA needs the certSign and cRLSign key usages"))
	}
	if len(c.SubjectKeyId) == 0 {
		errs = append(errs, fmt.Errorf("the CA has no subject key identifier: leaves could not name it"))
	}
	if pathLength != nil {
		got := -1
		if c.MaxPathLen > 0 || c.MaxPathLenZero {
			got = c.MaxPathLen
		}
		if got != *pathLength {
			errs = append(errs, fmt.Errorf("path length %d, but spec.ca.pathLength is %d", got, *pathLength))
		}
	}
	return errs
}

// LeafWant is what the spec says a leaf must be.
type LeafWant struct {
	DNSNames    []string
	IPAddresses []string
	Usages      []string // server, client
	IsCA        bool
}

// LeafPolicy checks a leaf against its issuer and its spec: it never outlives
// the issuer, its authority key identifier names the issuer's subject key
// identifier, and its names and usages are the spec's. (CommonPolicy is
// checked separately, before the signature.)
func LeafPolicy(leaf, issuer *x509.Certificate, want LeafWant) []error {
	var errs []error
	if leaf.NotAfter.After(issuer.NotAfter) {
		errs = append(errs, fmt.Errorf("expires %s, after its issuer (%s): a leaf never outlives its CA",
			leaf.NotAfter.UTC().Format("2006-01-02"), issuer.NotAfter.UTC().Format("2006-01-02")))
	}
	if len(issuer.SubjectKeyId) > 0 && !bytes.Equal(leaf.AuthorityKeyId, issuer.SubjectKeyId) {
		errs = append(errs, fmt.Errorf("its authority key identifier %x does not name the issuer's subject key identifier %x", leaf.AuthorityKeyId, issuer.SubjectKeyId))
	}
	if !sameSet(leaf.DNSNames, want.DNSNames) {
		errs = append(errs, fmt.Errorf("DNS names %v, but the spec says %v", leaf.DNSNames, want.DNSNames))
	}
	var ips []string
	for _, ip := range leaf.IPAddresses {
		ips = append(ips, ip.String())
	}
	var wantIPs []string
	for _, ip := range want.IPAddresses {
		wantIPs = append(wantIPs, net.ParseIP(ip).String())
	}
	if !sameSet(ips, wantIPs) {
		errs = append(errs, fmt.Errorf("IP addresses %v, but the spec says %v", ips, wantIPs))
	}
	for _, u := range want.Usages {
		eku := map[string]x509.ExtKeyUsage{"server": x509.ExtKeyUsageServerAuth, "client": x509.ExtKeyUsageClientAuth}[u]
		if !slices.Contains(leaf.ExtKeyUsage, eku) && !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageAny) {
			errs = append(errs, fmt.Errorf("lacks the %s auth extended key usage the spec asks for", u))
		}
	}
	if want.IsCA != (leaf.BasicConstraintsValid && leaf.IsCA) {
		errs = append(errs, fmt.Errorf("CA:%v, but the spec says isCA: %v", leaf.IsCA, want.IsCA))
	}
	return errs
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}
