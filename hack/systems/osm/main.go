// osm-tresor: OSM's own Tresor code judging an osm-ca-bundle Secret. It reads
// a decrypted osm-system/osm-ca-bundle Secret (YAML on stdin or -f FILE),
// loads it as osm-controller does in Tresor mode (castorage/k8s
// GetCertificateFromSecret over a client holding the Secret: the Secret
// exists, so OSM loads it instead of writing its own), has Tresor issue a
// service certificate with it, and verifies that certificate with
// crypto/x509 against the CA OSM loaded. Exit 0: accepted; 1: refused, with
// OSM's error (a panic in OSM's code is a refusal too: osm-controller would
// crash); 2: unusable input (encrypted, a key missing, no osm-ca-bundle).
package main

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"

	"github.com/openservicemesh/osm/pkg/certificate"
	"github.com/openservicemesh/osm/pkg/certificate/castorage/k8s"
	"github.com/openservicemesh/osm/pkg/certificate/providers/tresor"
	"github.com/openservicemesh/osm/pkg/constants"
	"github.com/rs/zerolog"
)

// The Secret's name and the service certificate's parameters, as OSM's
// chart and controller use them.
const (
	secretName = "osm-ca-bundle"
	service    = "bookstore.bookstore.cluster.local"
	// osm-controller's --certificate-key-bit-size default and the
	// organization it passes Tresor.
	keyBitSize   = 2048
	organization = "Open Service Mesh"
)

type usageError struct{ error }

type secret struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	Data       map[string]string `json:"data"`
	StringData map[string]string `json:"stringData"`
	Sops       any               `json:"sops"`
}

func main() {
	file := flag.String("f", "", "read the Secret from FILE instead of stdin")
	flag.Parse()
	zerolog.SetGlobalLevel(zerolog.Disabled) // OSM's logs; its errors are returned
	err := run(*file, os.Stdout)
	var u usageError
	switch {
	case err == nil:
	case errors.As(err, &u):
		fmt.Fprintln(os.Stderr, "osm-tresor: unusable input:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "osm-tresor: refused:", err)
		os.Exit(1)
	}
}

func run(file string, out io.Writer) (err error) {
	var in []byte
	if file != "" {
		in, err = os.ReadFile(file)
	} else {
		in, err = io.ReadAll(os.Stdin)
	}
	if err != nil {
		return usageError{err}
	}
	ns, data, err := bundle(in)
	if err != nil {
		return usageError{err}
	}
	// OSM's key decoding asserts an RSA key and panics on another: report
	// it as OSM's refusal (osm-controller would crash-loop).
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("OSM's code panicked (osm-controller would crash): %v", p)
		}
	}()

	// 1. osm-controller's load: the Secret exists, so OSM's Create fails with
	// AlreadyExists and OSM reads ca.crt and private.key from it. The
	// certificate it would have created instead is never used.
	client := fake.NewSimpleClientset(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: secretName, Namespace: ns},
		Data:       data,
	})
	unused, err := tresor.NewCA("unused", time.Hour, "", "", organization)
	if err != nil {
		return usageError{err}
	}
	ca, err := k8s.GetCertificateFromSecret(ns, secretName, unused, client)
	if err != nil {
		return fmt.Errorf("OSM cannot load %s/%s: %w", ns, secretName, err)
	}
	if ca.GetPrivateKey() == nil {
		return fmt.Errorf("OSM loaded %s/%s without a private key: %w", ns, secretName, certificate.ErrInvalidCertSecret)
	}

	// 2. Tresor, as osm-controller makes it, issues a service certificate.
	cm, err := tresor.New(ca, organization, keyBitSize)
	if err != nil {
		return fmt.Errorf("OSM cannot make Tresor with %s/%s: %w", ns, secretName, err)
	}
	cert, err := cm.IssueCertificate(service, time.Hour)
	if err != nil {
		return fmt.Errorf("Tresor cannot issue a service certificate with %s/%s: %w", ns, secretName, err)
	}

	// 3. The certificate chains to the CA Tresor signs with, and the trusted
	// set OSM hands the proxies (TrustedCAs) contains that CA.
	leaf, err := certificate.DecodePEMCertificate(cert.GetCertificateChain())
	if err != nil {
		return fmt.Errorf("Tresor's certificate: %w", err)
	}
	signer, err := certificate.DecodePEMCertificate(ca.GetCertificateChain())
	if err != nil {
		return fmt.Errorf("OSM's CA: %w", err)
	}
	trusted := x509.NewCertPool()
	var fps []string
	for _, c := range parseCerts(cert.GetTrustedCAs()) {
		trusted.AddCert(c)
		fps = append(fps, fingerprint(c))
	}
	for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		chains, err := leaf.Verify(x509.VerifyOptions{Roots: trusted, KeyUsages: []x509.ExtKeyUsage{u}, DNSName: service})
		if err != nil {
			return fmt.Errorf("the certificate Tresor issued does not verify against the trusted CAs OSM hands the proxies: %w", err)
		}
		if root := chains[0][len(chains[0])-1]; !root.Equal(signer) {
			return fmt.Errorf("the certificate Tresor issued chains to %s, not to the signing CA %s", fingerprint(root), fingerprint(signer))
		}
	}
	fmt.Fprintf(out, "osm-ca-bundle %s/%s: OSM loaded the CA %q %s\n", ns, secretName, signer.Subject.CommonName, fingerprint(signer))
	fmt.Fprintf(out, "trusted CAs (ca.crt): %d: %s\n", len(fps), joinSpace(fps))
	fmt.Fprintf(out, "service %s: issued by Tresor, verifies for server and client auth up to %s\n", service, fingerprint(signer))
	return nil
}

// bundle finds the osm-ca-bundle Secret in a YAML stream and returns its
// namespace and data (data decoded, stringData as is).
func bundle(in []byte) (string, map[string][]byte, error) {
	for _, doc := range bytes.Split(append([]byte("\n"), in...), []byte("\n---")) {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var s secret
		if err := yaml.Unmarshal(doc, &s); err != nil {
			return "", nil, fmt.Errorf("reading YAML: %w", err)
		}
		if s.Kind != "Secret" || s.Metadata.Name != secretName {
			continue
		}
		if s.Sops != nil {
			return "", nil, errors.New("the osm-ca-bundle Secret is still SOPS-encrypted: decrypt it first (sops --decrypt), as the GitOps tool does")
		}
		data := map[string][]byte{}
		for k, v := range s.Data {
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				return "", nil, fmt.Errorf("data.%s: %w", k, err)
			}
			data[k] = b
		}
		for k, v := range s.StringData {
			data[k] = []byte(v)
		}
		for _, k := range []string{constants.KubernetesOpaqueSecretCAKey, constants.KubernetesOpaqueSecretRootPrivateKeyKey} {
			if len(data[k]) == 0 {
				return "", nil, fmt.Errorf("the osm-ca-bundle Secret has no %s: OSM reads its CA from ca.crt and private.key", k)
			}
		}
		return s.Metadata.Namespace, data, nil
	}
	return "", nil, errors.New("no Secret named osm-ca-bundle in the input")
}

func fingerprint(c *x509.Certificate) string {
	return fmt.Sprintf("sha256:%x", sha256.Sum256(c.Raw))
}

func joinSpace(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(x)
	}
	return b.String()
}

func parseCerts(b []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return out
		}
		if c, err := x509.ParseCertificate(block.Bytes); err == nil {
			out = append(out, c)
		}
	}
}
