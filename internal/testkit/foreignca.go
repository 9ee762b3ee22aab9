package testkit

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/cloudflare/cfssl/csr"
	"github.com/cloudflare/cfssl/initca"
	"k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

// The foreign CAs: CAs as other tools write them, for the adoption tests
// (`carousel init --ca-cert --ca-key`) of every package. Each builder
// writes ca.crt and ca.key into dir, as its tool does, and returns them;
// one place, so the corpus a package adopts is the corpus every package
// adopts.

// ForeignCA is a CA's certificate and key PEM, as its tool wrote them.
type ForeignCA struct{ Cert, Key []byte }

// KubeadmCA is the CA kubeadm's own code makes (bin/kubeadm-ca, over
// pkiutil.NewCertificateAuthority): with algorithm "" kubeadm's default,
// RSA 2048 in PKCS#1 with keyCertSign but no cRLSign; "ECDSA-P256" as
// encryptionAlgorithm: ECDSA-P256 makes it.
func KubeadmCA(t testing.TB, dir, algorithm string) ForeignCA {
	t.Helper()
	args := []string{"make", "-dir", dir}
	if algorithm != "" {
		args = append(args, "-algorithm", algorithm)
	}
	runTool(t, dir, Tool(t, "kubeadm-ca"), args...)
	return readCA(t, dir)
}

// OpenSSLCA makes a CA with the real openssl: keygen is the key command's
// arguments (writing ca.key), ext the certificate's extension section
// ("" makes none: a version-1 certificate).
func OpenSSLCA(t testing.TB, dir string, keygen []string, ext string) ForeignCA {
	t.Helper()
	runTool(t, dir, "openssl", keygen...)
	cnf := "[req]\ndistinguished_name=dn\nprompt=no\n[dn]\nO=example\nCN=openssl-ca\n[ext]\n" + ext
	if err := os.WriteFile(filepath.Join(dir, "req.cnf"), []byte(cnf), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"req", "-x509", "-new", "-key", "ca.key", "-config", "req.cnf", "-days", "1095", "-sha256", "-out", "ca.crt"}
	if ext != "" {
		args = append(args, "-extensions", "ext")
	}
	runTool(t, dir, "openssl", args...)
	return readCA(t, dir)
}

// OpenSSL's key commands for OpenSSLCA.
var (
	OpenSSLRSA = []string{"genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "ca.key"}
	// openssl's own EC recipe: SEC 1, after an "EC PARAMETERS" block.
	OpenSSLECParam = []string{"ecparam", "-name", "prime256v1", "-genkey", "-out", "ca.key"}
	OpenSSLEd25519 = []string{"genpkey", "-algorithm", "ED25519", "-out", "ca.key"}
)

// RKECA is the CA RKE makes (pki.GenerateCACertAndKey): an RSA 2048 key,
// client-go's NewSelfSignedCACert with CN kube-ca (keyCertSign, no
// cRLSign), the key written as PKCS#1 by client-go's keyutil.
func RKECA(t testing.TB, dir string) ForeignCA {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cert.NewSelfSignedCACert(cert.Config{CommonName: "kube-ca"}, key)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := keyutil.MarshalPrivateKeyToPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	return ForeignCA{pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), kp}.WriteTo(t, dir)
}

// CfsslCA is `cfssl gencert -initca ca-csr.json` for an RSA 2048 CA: the
// command is initca.New over the parsed request.
func CfsslCA(t testing.TB, dir string) ForeignCA {
	t.Helper()
	var req csr.CertificateRequest
	if err := json.Unmarshal([]byte(`{"CN": "cfssl-ca", "key": {"algo": "rsa", "size": 2048}, "names": [{"O": "example"}]}`), &req); err != nil {
		t.Fatal(err)
	}
	c, _, k, err := initca.New(&req)
	if err != nil {
		t.Fatal(err)
	}
	return ForeignCA{c, k}.WriteTo(t, dir)
}

// WriteTo writes the CA into dir as ca.crt and ca.key, as the foreign
// CAs' tools do, and returns it.
func (ca ForeignCA) WriteTo(t testing.TB, dir string) ForeignCA {
	t.Helper()
	for name, b := range map[string][]byte{"ca.crt": ca.Cert, "ca.key": ca.Key} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return ca
}

func readCA(t testing.TB, dir string) ForeignCA {
	t.Helper()
	var ca ForeignCA
	for name, b := range map[string]*[]byte{"ca.crt": &ca.Cert, "ca.key": &ca.Key} {
		v, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		*b = v
	}
	return ca
}

// runTool runs another program (a tool the corpus uses) in dir and fails
// the test on an error, showing its output.
func runTool(t testing.TB, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// Adopt makes a package of the CARotation rotation, adopts the ca.crt and
// ca.key in caDir with the real `carousel init --ca-cert --ca-key`, starts
// the rotation (plaintext keys: throwaway material in a temporary
// directory) and returns the package's directory.
func Adopt(t testing.TB, rotation, caDir string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "carousel.yaml"), []byte(rotation), 0o644); err != nil {
		t.Fatal(err)
	}
	pkg := Cmd{Dir: dir}
	pkg.Must(t, "init", "carousel.yaml", "--ca-cert", filepath.Join(caDir, "ca.crt"), "--ca-key", filepath.Join(caDir, "ca.key"), "--plaintext-keys")
	pkg.Must(t, "start", "carousel.yaml", "--plaintext-keys")
	return dir
}
