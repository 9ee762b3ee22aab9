package apiserver

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// certs are the files of the test server's throwaway PKI: one CA signs the
// serving certificate and the admin client certificate; the service-account
// token key pair stands alone.
type certs struct {
	caCert, serverCert, serverKey, adminCert, adminKey, saKey, saPub string
}

// writeCerts makes the PKI in dir/pki. Keys are fresh per run: this is a
// test server, nothing it signs outlives the test binary.
func writeCerts(dir string) (*certs, error) {
	pki := filepath.Join(dir, "pki")
	if err := os.MkdirAll(pki, 0o700); err != nil {
		return nil, err
	}
	c := &certs{
		caCert:     filepath.Join(pki, "ca.crt"),
		serverCert: filepath.Join(pki, "apiserver.crt"),
		serverKey:  filepath.Join(pki, "apiserver.key"),
		adminCert:  filepath.Join(pki, "admin.crt"),
		adminKey:   filepath.Join(pki, "admin.key"),
		saKey:      filepath.Join(pki, "sa.key"),
		saPub:      filepath.Join(pki, "sa.pub"),
	}
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "carousel-test-apiserver-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, ca, err := sign(caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, err
	}
	if err := writePEM(c.caCert, "CERTIFICATE", caDER); err != nil {
		return nil, err
	}
	leaves := []struct {
		tmpl              *x509.Certificate
		certPath, keyPath string
	}{
		{&x509.Certificate{
			Subject:     pkix.Name{CommonName: "kube-apiserver"},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(10, 0, 0, 1)},
		}, c.serverCert, c.serverKey},
		{&x509.Certificate{
			Subject:     pkix.Name{CommonName: "carousel-test-admin", Organization: []string{"system:masters"}},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}, c.adminCert, c.adminKey},
	}
	for _, l := range leaves {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		l.tmpl.NotBefore, l.tmpl.NotAfter = caTmpl.NotBefore, caTmpl.NotAfter
		l.tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		der, _, err := sign(l.tmpl, ca, key.Public(), caKey)
		if err != nil {
			return nil, err
		}
		if err := writePEM(l.certPath, "CERTIFICATE", der); err != nil {
			return nil, err
		}
		if err := writeKey(l.keyPath, key); err != nil {
			return nil, err
		}
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	if err := writeKey(c.saKey, saKey); err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(saKey.Public())
	if err != nil {
		return nil, err
	}
	if err := writePEM(c.saPub, "PUBLIC KEY", pub); err != nil {
		return nil, err
	}
	return c, nil
}

func sign(tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) ([]byte, *x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serial
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		return nil, nil, fmt.Errorf("signing %s: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	return der, cert, err
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return writePEM(path, "PRIVATE KEY", der)
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}

// kubeconfig is the admin kubeconfig, with the credentials inline so it
// can be copied elsewhere.
func (c *certs) kubeconfig(url string) []byte {
	b64 := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			panic(err) // written a moment ago by writeCerts
		}
		return base64.StdEncoding.EncodeToString(b)
	}
	return fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: admin
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: test
  context:
    cluster: test
    user: admin
current-context: test
`, url, b64(c.caCert), b64(c.adminCert), b64(c.adminKey))
}
