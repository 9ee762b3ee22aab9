// Command istio-cacerts loads a rendered, decrypted istio-system/cacerts
// Secret the way istiod loads its plug-in CA, with Istio's own code, and
// signs a workload certificate with it.
//
//	istio-cacerts [-f FILE] [-id SPIFFE_ID]
//
// It reads a YAML stream (stdin by default), takes the Secret named cacerts,
// writes its keys into a directory as the Secret volume istiod mounts at
// /etc/cacerts would, and then:
//
//  1. builds a verified key-cert bundle from the PEM bytes
//     (util.NewVerifiedKeyCertBundleFromPem: ca-cert.pem must chain to a
//     root of root-cert.pem through cert-chain.pem, and ca-key.pem must be
//     its key);
//  2. builds the plug-in CA from the files, as istiod does for a complete
//     cacerts bundle (ca.NewPluggedCertIstioCAOptions, which also requires
//     ca-cert.pem to be a CA, then ca.NewIstioCA);
//  3. has that CA sign a workload CSR made by Istio's CSR code, as istiod
//     does for a sidecar, and checks the returned chain (workload
//     certificate, then cert-chain.pem) verifies against root-cert.pem for
//     both server and client authentication (sidecars do mutual TLS), with
//     Istio's own certificate verifier and with crypto/x509.
//
// Exit status: 0 when Istio accepts the Secret and its workload certificate
// verifies; 1 when Istio (or the workload check) refuses it, with the error;
// 2 when the input is unusable (no cacerts Secret, still SOPS-encrypted, a
// key missing), so a test can tell a refusal from a broken harness.
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
	"path/filepath"
	"strings"
	"time"

	"istio.io/istio/security/pkg/pki/ca"
	"istio.io/istio/security/pkg/pki/util"
	"sigs.k8s.io/yaml"
)

// secret is the part of a Secret manifest the check reads.
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

// usageError is input the check cannot judge (exit 2), as opposed to a
// cacerts Secret Istio refuses (exit 1).
type usageError struct{ error }

func main() {
	file := flag.String("f", "-", "YAML stream holding the cacerts Secret (- for stdin)")
	id := flag.String("id", "spiffe://cluster.local/ns/bookinfo/sa/default", "SPIFFE ID of the workload certificate to sign")
	flag.Parse()
	if err := run(*file, *id, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "istio-cacerts:", err)
		var u usageError
		if errors.As(err, &u) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func run(file, id string, out io.Writer) error {
	var in []byte
	var err error
	if file == "-" {
		in, err = io.ReadAll(os.Stdin)
	} else {
		in, err = os.ReadFile(file)
	}
	if err != nil {
		return usageError{err}
	}
	files, err := cacerts(in)
	if err != nil {
		return usageError{err}
	}

	// 1. The key-cert bundle, from the PEM bytes.
	if _, err := util.NewVerifiedKeyCertBundleFromPem(files[ca.CACertFile], files[ca.CAPrivateKeyFile],
		files[ca.CertChainFile], files[ca.RootCertFile], nil); err != nil {
		return fmt.Errorf("Istio's key-cert bundle refuses cacerts: %w", err)
	}

	// 2. The plug-in CA, from files laid out as the Secret volume is.
	dir, err := os.MkdirTemp("", "cacerts")
	if err != nil {
		return usageError{err}
	}
	defer os.RemoveAll(dir)
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return usageError{err}
		}
	}
	opts, err := ca.NewPluggedCertIstioCAOptions(ca.SigningCAFileBundle{
		RootCertFile:    filepath.Join(dir, ca.RootCertFile),
		CertChainFiles:  []string{filepath.Join(dir, ca.CertChainFile)},
		SigningCertFile: filepath.Join(dir, ca.CACertFile),
		SigningKeyFile:  filepath.Join(dir, ca.CAPrivateKeyFile),
	}, 24*time.Hour, 90*24*time.Hour, 2048)
	if err != nil {
		return fmt.Errorf("Istio's plug-in CA refuses cacerts: %w", err)
	}
	istioCA, err := ca.NewIstioCA(opts)
	if err != nil {
		return fmt.Errorf("Istio's CA does not start: %w", err)
	}

	// 3. A workload certificate, as istiod signs one for a sidecar.
	csr, key, err := util.GenCSR(util.CertOptions{Host: id, ECSigAlg: util.EcdsaSigAlg})
	if err != nil {
		return usageError{fmt.Errorf("making a workload CSR: %w", err)}
	}
	chain, err := istioCA.SignWithCertChain(csr, ca.CertOpts{SubjectIDs: []string{id}, TTL: time.Hour})
	if err != nil {
		return fmt.Errorf("Istio's CA cannot sign a workload certificate: %w", err)
	}
	chainPEM := []byte(strings.Join(chain, ""))
	if err := util.VerifyCertificate(key, chainPEM, files[ca.RootCertFile], &util.VerifyFields{
		Host:        id,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}); err != nil {
		return fmt.Errorf("the workload certificate Istio signed does not verify against root-cert.pem: %w", err)
	}
	// Istio's verifier accepts any extended key usage; a sidecar's peer asks
	// for server or client authentication, which an intermediate's own
	// extended key usages may forbid.
	root, err := verifyFor(chainPEM, files[ca.RootCertFile])
	if err != nil {
		return fmt.Errorf("the workload certificate Istio signed does not verify against root-cert.pem: %w", err)
	}

	// Both roots of an overlap usually share a name: fingerprints tell the
	// generations apart.
	certs := parseCerts(chainPEM)
	var roots []string
	for _, r := range parseCerts(files[ca.RootCertFile]) {
		roots = append(roots, fingerprint(r))
	}
	fmt.Fprintf(out, "cacerts %s/%s: Istio loaded the plug-in CA %q (issued by %q)\n",
		namespaceOf(in), ca.CACertsSecret, certs[1].Subject.CommonName, certs[1].Issuer.CommonName)
	fmt.Fprintf(out, "root-cert.pem: %d root(s): %s\n", len(roots), strings.Join(roots, " "))
	fmt.Fprintf(out, "workload %s: signed by %q, chain of %d, verifies for server and client auth up to root %s\n",
		id, certs[0].Issuer.CommonName, len(certs), fingerprint(root))
	return nil
}

// fingerprint names a certificate by the SHA-256 of its DER bytes.
func fingerprint(c *x509.Certificate) string {
	return fmt.Sprintf("sha256:%x", sha256.Sum256(c.Raw))
}

// cacerts finds the Secret named cacerts in a YAML stream and returns its
// files (data decoded, stringData as is), refusing one still encrypted.
func cacerts(in []byte) (map[string][]byte, error) {
	for _, doc := range splitDocs(in) {
		var s secret
		if err := yaml.Unmarshal(doc, &s); err != nil {
			return nil, fmt.Errorf("reading YAML: %w", err)
		}
		if s.Kind != "Secret" || s.Metadata.Name != ca.CACertsSecret {
			continue
		}
		if s.Sops != nil {
			return nil, errors.New("the cacerts Secret is still SOPS-encrypted: decrypt it first (sops --decrypt), as the GitOps tool does")
		}
		files := map[string][]byte{}
		for k, v := range s.Data {
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				return nil, fmt.Errorf("data.%s: %w", k, err)
			}
			files[k] = b
		}
		for k, v := range s.StringData {
			files[k] = []byte(v)
		}
		for _, k := range []string{ca.CACertFile, ca.CAPrivateKeyFile, ca.CertChainFile, ca.RootCertFile} {
			if len(files[k]) == 0 {
				return nil, fmt.Errorf("the cacerts Secret has no %s: istiod would not load it as a plug-in CA", k)
			}
		}
		return files, nil
	}
	return nil, errors.New("no Secret named cacerts in the input")
}

func splitDocs(in []byte) [][]byte {
	var docs [][]byte
	for _, d := range bytes.Split(append([]byte("\n"), in...), []byte("\n---")) {
		if len(bytes.TrimSpace(d)) > 0 {
			docs = append(docs, d)
		}
	}
	return docs
}

func namespaceOf(in []byte) string {
	for _, doc := range splitDocs(in) {
		var s secret
		if yaml.Unmarshal(doc, &s) == nil && s.Kind == "Secret" && s.Metadata.Name == ca.CACertsSecret {
			return s.Metadata.Namespace
		}
	}
	return ""
}

// verifyFor checks the chain's first certificate for server and for client
// authentication, with the rest of the chain as intermediates, and returns
// the root it chains to.
func verifyFor(chainPEM, rootPEM []byte) (*x509.Certificate, error) {
	certs := parseCerts(chainPEM)
	if len(certs) < 2 {
		return nil, fmt.Errorf("the chain holds %d certificate(s), want the workload certificate and cert-chain.pem", len(certs))
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, c := range parseCerts(rootPEM) {
		roots.AddCert(c)
	}
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	var root *x509.Certificate
	for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		chains, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{u}})
		if err != nil {
			return nil, fmt.Errorf("for %s: %w", map[x509.ExtKeyUsage]string{x509.ExtKeyUsageServerAuth: "server auth", x509.ExtKeyUsageClientAuth: "client auth"}[u], err)
		}
		root = chains[0][len(chains[0])-1]
	}
	return root, nil
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
