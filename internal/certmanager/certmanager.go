// Package certmanager runs the real cert-manager and trust-manager
// controllers out of cluster against the suite's kube-apiserver (package
// apiserver), so carousel's cert-manager backend is judged by the
// controllers that will act on it, not by a model of them.
//
// The binaries come from `make tools` (hack/tools.sh): bin/cert-manager-runner
// is carousel's own small main over cert-manager v1.21's library
// controllers (certificates, CertificateRequest approval, the CA and
// self-signed issuers; hack/systems/cert-manager), bin/trust-manager is
// trust-manager's own main at v0.25.0, and the CRDs are those of the same
// module versions. One set of controllers runs per test binary, next to its
// one API server: cert-manager's controllers watch the whole cluster, so a
// package whose tests use them must not share objects between tests.
package certmanager

import (
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
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/apiserver"
	"github.com/carousel-dev/carousel/internal/proc"
	"github.com/carousel-dev/carousel/internal/testkit"
)

// Namespace holds the Secrets behind ClusterIssuers (cert-manager's
// --cluster-resource-namespace) and the sources of trust-manager Bundles
// (its --trust-namespace): the two must be one namespace for a Bundle to
// read the CA Secrets a CA ClusterIssuer signs with.
const Namespace = "cert-manager"

// CRDs are the CustomResourceDefinitions the harness installs, as
// hack/tools.sh links them into bin/.
var CRDs = []string{
	"cert-manager.io_certificates.yaml",
	"cert-manager.io_certificaterequests.yaml",
	"cert-manager.io_issuers.yaml",
	"cert-manager.io_clusterissuers.yaml",
	"trust.cert-manager.io_bundles.yaml",
	"trust-manager.io_clusterbundles.yaml",
}

// Cluster is the API server with both controllers running against it.
type Cluster struct {
	*apiserver.Server
	CertManager, TrustManager *proc.Process
}

var (
	mu       sync.Mutex
	shared   *Cluster
	startErr error
)

// Start starts (once per test binary) the API server, installs the CRDs and
// the cert-manager namespace, and runs both controllers against it.
func Start(t testing.TB) *Cluster {
	t.Helper()
	s := apiserver.Start(t)
	mu.Lock()
	defer mu.Unlock()
	if shared == nil && startErr == nil {
		shared, startErr = start(t, s)
	}
	if startErr != nil {
		t.Fatalf("starting cert-manager and trust-manager: %v", startErr)
	}
	return shared
}

func start(t testing.TB, s *apiserver.Server) (*Cluster, error) {
	root := testkit.Root(t)
	bin := func(name string) (string, error) {
		p := filepath.Join(root, "bin", name)
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s is not installed at %s: run `make tools` (or `make test`, which installs it)", name, p)
		}
		return p, nil
	}
	var args []string
	for _, c := range CRDs {
		p, err := bin(c)
		if err != nil {
			return nil, err
		}
		args = append(args, "-f", p)
	}
	if _, stderr, err := s.KubectlErr(append([]string{"apply", "--server-side", "--field-manager=harness"}, args...)...); err != nil {
		return nil, fmt.Errorf("installing the CRDs: %v\n%s", err, stderr)
	}
	if err := s.Established(120*time.Second, "crd/certificates.cert-manager.io", "crd/certificaterequests.cert-manager.io",
		"crd/issuers.cert-manager.io", "crd/clusterissuers.cert-manager.io", "crd/bundles.trust.cert-manager.io", "crd/clusterbundles.trust-manager.io"); err != nil {
		return nil, err
	}
	ns := []byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + Namespace + "\n")
	if _, stderr, err := s.KubectlInErr(ns, "apply", "--server-side", "--field-manager=harness", "-f", "-"); err != nil {
		return nil, fmt.Errorf("creating namespace %s: %v\n%s", Namespace, err, stderr)
	}

	runner, err := bin("cert-manager-runner")
	if err != nil {
		return nil, err
	}
	cm, err := s.Spawn("cert-manager", runner, "-kubeconfig", s.Kubeconfig, "-cluster-resource-namespace", Namespace)
	if err != nil {
		return nil, err
	}

	tm, err := bin("trust-manager")
	if err != nil {
		return nil, err
	}
	// trust-manager serves its validating webhook whether or not the API
	// server calls it (nothing registers it here), so it needs a serving
	// certificate to start; the readiness endpoint says when it runs.
	certDir := filepath.Join(s.Dir, "trust-manager-webhook")
	if err := writeServingCert(certDir); err != nil {
		return nil, err
	}
	ports, err := proc.FreePorts(3)
	if err != nil {
		return nil, err
	}
	trust, err := s.Spawn("trust-manager", tm,
		"--kubeconfig="+s.Kubeconfig,
		"--leader-elect=false",
		"--trust-namespace="+Namespace,
		"--readiness-probe-port="+strconv.Itoa(ports[0]),
		"--metrics-port="+strconv.Itoa(ports[1]),
		"--webhook-host=127.0.0.1",
		"--webhook-port="+strconv.Itoa(ports[2]),
		"--webhook-certificate-dir="+certDir,
		"--log-level=2",
	)
	if err != nil {
		return nil, err
	}
	readyz := "http://127.0.0.1:" + strconv.Itoa(ports[0]) + "/readyz"
	if err := trust.WaitUntil(func() bool {
		resp, err := http.Get(readyz)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}); err != nil {
		return nil, err
	}
	// cert-manager's runner has no readiness endpoint; it is ready when it
	// has started every controller and the informers (its log says so).
	if err := cm.WaitUntil(func() bool { return strings.Contains(cm.Tail(400), `"all controllers started"`) }); err != nil {
		return nil, err
	}
	return &Cluster{Server: s, CertManager: cm, TrustManager: trust}, nil
}

// writeServingCert writes a throwaway self-signed tls.crt/tls.key pair for
// 127.0.0.1 into dir.
func writeServingCert(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "trust-manager-webhook"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
}

// Apply applies objects with server-side apply under one field manager,
// creating Namespaces first (no controller creates them here). With prune,
// objects of the listed kinds that carry label and were applied before but
// are no longer in objs are deleted, as a GitOps tool prunes.
func (c *Cluster) Apply(t testing.TB, objs []*yaml.RNode) {
	t.Helper()
	var ns, rest []*yaml.RNode
	for _, n := range objs {
		if n.GetKind() == "Namespace" {
			ns = append(ns, n)
		} else {
			rest = append(rest, n)
		}
	}
	if len(ns) > 0 {
		c.KubectlIn(t, []byte(testkit.String(ns)), "apply", "--server-side", "--field-manager=carousel-test", "-f", "-")
	}
	if len(rest) > 0 {
		c.KubectlIn(t, []byte(testkit.String(rest)), "apply", "--server-side", "--force-conflicts", "--field-manager=carousel-test", "-f", "-")
	}
}

// Get returns an object as the API server holds it, or nil when it does not
// exist.
func (c *Cluster) Get(t testing.TB, kind, namespace, name string) *yaml.RNode {
	t.Helper()
	args := []string{"get", kind, name, "-o", "yaml", "--ignore-not-found"}
	if namespace != "" {
		args = append(args, "-n", namespace)
	}
	out := c.Kubectl(t, args...)
	if len(strings.TrimSpace(string(out))) == 0 {
		return nil
	}
	n, err := yaml.Parse(string(out))
	if err != nil {
		t.Fatalf("parsing %s %s/%s: %v", kind, namespace, name, err)
	}
	return n
}

// WaitTimeout bounds every wait for the controllers. It is no assertion
// about speed: a full rotation converges in seconds here, and a wait that
// reaches it has stopped converging; the error shows the last state seen
// and the controllers' logs.
const WaitTimeout = 3 * time.Minute

// Eventually polls cond until it holds; past WaitTimeout it fails the test
// with what cond last reported and the tail of both controllers' logs.
func (c *Cluster) Eventually(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(WaitTimeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		for _, p := range []*proc.Process{c.CertManager, c.TrustManager} {
			if exited, err := p.Exited(); exited {
				t.Fatalf("%s: a controller exited (%v):\n%s", what, err, p.Tail(40))
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached after %s; last state: %s\ncert-manager:\n%s\ntrust-manager:\n%s", what, WaitTimeout, state, c.CertManager.Tail(30), c.TrustManager.Tail(30))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// Carousel is how a test runs bin/carousel against the cluster: in dir,
// with the cluster's kubeconfig and bin/ first on PATH (the packages' exec
// functions name carousel).
func (c *Cluster) Carousel(dir string) testkit.Cmd {
	return testkit.Cmd{Dir: dir, BinOnPath: true, Env: []string{"KUBECONFIG=" + c.Kubeconfig}}
}

// Example copies examples/<name> into a temporary directory, its exec
// function pointed at bin/carousel, for a test that rotates it against the
// cluster. It returns the copy and the Cmd that runs carousel on it.
func (c *Cluster) Example(t testing.TB, name string) (string, testkit.Cmd) {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(testkit.Root(t), "examples", name))); err != nil {
		t.Fatal(err)
	}
	testkit.SetPhase(t, dir, "") // the exec path only
	return dir, c.Carousel(dir)
}

// ApplyYAML applies the objects of a multi-document YAML stream (Apply).
func (c *Cluster) ApplyYAML(t testing.TB, doc string) {
	t.Helper()
	c.Apply(t, testkit.Parse(t, []byte(doc)))
}

// WaitReady waits until the controllers have made an object Ready
// (Eventually).
func (c *Cluster) WaitReady(t testing.TB, kind, namespace, name string) {
	t.Helper()
	c.Eventually(t, kind+" "+name+" Ready", func() (bool, string) { return Ready(c.Get(t, kind, namespace, name)) })
}

// SecretData returns the decoded data of a Secret (nil when it does not
// exist).
func (c *Cluster) SecretData(t testing.TB, namespace, name string) map[string][]byte {
	t.Helper()
	n := c.Get(t, "secret", namespace, name)
	if n == nil {
		return nil
	}
	out := map[string][]byte{}
	for k, v := range n.GetDataMap() {
		b, err := decodeB64(v)
		if err != nil {
			t.Fatalf("secret %s/%s: data.%s: %v", namespace, name, k, err)
		}
		out[k] = b
	}
	return out
}

// ConfigMapData returns the data of a ConfigMap (nil when it does not exist).
func (c *Cluster) ConfigMapData(t testing.TB, namespace, name string) map[string]string {
	t.Helper()
	n := c.Get(t, "configmap", namespace, name)
	if n == nil {
		return nil
	}
	return n.GetDataMap()
}

// Ready reports whether an object's status has condition Ready=True for its
// current generation, and says what it has instead.
func Ready(n *yaml.RNode) (bool, string) {
	if n == nil {
		return false, "absent"
	}
	conds, _ := n.Pipe(yaml.Lookup("status", "conditions"))
	if conds == nil {
		return false, "no conditions"
	}
	gen, _ := n.Pipe(yaml.Lookup("metadata", "generation"))
	els, _ := conds.Elements()
	for _, e := range els {
		if yaml.GetValue(e.Field("type").Value) != "Ready" {
			continue
		}
		status := yaml.GetValue(e.Field("status").Value)
		msg := ""
		if f := e.Field("message"); f != nil {
			msg = yaml.GetValue(f.Value)
		}
		if og := e.Field("observedGeneration"); og != nil && gen != nil && yaml.GetValue(og.Value) != yaml.GetValue(gen) {
			return false, "Ready for an older generation: " + msg
		}
		return status == "True", "Ready=" + status + ": " + msg
	}
	return false, "no Ready condition"
}

func decodeB64(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }
