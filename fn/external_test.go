package fn

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
)

// openssl runs the real openssl CLI in dir: the external CA of these tests.
func openssl(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("openssl", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl %v: %v\n%s", args, err, out)
	}
}

func TestAnExternalCASignsTheCSRsAndImportCompletesTheMaterial(t *testing.T) {
	dir, recipient, identity := newRotationPackage(t)
	pkg := testkit.Cmd{Dir: dir}
	pkg.Must(t, "init", "carousel.yaml", "--age", recipient)
	pkg.Must(t, "csr", "carousel.yaml", "--ca", "--leaf", "policy-webhook", "--leaf", "metrics-client", "--age", recipient)
	pending := filepath.Join(dir, "material", "pending")
	for _, f := range []string{"ca-new.yaml", "ca-new.csr", "leaf-policy-webhook-new.csr", "leaf-metrics-client-new.yaml"} {
		b, err := os.ReadFile(filepath.Join(pending, f))
		if err != nil {
			t.Fatalf("csr did not write %s", f)
		}
		if leaks := plaintextKeys(b); len(leaks) > 0 {
			t.Fatalf("%s holds a plaintext key: %v", f, leaks)
		}
	}

	// The external CA: a root made and used with the real openssl.
	ca := t.TempDir()
	openssl(t, ca, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "root.key")
	openssl(t, ca, "req", "-x509", "-new", "-key", "root.key", "-subj", "/CN=external root", "-days", "7300", "-sha256",
		"-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", "root.pem")
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(ca, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("int.ext", "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
	write("server.ext", "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:policy-webhook.policy.svc,DNS:policy-webhook.policy.svc.cluster.local\nauthorityKeyIdentifier=keyid\n")
	write("client.ext", "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\nauthorityKeyIdentifier=keyid\n")
	openssl(t, ca, "x509", "-req", "-in", filepath.Join(pending, "ca-new.csr"), "-CA", "root.pem", "-CAkey", "root.key", "-CAcreateserial",
		"-days", "3650", "-sha256", "-extfile", "int.ext", "-out", "int.pem")

	pkg.Must(t, "import", "carousel.yaml", "--cert", filepath.Join(ca, "int.pem"), "--chain", filepath.Join(ca, "root.pem"))

	// The intermediate's key is ours: decrypt it to play the external CA
	// signing the leaves under it.
	caPair := testkit.Parse(t, mustRead(t, filepath.Join(dir, "material", "ca-new.yaml")))[0]
	plain := decryptWith(t, identity, caPair.MustString())
	keyB64, _ := plain.Pipe(yamlLookup("data", "tls.key"))
	if err := os.WriteFile(filepath.Join(ca, "int.key"), decodeB64(t, keyB64), 0o600); err != nil {
		t.Fatal(err)
	}
	openssl(t, ca, "x509", "-req", "-in", filepath.Join(pending, "leaf-policy-webhook-new.csr"), "-CA", "int.pem", "-CAkey", "int.key",
		"-CAcreateserial", "-days", "365", "-sha256", "-extfile", "server.ext", "-out", "webhook.pem")
	openssl(t, ca, "x509", "-req", "-in", filepath.Join(pending, "leaf-metrics-client-new.csr"), "-CA", "int.pem", "-CAkey", "int.key",
		"-CAcreateserial", "-days", "365", "-sha256", "-extfile", "client.ext", "-out", "client.pem")

	// A certificate for a key no CSR holds is refused.
	openssl(t, ca, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "other.key")
	openssl(t, ca, "req", "-new", "-key", "other.key", "-subj", "/CN=system:metrics-scraper", "-out", "other.csr")
	openssl(t, ca, "x509", "-req", "-in", "other.csr", "-CA", "int.pem", "-CAkey", "int.key", "-CAcreateserial", "-days", "365", "-extfile", "client.ext", "-out", "otherkey.pem")
	if r := pkg.Run(t, "import", "carousel.yaml", "--cert", filepath.Join(ca, "otherkey.pem")); r.Err == nil || !strings.Contains(r.Out, "wrong key") {
		t.Fatalf("a certificate for another key must be refused: %v %s", r.Err, r.Out)
	}
	// A certificate for this key but another request (other names) is refused.
	openssl(t, ca, "x509", "-req", "-in", filepath.Join(pending, "leaf-metrics-client-new.csr"), "-CA", "int.pem", "-CAkey", "int.key",
		"-CAcreateserial", "-days", "365", "-extfile", "server.ext", "-subj", "/CN=intruder", "-out", "othercsr.pem")
	if r := pkg.Run(t, "import", "carousel.yaml", "--cert", filepath.Join(ca, "othercsr.pem")); r.Err == nil || !strings.Contains(r.Out, "does not match its CSR") {
		t.Fatalf("a certificate for another request must be refused: %v %s", r.Err, r.Out)
	}
	// A pending key swapped with another pending key (its value and sops
	// metadata: it decrypts, to the other request's key) is refused when
	// the age identity can decrypt it, naming both pairs, and nothing is
	// written. Swapping back restores the requests.
	swapPending := func() {
		a, b := filepath.Join(pending, "leaf-policy-webhook-new.yaml"), filepath.Join(pending, "leaf-metrics-client-new.yaml")
		na, nb := testkit.Parse(t, mustRead(t, a))[0], testkit.Parse(t, mustRead(t, b))[0]
		if err := os.WriteFile(a, []byte(testkit.SwapKey(t, na, nb, "tls.key").MustString()), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(b, []byte(testkit.SwapKey(t, nb, na, "tls.key").MustString()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	swapPending()
	before := snapshotDir(t, dir)
	r := testkit.Cmd{Dir: dir, Env: []string{"SOPS_AGE_KEY_FILE=" + identity}}.Run(t, "import", "carousel.yaml", "--cert", filepath.Join(ca, "webhook.pem"))
	if r.Err == nil || !strings.Contains(r.Out, "KeyPair cluster-ca-leaf-policy-webhook-new holds the private key of KeyPair cluster-ca-leaf-metrics-client-new") {
		t.Fatalf("a swapped pending key must be refused naming both pairs: %v %s", r.Err, r.Out)
	}
	if !maps.Equal(before, snapshotDir(t, dir)) {
		t.Fatal("a refused import changed the package")
	}
	swapPending()
	pkg.Must(t, "import", "carousel.yaml", "--cert", filepath.Join(ca, "webhook.pem"), "--cert", filepath.Join(ca, "client.pem"))
	if entries, _ := os.ReadDir(pending); len(entries) != 0 {
		t.Fatalf("imported requests must leave pending/: %v", entries)
	}
	// The completed material renders every phase, and its keys still decrypt.
	for _, phase := range []phases.Phase{phases.Steady, phases.TrustNew, phases.SignNew, phases.DistrustOld, phases.Cleanup} {
		testkit.SetPhase(t, dir, phase)
		checkDecrypts(t, string(phase), testkit.KustomizeDir(t, dir), identity, 3)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
