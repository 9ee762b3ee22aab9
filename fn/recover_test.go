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
