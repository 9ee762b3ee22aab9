package fn

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/apiserver"
	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/rotate"
)

// userRotation is a cluster CA rotation with a user account (jane, in
// group carousel:developers) and the API server's serving certificate, both
// leaves, so a real kube-apiserver can be run on the material of any phase.
const userRotation = `apiVersion: carousel.dev/v1alpha1
kind: CARotation
metadata:
  name: cluster-ca
spec:
  phase: steady
  ca:
    commonName: kubernetes
  clusterInfo:
    server: https://10.0.0.1:6443
  leaves:
  - name: apiserver
    secret: {name: apiserver-tls, namespace: kube-system}
    commonName: kube-apiserver
    dnsNames: [localhost]
    ipAddresses: [127.0.0.1]
    usages: [server]
  - name: jane
    secret: {name: jane-client, namespace: kube-system}
    commonName: jane
    organization: [carousel:developers]
    usages: [client]
`

// phaseServer is the material a kube-apiserver of a phase runs on: the
// phase's trusted set as --client-ca-file, the phase's apiserver leaf as its
// serving pair. Read from the KeyPairs (keys decrypted with the demo
// identity), not from anything the command under test wrote.
func phaseServer(t *testing.T, p *rotate.Package, ph phases.Phase, dir string) (clientCA, cert, key string, roots *x509.CertPool) {
	t.Helper()
	set, err := p.Material()
	if err != nil {
		t.Fatal(err)
	}
	st, err := phases.Lookup(p.Rotation.Spec.Scope, ph)
	if err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	var trusted []*x509.Certificate
	for _, g := range st.Trusted {
		trusted = append(trusted, set.CA[g].Cert())
		roots.AddCert(set.CA[g].Cert())
	}
	leaf, err := material.Parse(testkit.Decrypt(t, set.Leaves["apiserver"][st.Leaves].Source))
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := leaf.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	clientCA, cert, key = filepath.Join(dir, "client-ca.crt"), filepath.Join(dir, "apiserver.crt"), filepath.Join(dir, "apiserver.key")
	for f, b := range map[string][]byte{clientCA: pki.Bundle(trusted...), cert: pki.EncodeCerts(leaf.Certs...), key: keyPEM} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return clientCA, cert, key, roots
}

// whoami asks the API server at url who the kubeconfig's credentials are
// (a SelfSubjectReview, which every authenticated user may create).
func whoami(t *testing.T, kubeconfig, url string) (string, error) {
	t.Helper()
	cmd := exec.Command(testkit.Tool(t, "kubectl"), "--kubeconfig", kubeconfig, "--server", url, "--request-timeout=30s",
		"auth", "whoami", "-o", `jsonpath={.status.userInfo.username} {.status.userInfo.groups}`)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%v: %s", err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// TestAUserKubeconfigAuthenticatesInItsPhaseAndTheNextOnes is the page's
// "update client-certificate-data and client-key-data" for user accounts,
// with the real kube-apiserver: for every phase of a CA rotation, the
// kubeconfig `carousel kubeconfig` writes authenticates jane (client
// certificate, her group) against an API server whose --client-ca-file is
// the trusted set of that phase and of each adjacent phase, and serving that
// phase's certificate, which the kubeconfig's certificate-authority-data
// verifies (API servers of two adjacent phases run side by side while
// the control plane rolls). Two phases apart it fails (steady's
// kubeconfig against distrust-old's server), so the check can fail.
func TestAUserKubeconfigAuthenticatesInItsPhaseAndTheNextOnes(t *testing.T) {
	s := apiserver.Start(t)
	dir := t.TempDir()
	for name, body := range map[string]string{"carousel.yaml": userRotation} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Cmd{Dir: dir, AgeKey: true}.Must(t, "init", "carousel.yaml", "--age", demoRecipient)
	testkit.Cmd{Dir: dir, AgeKey: true}.Must(t, "start", "carousel.yaml", "--age", demoRecipient)
	p, err := rotate.Load(filepath.Join(dir, "carousel.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir() // the user's machine, outside the repository
	seq, _ := phases.Sequence(phases.ScopeCA)
	kubeconfigs := map[phases.Phase]string{}
	servers := map[phases.Phase]string{}
	started := map[string]string{} // API servers by their material: one per distinct configuration
	for _, ph := range seq {
		kc := filepath.Join(home, ".kube", string(ph)+".conf")
		testkit.Cmd{Dir: dir, AgeKey: true}.Must(t, "kubeconfig", "carousel.yaml", "--leaf", "jane", "--phase", string(ph), "--out", kc)
		kubeconfigs[ph] = kc
		info, err := os.Stat(kc)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s: the kubeconfig has mode %v, want 0600", ph, info.Mode().Perm())
		}
		checkKubeconfigShape(t, p, ph, kc)
		sdir := filepath.Join(t.TempDir(), string(ph))
		if err := os.MkdirAll(sdir, 0o700); err != nil {
			t.Fatal(err)
		}
		clientCA, cert, key, roots := phaseServer(t, p, ph, sdir)
		id := fileSum(t, clientCA) + fileSum(t, cert)
		if url, ok := started[id]; ok {
			servers[ph] = url
			continue
		}
		servers[ph] = s.Sibling(t, clientCA, cert, key, roots)
		started[id] = servers[ph]
	}
	for i, kph := range seq {
		for j, sph := range seq {
			apart := i - j
			if apart < 0 {
				apart = -apart
			}
			who, err := whoami(t, kubeconfigs[kph], servers[sph])
			switch {
			case apart <= 1 && err != nil:
				t.Errorf("the %s kubeconfig against the %s API server: %v", kph, sph, err)
			case apart <= 1 && who != `jane ["carousel:developers","system:authenticated"]`:
				t.Errorf("the %s kubeconfig against the %s API server authenticates as %q, want jane in carousel:developers", kph, sph, who)
			}
			if kph == phases.Steady && sph == phases.DistrustOld && err == nil {
				t.Errorf("the steady kubeconfig (old leaf, old CA only) authenticated against the distrust-old API server (new CA only) as %q", who)
			}
		}
	}
	// Nothing the command wrote is in the package: its files hold no
	// plaintext key.
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if found := plaintextKeys(b); len(found) > 0 {
			t.Errorf("%s holds a plaintext private key: %v", path, found)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func fileSum(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkKubeconfigShape reads the kubeconfig as client-go would: one
// cluster (the spec's server, certificate-authority-data exactly the
// phase's trusted set), one user whose certificate is the phase's jane leaf
// and whose key is that certificate's.
func checkKubeconfigShape(t *testing.T, p *rotate.Package, ph phases.Phase, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := yaml.Parse(string(b))
	if err != nil {
		t.Fatalf("%s: %v", ph, err)
	}
	field := func(p ...string) []byte {
		v, err := n.Pipe(yaml.Lookup(p...))
		if err != nil || v == nil {
			t.Fatalf("%s: no %v in the kubeconfig:\n%s", ph, p, b)
		}
		d, err := base64.StdEncoding.DecodeString(yaml.GetValue(v))
		if err != nil {
			return []byte(yaml.GetValue(v))
		}
		return d
	}
	set, err := p.Material()
	if err != nil {
		t.Fatal(err)
	}
	st, _ := phases.Lookup(phases.ScopeCA, ph)
	var trusted []*x509.Certificate
	for _, g := range st.Trusted {
		trusted = append(trusted, set.CA[g].Cert())
	}
	if got := field("clusters", "[name=cluster-ca]", "cluster", "certificate-authority-data"); !bytes.Equal(got, pki.Bundle(trusted...)) {
		t.Errorf("%s: certificate-authority-data is not the trusted set %v", ph, st.Trusted)
	}
	if got := string(field("clusters", "[name=cluster-ca]", "cluster", "server")); got != "https://10.0.0.1:6443" {
		t.Errorf("%s: server %q, want spec.clusterInfo.server", ph, got)
	}
	certs, err := pki.ParseCerts(field("users", "[name=jane]", "user", "client-certificate-data"))
	if err != nil || len(certs) == 0 || !certs[0].Equal(set.Leaves["jane"][st.Leaves].Cert()) {
		t.Errorf("%s: client-certificate-data is not the %s jane leaf (%v)", ph, st.Leaves, err)
	}
	key, err := pki.ParseKey(field("users", "[name=jane]", "user", "client-key-data"))
	if err != nil {
		t.Fatalf("%s: client-key-data: %v", ph, err)
	}
	if pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(set.Leaves["jane"][st.Leaves].Cert().PublicKey) {
		t.Errorf("%s: client-key-data is not the key of the jane leaf", ph)
	}
}

// TestAKubeconfigIsNeverWrittenIntoTheRepository: the kubeconfig carries a
// plaintext key, so an output inside the package's git work tree (or the
// package directory, outside git) is refused and nothing is written; a
// server leaf, an unknown leaf and a missing server are refused by name.
func TestAKubeconfigIsNeverWrittenIntoTheRepository(t *testing.T) {
	repo := t.TempDir()
	dir := filepath.Join(repo, "clusters", "prod")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "carousel.yaml"), []byte(strings.Replace(userRotation, "  clusterInfo:\n    server: https://10.0.0.1:6443\n", "", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	testkit.Cmd{Dir: dir, AgeKey: true}.Must(t, "init", "carousel.yaml", "--age", demoRecipient)
	outside := filepath.Join(t.TempDir(), "jane.conf")
	for _, tc := range []struct {
		name string
		git  bool
		args []string
		says string
	}{
		{"the package directory, outside git", false, []string{"--leaf", "jane", "--server", "https://127.0.0.1:6443", "--out", filepath.Join(dir, "jane.conf")}, "inside the package directory"},
		{"a directory of the git work tree above the package", true, []string{"--leaf", "jane", "--server", "https://127.0.0.1:6443", "--out", filepath.Join(repo, "kube", "jane.conf")}, "inside the git work tree of the package"},
		{"a server leaf", false, []string{"--leaf", "apiserver", "--server", "https://127.0.0.1:6443", "--out", outside}, `leaf "apiserver" has usages [server]: a kubeconfig needs a client certificate`},
		{"an unknown leaf", false, []string{"--leaf", "john", "--server", "https://127.0.0.1:6443", "--out", outside}, `leaf "john" is not in spec.leaves; its client leaves are: jane`},
		{"no server", false, []string{"--leaf", "jane", "--out", outside}, "no API server URL: pass --server"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.git {
				if err := os.MkdirAll(filepath.Join(repo, ".git"), 0o755); err != nil {
					t.Fatal(err)
				}
				defer os.RemoveAll(filepath.Join(repo, ".git"))
			}
			r := testkit.Cmd{Dir: dir, AgeKey: true}.Run(t, append([]string{"kubeconfig", "carousel.yaml"}, tc.args...)...)
			if r.Err == nil || !strings.Contains(r.Out, tc.says) {
				t.Fatalf("want a refusal saying %q, got %v:\n%s", tc.says, r.Err, r.Out)
			}
			for _, f := range []string{filepath.Join(dir, "jane.conf"), filepath.Join(repo, "kube", "jane.conf"), outside} {
				if _, err := os.Stat(f); err == nil {
					t.Errorf("%s was written", f)
				}
			}
		})
	}
}

// TestAKubeconfigGoesToStdoutWithADash: `-o -` prints the kubeconfig (as
// `kubeadm kubeconfig user` does) and writes no file; without --out the
// command says where the kubeconfig may go.
func TestAKubeconfigGoesToStdoutWithADash(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "carousel.yaml"), []byte(userRotation), 0o644); err != nil {
		t.Fatal(err)
	}
	testkit.Cmd{Dir: dir, AgeKey: true}.Must(t, "init", "carousel.yaml", "--age", demoRecipient)
	before, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := testkit.Cmd{Dir: dir, AgeKey: true}.Must(t, "kubeconfig", "carousel.yaml", "--leaf", "jane", "--out", "-").Out
	n, err := yaml.Parse(out)
	if err != nil {
		t.Fatalf("stdout is not a kubeconfig: %v\n%s", err, out)
	}
	if v, _ := n.Pipe(yaml.Lookup("users", "[name=jane]", "user", "client-key-data")); v == nil || yaml.GetValue(v) == "" {
		t.Errorf("stdout has no client-key-data for jane:\n%s", out)
	}
	after, _ := os.ReadDir(dir)
	if len(after) != len(before) {
		t.Errorf("the package directory changed: %d entries, had %d", len(after), len(before))
	}
	if r := (testkit.Cmd{Dir: dir, AgeKey: true}).Run(t, "kubeconfig", "carousel.yaml", "--leaf", "jane"); r.Err == nil || !strings.Contains(r.Out, "--out FILE says where the kubeconfig goes") {
		t.Errorf("without -o: %v\n%s", r.Err, r.Out)
	}
}
