// Package pki makes and checks the key material of a rotation. Making keys is
// the only place carousel uses randomness: `carousel init`/`start` call it
// once and commit the result, and rendering only reads what was committed.
// Certificates are made with cfssl, the CA toolkit Kubernetes' own docs point
// to for manual rotation.
package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cloudflare/cfssl/config"
	"github.com/cloudflare/cfssl/csr"
	"github.com/cloudflare/cfssl/helpers"
	"github.com/cloudflare/cfssl/initca"
	cflog "github.com/cloudflare/cfssl/log"
	"github.com/cloudflare/cfssl/signer"
	"github.com/cloudflare/cfssl/signer/local"
)

func init() {
	// cfssl logs every issuance at info level; carousel reports on its own.
	cflog.Level = cflog.LevelError
	cflog.SetLogger(quietLogger{})
}

type quietLogger struct{}

func (quietLogger) Debug(string)   {}
func (quietLogger) Info(string)    {}
func (quietLogger) Warning(string) {}
func (quietLogger) Err(string)     {}
func (quietLogger) Crit(string)    {}
func (quietLogger) Emerg(string)   {}

// KeyRequest maps a spec key algorithm (ecdsa-p256, rsa-2048, ...) to cfssl's.
func KeyRequest(algorithm string) (*csr.KeyRequest, error) {
	switch {
	case algorithm == "ecdsa-p256":
		return &csr.KeyRequest{A: "ecdsa", S: 256}, nil
	case algorithm == "ecdsa-p384":
		return &csr.KeyRequest{A: "ecdsa", S: 384}, nil
	case algorithm == "ed25519":
		return &csr.KeyRequest{A: "ed25519"}, nil
	case strings.HasPrefix(algorithm, "rsa-"):
		n, err := strconv.Atoi(strings.TrimPrefix(algorithm, "rsa-"))
		if err != nil || n < 2048 {
			return nil, fmt.Errorf("key algorithm %q: RSA keys must be at least 2048 bits", algorithm)
		}
		return &csr.KeyRequest{A: "rsa", S: n}, nil
	}
	return nil, fmt.Errorf("unsupported key algorithm %q", algorithm)
}

// CARequest describes a CA to make.
type CARequest struct {
	CommonName   string
	Organization []string
	Validity     time.Duration
	Algorithm    string
	// Encoding of the key's PEM: pkcs8, pkcs1, sec1, or empty for cfssl's
	// own (PKCS#1 for RSA, SEC 1 for ECDSA, "Ed25519 PRIVATE KEY" for
	// Ed25519).
	Encoding   string
	PathLength *int
}

// Pair is a certificate and its private key, both PEM.
type Pair struct {
	CertPEM []byte
	KeyPEM  []byte
}

// Parse reads the pair's certificate and key and refuses a key that is
// not the certificate's: every use of a CA's key (signing a request,
// renewing the CA, cross-signing another) starts here.
func (p Pair) Parse() (*x509.Certificate, crypto.Signer, error) {
	cert, err := ParseCert(p.CertPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the CA certificate: %w", err)
	}
	key, err := ParseKey(p.KeyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the CA key: %w", err)
	}
	if !KeyMatches(cert, key) {
		return nil, nil, fmt.Errorf("the CA key does not match the CA certificate %q", cert.Subject.CommonName)
	}
	return cert, key, nil
}

// NewCA makes a self-signed CA.
func NewCA(r CARequest) (Pair, error) {
	kr, err := KeyRequest(r.Algorithm)
	if err != nil {
		return Pair{}, err
	}
	req := &csr.CertificateRequest{
		CN:         r.CommonName,
		Names:      names(r.Organization),
		KeyRequest: kr,
		CA:         &csr.CAConfig{Expiry: r.Validity.String()},
	}
	if r.PathLength != nil {
		req.CA.PathLength = *r.PathLength
		req.CA.PathLenZero = *r.PathLength == 0
	}
	cert, _, key, err := initca.New(req)
	if err != nil {
		return Pair{}, fmt.Errorf("making CA %q: %w", r.CommonName, err)
	}
	if key, err = EncodeKey(key, r.Encoding); err != nil {
		return Pair{}, fmt.Errorf("making CA %q: %w", r.CommonName, err)
	}
	return Pair{CertPEM: cert, KeyPEM: key}, nil
}

// LeafRequest describes a certificate to issue.
type LeafRequest struct {
	CommonName   string
	Organization []string
	DNSNames     []string
	IPAddresses  []string
	// Usages: server, client.
	Usages    []string
	IsCA      bool
	Validity  time.Duration
	Algorithm string
	// Encoding as in CARequest.
	Encoding string
}

// Issue makes a key and a certificate for it signed by the CA. The leaf never
// outlives its issuer: its NotAfter is capped at the CA's.
func Issue(ca Pair, r LeafRequest) (Pair, error) {
	kr, err := KeyRequest(r.Algorithm)
	if err != nil {
		return Pair{}, err
	}
	req := &csr.CertificateRequest{
		CN:         r.CommonName,
		Names:      names(r.Organization),
		Hosts:      append(slices.Clone(r.DNSNames), r.IPAddresses...),
		KeyRequest: kr,
	}
	csrPEM, keyPEM, err := csr.ParseRequest(req)
	if err != nil {
		return Pair{}, fmt.Errorf("making key for %q: %w", r.CommonName, err)
	}
	if keyPEM, err = EncodeKey(keyPEM, r.Encoding); err != nil {
		return Pair{}, fmt.Errorf("making key for %q: %w", r.CommonName, err)
	}
	cert, err := SignCSR(ca, csrPEM, r)
	if err != nil {
		return Pair{}, err
	}
	return Pair{CertPEM: cert, KeyPEM: keyPEM}, nil
}

// SignCSR signs a PEM certificate request with the CA, using the names and
// usages of r (the request's own extensions are not trusted).
func SignCSR(ca Pair, csrPEM []byte, r LeafRequest) ([]byte, error) {
	caCert, caKey, err := ca.Parse()
	if err != nil {
		return nil, err
	}
	notAfter := time.Now().Add(r.Validity)
	if notAfter.After(caCert.NotAfter) {
		notAfter = caCert.NotAfter
	}
	profile := &config.SigningProfile{
		Usage:        usages(r),
		Expiry:       r.Validity,
		ExpiryString: r.Validity.String(),
		NotAfter:     notAfter,
		// Sign with the names of the spec, not the ones the CSR claims.
		NameWhitelist: nil,
	}
	if r.IsCA {
		profile.CAConstraint = config.CAConstraint{IsCA: true, MaxPathLen: 0, MaxPathLenZero: true}
	}
	policy := &config.Signing{Default: profile}
	s, err := local.NewSigner(caKey, caCert, signer.DefaultSigAlgo(caKey), policy)
	if err != nil {
		return nil, fmt.Errorf("making signer: %w", err)
	}
	cert, err := s.Sign(signer.SignRequest{
		Request: string(csrPEM),
		Hosts:   append(slices.Clone(r.DNSNames), r.IPAddresses...),
		Subject: &signer.Subject{CN: r.CommonName, Names: names(r.Organization)},
	})
	if err != nil {
		return nil, fmt.Errorf("signing %q: %w", r.CommonName, err)
	}
	return cert, nil
}

func usages(r LeafRequest) []string {
	u := []string{"digital signature", "key encipherment"}
	if r.IsCA {
		u = append(u, "cert sign", "crl sign")
	}
	for _, x := range r.Usages {
		u = append(u, x+" auth")
	}
	return u
}

func names(orgs []string) []csr.Name {
	var out []csr.Name
	for _, o := range orgs {
		out = append(out, csr.Name{O: o})
	}
	return out
}

// ParseCert reads the first certificate of a PEM block sequence.
func ParseCert(b []byte) (*x509.Certificate, error) {
	certs, err := ParseCerts(b)
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}

// ParseCerts reads every certificate of a PEM sequence; anything else in it
// is an error, so a key pasted into a bundle is caught, not ignored.
func ParseCerts(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := b
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("unexpected PEM block %q where certificates were expected", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing certificate: %w", err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("trailing data after the PEM certificates")
	}
	return out, nil
}

// ParseKey reads a PEM private key (PKCS#1, PKCS#8 or SEC 1), by its block
// type, so a key in any encoding carousel writes reads back. An "EC
// PARAMETERS" block before the key (what `openssl ecparam -genkey` writes
// by default) is skipped, as Go's tls.X509KeyPair and OpenSSL skip it.
func ParseKey(b []byte) (crypto.Signer, error) {
	block, rest := pem.Decode(b)
	for block != nil && block.Type == "EC PARAMETERS" {
		b = rest
		block, rest = pem.Decode(rest)
	}
	if block == nil {
		return nil, errors.New("parsing private key: no PEM block")
	}
	var k any
	var err error
	switch block.Type {
	case PEMTypePKCS8:
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case PEMTypePKCS1:
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case PEMTypeSEC1:
		k, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		// cfssl's own "Ed25519 PRIVATE KEY", which carousel wrote by
		// default for Ed25519 keys.
		if k, err = helpers.ParsePrivateKeyPEM(b); err != nil {
			return nil, fmt.Errorf("parsing private key: %w", err)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("parsing private key (%s): %w", block.Type, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("parsing private key: %T cannot sign", k)
	}
	return s, nil
}

// PEM block types of the key encodings.
const (
	PEMTypePKCS8 = "PRIVATE KEY"
	PEMTypePKCS1 = "RSA PRIVATE KEY"
	PEMTypeSEC1  = "EC PRIVATE KEY"
)

// KeyPEMType is the PEM block type a key in encoding is written as; for the
// empty (default) encoding, the one cfssl writes for the key's algorithm.
func KeyPEMType(encoding, algorithm string) string {
	switch encoding {
	case "pkcs8":
		return PEMTypePKCS8
	case "pkcs1":
		return PEMTypePKCS1
	case "sec1":
		return PEMTypeSEC1
	}
	switch {
	case strings.HasPrefix(algorithm, "rsa-"):
		return PEMTypePKCS1
	case strings.HasPrefix(algorithm, "ecdsa-"):
		return PEMTypeSEC1
	}
	return "Ed25519 PRIVATE KEY" // cfssl's own block
}

// EncodeKey rewrites a PEM private key in encoding (pkcs8, pkcs1 for RSA,
// sec1 for ECDSA). The empty encoding returns keyPEM untouched, so material
// made before encodings existed, and goldens over it, stay byte-identical.
func EncodeKey(keyPEM []byte, encoding string) ([]byte, error) {
	if encoding == "" {
		return keyPEM, nil
	}
	k, err := ParseKey(keyPEM)
	if err != nil {
		return nil, err
	}
	var block pem.Block
	switch encoding {
	case "pkcs8":
		block.Type = PEMTypePKCS8
		block.Bytes, err = x509.MarshalPKCS8PrivateKey(k)
	case "pkcs1":
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("PKCS#1 holds RSA keys only, not %T", k)
		}
		block.Type, block.Bytes = PEMTypePKCS1, x509.MarshalPKCS1PrivateKey(rk)
	case "sec1":
		ek, ok := k.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("SEC 1 holds ECDSA keys only, not %T", k)
		}
		block.Type = PEMTypeSEC1
		block.Bytes, err = x509.MarshalECPrivateKey(ek)
	default:
		return nil, fmt.Errorf("%q is not a key encoding (want pkcs8, pkcs1 or sec1)", encoding)
	}
	if err != nil {
		return nil, fmt.Errorf("encoding the key as %s: %w", encoding, err)
	}
	return pem.EncodeToMemory(&block), nil
}

// KeyMatches reports whether key is the private half of cert's public key.
func KeyMatches(cert *x509.Certificate, key crypto.Signer) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	pub, ok := key.Public().(equaler)
	return ok && pub.Equal(cert.PublicKey)
}

// Fingerprint is the hex SHA-256 of the certificate's DER bytes.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// EncodeCerts writes certificates as PEM in the given order.
func EncodeCerts(certs ...*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

// Bundle is a trusted set written deterministically: deduplicated and sorted
// by SHA-256 fingerprint, so the bytes change only when the set changes
// (trust-manager writes its bundles the same way).
func Bundle(certs ...*x509.Certificate) []byte {
	return EncodeCerts(SortedSet(certs...)...)
}

// SortedSet deduplicates certificates and sorts them by fingerprint.
func SortedSet(certs ...*x509.Certificate) []*x509.Certificate {
	byFP := map[string]*x509.Certificate{}
	for _, c := range certs {
		byFP[Fingerprint(c)] = c
	}
	fps := make([]string, 0, len(byFP))
	for fp := range byFP {
		fps = append(fps, fp)
	}
	slices.Sort(fps)
	out := make([]*x509.Certificate, len(fps))
	for i, fp := range fps {
		out[i] = byFP[fp]
	}
	return out
}

// CheckCA reports why a certificate cannot act as a CA, or nil.
func CheckCA(c *x509.Certificate) error {
	if !c.BasicConstraintsValid || !c.IsCA {
		return errors.New("the certificate is not a CA (basic constraints CA:TRUE missing)")
	}
	if c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageCertSign == 0 {
		return errors.New("the CA certificate lacks the certSign key usage")
	}
	return nil
}

// CheckSignedBy reports whether leaf was signed by ca's key. It checks the
// signature only, not validity dates, so rendering does not depend on the
// clock; expiry is reported separately.
func CheckSignedBy(leaf, ca *x509.Certificate) error {
	if err := leaf.CheckSignatureFrom(ca); err != nil {
		return fmt.Errorf("not signed by CA %q (sha256 %s): %w", ca.Subject.CommonName, Fingerprint(ca)[:16], err)
	}
	return nil
}

// PublicKeyAlgorithm names a certificate's key the way the spec does.
func PublicKeyAlgorithm(c *x509.Certificate) string {
	switch k := c.PublicKey.(type) {
	case *ecdsa.PublicKey:
		return "ecdsa-p" + strconv.Itoa(k.Curve.Params().BitSize)
	case *rsa.PublicKey:
		return "rsa-" + strconv.Itoa(k.N.BitLen())
	case ed25519.PublicKey:
		return "ed25519"
	}
	return "unknown"
}

// ChainRoot is the self-signed root at the end of chain, each certificate
// of which the next one signed.
func ChainRoot(chain []*x509.Certificate) (*x509.Certificate, error) {
	if len(chain) < 2 {
		return nil, errors.New("holds the CA alone, no root after it")
	}
	for i := 0; i+1 < len(chain); i++ {
		if err := CheckSignedBy(chain[i], chain[i+1]); err != nil {
			return nil, fmt.Errorf("breaks at %q: %w", chain[i].Subject.CommonName, err)
		}
	}
	root := chain[len(chain)-1]
	if err := CheckSignedBy(root, root); err != nil {
		return nil, fmt.Errorf("ends in %q, which is not self-signed: %w", root.Subject.CommonName, err)
	}
	return root, nil
}
