package fn

import (
	"bytes"
	"context"
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
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/apiserver"
	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/plan"
	"github.com/carousel-dev/carousel/pkg/rotate"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// recoverRotation is a kubeadm cluster CA on the recover route: the API
// server's serving certificate and its kubelet client certificate are
// leaves of the rotation (the runbook installs them), and so is the
// admin's client certificate (a user account: `carousel kubeconfig`).
const recoverRotation = `apiVersion: carousel.dev/v1alpha1
kind: CARotation
metadata:
  name: cluster-ca
spec:
  scope: recover
  phase: steady
  runbook: RUNBOOK
  ca:
    commonName: kubernetes
    validity: 8760h
  clusterInfo:
    server: SERVER
  leaves:
  - name: apiserver
    secret: {name: apiserver-tls, namespace: kube-system}
    commonName: kube-apiserver
    dnsNames: [localhost]
    ipAddresses: [127.0.0.1]
    usages: [server]
  - name: apiserver-kubelet-client
    secret: {name: apiserver-kubelet-client-tls, namespace: kube-system}
    commonName: kube-apiserver-kubelet-client
    organization: [system:masters]
    usages: [client]
  - name: admin
    secret: {name: admin-client, namespace: kube-system}
    commonName: kubernetes-admin
    organization: [system:masters]
    usages: [client]
`

func recoverPackageDir(t *testing.T, runbook, server string) string {
	t.Helper()
	dir := t.TempDir()
	body := strings.NewReplacer("RUNBOOK", runbook, "SERVER", server).Replace(recoverRotation)
	writeFile(t, dir, "carousel.yaml", []byte(body))
	return dir
}

// testCA is a CA made in the test with crypto/x509, with the dates asked:
// kubeadm's CA as it stands on a cluster whose CA expired.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T, notBefore, notAfter time.Time) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "kubernetes"},
		NotBefore: notBefore, NotAfter: notAfter, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature, SubjectKeyId: []byte{7, 7, 7, 7},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return testCA{cert, key}
}

func (c testCA) certPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Raw})
}

func (c testCA) keyPEM(t *testing.T) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(c.key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// issue signs a leaf with the CA: a serving certificate for 127.0.0.1, or a
// client certificate of cn in orgs, valid until the CA's end.
func (c testCA) issue(t *testing.T, cn string, orgs []string, server bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn, Organization: orgs},
		NotBefore: c.cert.NotBefore, NotAfter: c.cert.NotAfter, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd})
}

// clientKubeconfig is a kubeconfig as kubeadm writes admin.conf: the
// server, the CA it trusts and an embedded client certificate.
func clientKubeconfig(t *testing.T, path, server string, caPEM, certPEM, keyPEM []byte) string {
	t.Helper()
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	body := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: kubernetes
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: kubernetes-admin
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: admin
  context: {cluster: kubernetes, user: kubernetes-admin}
current-context: admin
`, server, b64(caPEM), b64(certPEM), b64(keyPEM))
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// kubectlWith runs the real kubectl with a kubeconfig and nothing else of
// the environment's (no KUBECONFIG, a cache of its own).
func kubectlWith(t *testing.T, kubeconfig string, stdin []byte, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, testkit.Tool(t, "kubectl"), append([]string{"--kubeconfig", kubeconfig, "--request-timeout=30s"}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "KUBECACHEDIR="+t.TempDir())
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String() + errb.String(), fmt.Errorf("%v: %s", err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// TestRecoverBringsBackAnAPIServerWhoseCAExpired is issue 24's acceptance
// for the recover route, with a real kube-apiserver: started on an expired
// CA's certificates (made here, dated in the past), kubectl with the
// admin's kubeconfig fails because the certificate expired. carousel adopts
// the expired CA (init, spec.scope recover), starts the recovery, advances
// to replace; the runbook's node steps that write the CA files and the API
// server's certificates run with bash and sops against the directory the
// API server reads; the API server restarts on them (its readiness probe
// now verifying its certificate against the new CA); the admin kubeconfig
// `carousel kubeconfig` writes for replace works, and replace's rendered
// objects apply with it. The old kubeconfig still fails, and its client
// certificate is no longer accepted.
func TestRecoverBringsBackAnAPIServerWhoseCAExpired(t *testing.T) {
	s := apiserver.Start(t)
	node := t.TempDir()
	pkiDir := filepath.Join(node, "etc", "kubernetes", "pki")
	if err := os.MkdirAll(pkiDir, 0o700); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	expired := newTestCA(t, now.AddDate(-1, 0, 0), now.Add(-2*time.Hour))
	servingCert, servingKey := expired.issue(t, "kube-apiserver", nil, true)
	adminCert, adminKey := expired.issue(t, "kubernetes-admin", []string{"system:masters"}, false)
	caCrt := writeFile(t, pkiDir, "ca.crt", expired.certPEM())
	caKey := writeFile(t, pkiDir, "ca.key", expired.keyPEM(t))
	apiCrt := writeFile(t, pkiDir, "apiserver.crt", servingCert)
	apiKey := writeFile(t, pkiDir, "apiserver.key", servingKey)

	sib := s.SiblingWith(t, caCrt, apiCrt, apiKey, apiserver.SiblingOptions{Unverified: true})
	home := t.TempDir() // the admin's machine
	oldKubeconfig := clientKubeconfig(t, filepath.Join(home, "old-admin.conf"), sib.URL, expired.certPEM(), adminCert, adminKey)
	if out, err := kubectlWith(t, oldKubeconfig, nil, "get", "--raw", "/readyz"); err == nil || !strings.Contains(err.Error(), "certificate has expired") {
		t.Fatalf("kubectl against the API server of an expired CA must fail because the certificate expired: %v\n%s", err, out)
	}

	dir := recoverPackageDir(t, "kubernetes", sib.URL)
	cmd := testkit.Cmd{Dir: dir, AgeKey: true}
	r := cmd.Run(t, "init", "carousel.yaml", "--ca-cert", caCrt, "--ca-key", caKey, "--age", demoRecipient)
	if r.Code != 0 || !strings.Contains(r.Stderr, "adopted only because spec.scope is recover") {
		t.Fatalf("init must adopt the expired CA for recover, with a warning: exit %d\n%s", r.Code, r.Out)
	}
	gitIn(t, dir, "init", "-q", "-b", "main")
	git := func(msg string) {
		t.Helper()
		gitIn(t, dir, "add", "-A")
		gitIn(t, dir, "-c", "user.email=t@example.dev", "-c", "user.name=t", "commit", "-qm", msg)
	}
	git("adopt the expired CA")
	r = cmd.Must(t, "start", "carousel.yaml", "--scope", "recover", "--age", demoRecipient)
	if !strings.Contains(r.Stderr, "expired on") {
		t.Errorf("start must say why it recovers:\n%s", r.Out)
	}
	git("start the recovery")

	p := testkit.Load(t, dir)
	rot, err := spec.Load(p.Config)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := plan.Build(rot, p.Config, p.CopyItems(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if pl.Next == nil || pl.Next.To != phases.Replace || !pl.Next.RunbookBefore || len(pl.Next.Runbook) < 2 {
		t.Fatalf("the plan at steady must move to replace with node steps before it: %+v", pl.Next)
	}
	text := cmd.Must(t, "plan", "carousel.yaml").Stdout
	for _, want := range []string{"BEFORE this commit is merged: the API server accepts no one", "steady           ok             FAILS", "Write the new CA as ca.crt and ca.key"} {
		if !strings.Contains(text, want) {
			t.Errorf("plan does not say %q:\n%s", want, text)
		}
	}

	// The node steps that write what the API server reads: the CA files,
	// then its certificates (the rotation's own leaves: no kubeadm).
	env := append(os.Environ(), "KUBE_ROOT="+node, "SOPS_AGE_KEY_FILE="+filepath.Join(testkit.Root(t), testkit.AgeKeyFile),
		"PATH="+filepath.Dir(testkit.Tool(t, "sops"))+string(os.PathListSeparator)+os.Getenv("PATH"))
	for _, st := range pl.Next.Runbook[:2] {
		for _, c := range st.Commands {
			if strings.Contains(c, "kubeadm") {
				t.Fatalf("the package lists the API server's certificates, but a step has kubeadm issue one: %s", c)
			}
			sh := exec.Command("bash", "--noprofile", "--norc", "-c", c)
			sh.Dir, sh.Env = dir, env
			if out, err := sh.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", st.Title, err, out)
			}
		}
	}
	pr := filepath.Join(t.TempDir(), "pr.md")
	cmd.Must(t, "advance", "carousel.yaml", "--no-cluster", "--out", pr)
	if body, _ := os.ReadFile(pr); !bytes.Contains(body, []byte("None: the recover route has no rollback, which would trust the expired (or keyless) CA again")) {
		t.Errorf("the pull request must say there is no rollback, for recover:\n%s", body)
	}
	pkg, err := rotate.Load(filepath.Join(dir, "carousel.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if pkg.Rotation.Spec.Phase != phases.Replace {
		t.Fatalf("advance must move to replace, at %s", pkg.Rotation.Spec.Phase)
	}
	git("replace")
	set, err := pkg.Material()
	if err != nil {
		t.Fatal(err)
	}
	newCA := set.CA[phases.New].Cert()

	// The restart the runbook's static-pod step makes: the same server,
	// on the files the steps wrote; the probe verifies its certificate
	// against the new CA.
	sib.Stop()
	roots := x509.NewCertPool()
	roots.AddCert(newCA)
	sib = s.SiblingWith(t, caCrt, apiCrt, apiKey, apiserver.SiblingOptions{Roots: roots, Restarts: sib})

	newKubeconfig := filepath.Join(home, "admin.conf")
	cmd.Must(t, "kubeconfig", "carousel.yaml", "--leaf", "admin", "--phase", "replace", "--out", newKubeconfig)
	if out, err := kubectlWith(t, newKubeconfig, nil, "get", "--raw", "/readyz"); err != nil || strings.TrimSpace(out) != "ok" {
		t.Fatalf("the new admin kubeconfig against the recovered API server: %v\n%s", err, out)
	}
	if out, err := kubectlWith(t, newKubeconfig, nil, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"); err != nil || out != "kubernetes-admin" {
		t.Errorf("the new admin kubeconfig authenticates as %q (%v), want kubernetes-admin", out, err)
	}

	// replace's objects, as a GitOps tool with the material's key applies
	// them once the API server is back.
	var objs []*yaml.RNode
	for _, n := range renderPackage(t, dir, time.Now()) {
		if n.Field("sops") != nil {
			plain, err := testkit.DecryptAs(t, filepath.Join(testkit.Root(t), testkit.AgeKeyFile), []byte(n.MustString()))
			if err != nil {
				t.Fatalf("decrypting %s/%s: %v\n%s", n.GetNamespace(), n.GetName(), err, plain)
			}
			if n, err = yaml.Parse(string(plain)); err != nil {
				t.Fatal(err)
			}
		}
		objs = append(objs, n)
	}
	if out, err := kubectlWith(t, newKubeconfig, []byte(testkit.String(objs)), "apply", "--server-side", "--field-manager=test", "-f", "-"); err != nil {
		t.Fatalf("applying replace's objects: %v\n%s", err, out)
	}
	served, err := kubectlWith(t, newKubeconfig, nil, "get", "secret", "apiserver-tls", "-n", "kube-system", "-o", `jsonpath={.data.tls\.crt}`)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := base64.StdEncoding.DecodeString(served); !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(mustRead(t, apiCrt))) {
		t.Errorf("the applied apiserver-tls Secret is not the certificate the runbook installed")
	}

	// The old kubeconfig still fails: the server's certificate is no
	// longer the expired CA's, and its client certificate is refused.
	if out, err := kubectlWith(t, oldKubeconfig, nil, "get", "--raw", "/readyz"); err == nil || !strings.Contains(err.Error(), "x509") {
		t.Errorf("the old kubeconfig against the recovered API server must fail verification: %v\n%s", err, out)
	}
	// (401: the API server refuses a client certificate it cannot verify.)
	if out, err := kubectlWith(t, oldKubeconfig, nil, "--insecure-skip-tls-verify", "get", "namespaces"); err == nil || !strings.Contains(err.Error(), "the server has asked for the client to provide credentials") {
		t.Errorf("the expired CA's client certificate must not authenticate against the recovered API server: %v\n%s", err, out)
	}
}

// TestRecoverStartsFromAnExpiredOrKeylessCAAndRefusesAnythingElse holds
// `start --scope recover` to what the route is for. It starts when the
// current CA expired (and its leaves with it), when its KeyPair holds no
// key, and when its key cannot be decrypted: nothing of the old generation
// is read but its certificate. It refuses, exit non-zero with the fix and
// the package byte for byte as it was, a valid CA whose key is held (under
// either spec.scope) and a rotation that is not at steady. Where it
// starts, steady renders with warnings that name the way out; scope ca
// over the same material is an error.
func TestRecoverStartsFromAnExpiredOrKeylessCAAndRefusesAnythingElse(t *testing.T) {
	refused := func(t *testing.T, cmd testkit.Cmd, dir string, wants ...string) {
		t.Helper()
		before := snapshotDir(t, dir)
		r := cmd.Run(t, "start", "carousel.yaml", "--scope", "recover", "--age", demoRecipient)
		if r.Code == 0 {
			t.Fatalf("start --scope recover must refuse:\n%s", r.Out)
		}
		for _, w := range wants {
			if !strings.Contains(r.Stderr, w) {
				t.Errorf("the refusal does not say %q:\n%s", w, r.Stderr)
			}
		}
		after := snapshotDir(t, dir)
		if len(after) != len(before) {
			t.Errorf("the refused start added or removed files: %d before, %d after", len(before), len(after))
		}
		for f, b := range before {
			if after[f] != b {
				t.Errorf("the refused start changed %s", f)
			}
		}
	}
	started := func(t *testing.T, cmd testkit.Cmd, dir, why string) {
		t.Helper()
		r := cmd.Run(t, "start", "carousel.yaml", "--scope", "recover", "--age", demoRecipient)
		if r.Code != 0 || !strings.Contains(r.Stderr, why) {
			t.Fatalf("start --scope recover must start, saying %q: exit %d\n%s", why, r.Code, r.Out)
		}
		for _, f := range []string{"ca-new.yaml", "leaf-apiserver-new.yaml", "leaf-admin-new.yaml"} {
			if _, err := os.Stat(filepath.Join(dir, "material", f)); err != nil {
				t.Errorf("start wrote no %s: %v", f, err)
			}
		}
		if b := (testkit.Cmd{Dir: dir, AgeKey: true}).Run(t, "build", "."); b.Code != 0 {
			t.Errorf("steady must still render after start: exit %d\n%s", b.Code, b.Out)
		}
	}

	t.Run("a valid CA whose key is held is refused, naming scope ca and scope emergency", func(t *testing.T) {
		for _, scope := range []string{"recover", "ca"} {
			dir := recoverPackageDir(t, "none", "https://127.0.0.1:6443")
			editRotationFile(t, dir, "scope: recover", "scope: "+scope)
			cmd := testkit.Cmd{Dir: dir, AgeKey: true}
			cmd.Must(t, "init", "carousel.yaml", "--age", demoRecipient)
			refused(t, cmd, dir, "nothing to recover", "scope ca", "keeps every handshake", "scope emergency")
		}
	})

	t.Run("a CA and leaves that expired start, and steady renders with warnings where scope ca errors", func(t *testing.T) {
		dir := recoverPackageDir(t, "none", "https://127.0.0.1:6443")
		ca := newTestCA(t, time.Now().Add(-time.Hour), time.Now().Add(4*time.Second))
		crt := writeFile(t, t.TempDir(), "ca.crt", ca.certPEM())
		key := writeFile(t, t.TempDir(), "ca.key", ca.keyPEM(t))
		cmd := testkit.Cmd{Dir: dir, AgeKey: true}
		cmd.Must(t, "init", "carousel.yaml", "--ca-cert", crt, "--ca-key", key, "--age", demoRecipient)
		time.Sleep(time.Until(ca.cert.NotAfter.Add(1500 * time.Millisecond)))
		b := cmd.Run(t, "build", ".")
		for _, want := range []string{`the old CA "kubernetes" expired on`, `leaf "apiserver" expired on`, "advance to replace (`carousel advance`)"} {
			if b.Code != 0 || !strings.Contains(b.Stderr, want) {
				t.Errorf("steady of scope recover must render, warning %q: exit %d\n%s", want, b.Code, b.Out)
			}
		}
		editRotationFile(t, dir, "scope: recover", "scope: ca")
		if b := cmd.Run(t, "build", "."); b.Code == 0 || !strings.Contains(b.Out, `leaf "apiserver" expired on`) {
			t.Errorf("steady of scope ca over an expired leaf must be an error: exit %d\n%s", b.Code, b.Out)
		}
		editRotationFile(t, dir, "scope: ca", "scope: recover")
		started(t, cmd, dir, "expired on")
		if r := cmd.Run(t, "plan", "carousel.yaml"); r.Code != 0 || !strings.Contains(r.Stdout, "Next: steady -> replace") {
			t.Errorf("plan at steady of recover must plan replace: exit %d\n%s", r.Code, r.Out)
		}
		gitIn(t, dir, "init", "-q", "-b", "main")
		cmd.Must(t, "advance", "carousel.yaml", "--no-cluster", "--out", filepath.Join(t.TempDir(), "pr.md"))
		if r := cmd.Run(t, "plan", "carousel.yaml"); !strings.Contains(r.Stdout, "== Rollback: none: the recover route has no rollback, which would trust the expired (or keyless) CA again") {
			t.Errorf("plan at replace must say there is no rollback, for recover:\n%s", r.Out)
		}
		refused(t, cmd, dir, "recover starts at steady, and spec.phase is replace")
	})

	t.Run("a CA whose KeyPair holds no key starts, and its node steps need no old key", func(t *testing.T) {
		dir := recoverPackageDir(t, "kubernetes", "https://127.0.0.1:6443")
		ca := newTestCA(t, time.Now().Add(-time.Hour), time.Now().AddDate(1, 0, 0))
		crt := writeFile(t, t.TempDir(), "ca.crt", ca.certPEM())
		cmd := testkit.Cmd{Dir: dir, AgeKey: true}
		cmd.Must(t, "init", "carousel.yaml", "--ca-cert", crt)
		if b := cmd.Run(t, "build", "."); b.Code != 0 || !strings.Contains(b.Stderr, `has no old generation of leaf "apiserver"`) {
			t.Errorf("steady of scope recover without old leaves must render, warning: exit %d\n%s", b.Code, b.Out)
		}
		started(t, cmd, dir, "has no key in the material")
		if r := cmd.Run(t, "plan", "carousel.yaml"); r.Code != 0 || !strings.Contains(r.Stdout, "Write the new CA as ca.crt and ca.key") {
			t.Errorf("plan must list the node steps of a recovery from a keyless CA: exit %d\n%s", r.Code, r.Out)
		}
	})

	t.Run("a valid CA whose key cannot be decrypted is refused until the loss is declared in the material", func(t *testing.T) {
		dir := recoverPackageDir(t, "none", "https://127.0.0.1:6443")
		testkit.Cmd{Dir: dir, AgeKey: true}.Must(t, "init", "carousel.yaml", "--age", demoRecipient)
		other, _ := ageIdentity(t) // the demo identity is not at hand: only another one
		cmd := testkit.Cmd{Dir: dir, Env: []string{"SOPS_AGE_KEY_FILE=" + other, "SOPS_AGE_KEY="}}
		refused(t, cmd, dir, "key cannot be read", "does not take an unreadable key for a lost one", "remove `data` and `sops`")
		// The loss, declared: the current CA's KeyPair without its key.
		f := filepath.Join(dir, "material", "ca-old.yaml")
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		n := yaml.MustParse(string(b))
		if err := n.PipeE(yaml.Clear("data")); err != nil {
			t.Fatal(err)
		}
		if err := n.PipeE(yaml.Clear("sops")); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Dir(f), "ca-old.yaml", []byte(n.MustString()))
		started(t, cmd, dir, "has no key in the material")
	})
}
