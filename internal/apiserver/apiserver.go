// Package apiserver runs a real etcd and kube-apiserver on loopback for the
// tests, so generated manifests are judged by the same admission and schema
// code a cluster runs, not by a mock. One server is started per test binary
// and shared by every test of the package: a cold start costs seconds, and
// the suite must stay quick when warm.
//
// The binaries are bin/etcd, bin/kube-apiserver and bin/kubectl, installed by
// `make tools`. By default no controller-manager, scheduler or kubelet runs:
// namespaces must be created by the manifests, Deployments get no pods, and
// `default` ServiceAccounts are not created. A test that needs workloads to
// roll out calls StartControllers (controllers.go): the real
// kube-controller-manager and kube-scheduler, and kwok's simulated kubelets.
package apiserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/carousel-dev/carousel/internal/proc"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is a running kube-apiserver backed by its own etcd.
type Server struct {
	Kubeconfig string // admin kubeconfig (client certificate in system:masters)
	URL        string // https://127.0.0.1:PORT
	Dir        string // certificates, etcd data and logs

	kubectl string
	procs   []*proc.Process
	// What a sibling API server needs to join the same etcd.
	apiserverBin, etcdURL, saPub, saKey string
	siblings                            int

	controllers    bool  // StartControllers ran
	controllersErr error // and failed so
}

// kubectlTimeout bounds a single kubectl call, so a wedged server fails the
// test instead of hanging it.
const kubectlTimeout = 2 * time.Minute

var (
	mu       sync.Mutex
	shared   *Server
	startErr error
)

// Start starts etcd and kube-apiserver on loopback once per test binary and
// returns the shared server. The processes stop when the test binary exits
// (they die with it) or when TestMain calls Stop. A failed start fails every
// test that asks for the server, with the reason.
func Start(t testing.TB) *Server {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if shared == nil && startErr == nil {
		shared, startErr = start()
	}
	if startErr != nil {
		t.Fatalf("starting the test API server: %v", startErr)
	}
	return shared
}

// Stop stops the shared server, if one was started, and removes its
// directory. Call it from TestMain after m.Run.
func Stop() {
	mu.Lock()
	defer mu.Unlock()
	if shared != nil {
		shared.stop()
		shared = nil
	}
}

// Kubectl runs bin/kubectl against the server and returns stdout; it fails
// the test with stderr when kubectl fails.
func (s *Server) Kubectl(t testing.TB, args ...string) []byte {
	t.Helper()
	return s.KubectlIn(t, nil, args...)
}

// KubectlIn is Kubectl with stdin (for `apply -f -`).
func (s *Server) KubectlIn(t testing.TB, stdin []byte, args ...string) []byte {
	t.Helper()
	stdout, stderr, err := s.kubectlRun(stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return stdout
}

// KubectlErr runs bin/kubectl against the server and returns its output and
// error, for tests that expect a refusal.
func (s *Server) KubectlErr(args ...string) (stdout, stderr []byte, err error) {
	return s.kubectlRun(nil, args...)
}

// KubectlInErr is KubectlErr with stdin.
func (s *Server) KubectlInErr(stdin []byte, args ...string) (stdout, stderr []byte, err error) {
	return s.kubectlRun(stdin, args...)
}

func (s *Server) kubectlRun(stdin []byte, args ...string) ([]byte, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), kubectlTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.kubectl, append([]string{"--kubeconfig", s.Kubeconfig}, args...)...)
	// A user's KUBECONFIG or kubectl cache must not leak in.
	cmd.Env = append(os.Environ(), "KUBECONFIG="+s.Kubeconfig, "KUBECACHEDIR="+filepath.Join(s.Dir, "kubecache"))
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %s: %w", kubectlTimeout, err)
	}
	return stdout.Bytes(), stderr.Bytes(), err
}

// repoRoot finds the directory holding go.mod above the working directory
// (tests run in their package directory).
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

func start() (*Server, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	bins := map[string]string{}
	for _, name := range []string{"etcd", "kube-apiserver", "kubectl"} {
		p := filepath.Join(root, "bin", name)
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%s is not installed at %s: run `make tools` (or `make test`, which installs it)", name, p)
		}
		bins[name] = p
	}
	removeStaleDirs()
	dir, err := os.MkdirTemp("", fmt.Sprintf("carousel-apiserver-%d-", os.Getpid()))
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, kubectl: bins["kubectl"]}
	if err := s.run(bins); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// removeStaleDirs removes the directories of test binaries that died
// without reaching Stop (their servers died with them).
func removeStaleDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "carousel-apiserver-*-*"))
	for _, d := range dirs {
		pid, err := strconv.Atoi(strings.Split(filepath.Base(d), "-")[2])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if p, err := os.FindProcess(pid); err == nil && p.Signal(syscall.Signal(0)) == nil {
			continue // still running
		}
		_ = os.RemoveAll(d)
	}
}

func (s *Server) run(bins map[string]string) error {
	c, err := writeCerts(s.Dir)
	if err != nil {
		return fmt.Errorf("making certificates: %w", err)
	}
	ports, err := proc.FreePorts(3)
	if err != nil {
		return fmt.Errorf("finding free ports: %w", err)
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	s.apiserverBin, s.etcdURL, s.saPub, s.saKey = bins["kube-apiserver"], etcdURL, c.saPub, c.saKey
	peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	s.URL = "https://127.0.0.1:" + strconv.Itoa(ports[2])

	etcd, err := s.spawn("etcd", bins["etcd"],
		"--name=carousel-test",
		"--data-dir="+filepath.Join(s.Dir, "etcd"),
		"--listen-client-urls="+etcdURL,
		"--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=carousel-test="+peerURL,
		// Throwaway data: durability buys nothing and costs seconds.
		"--unsafe-no-fsync",
		"--log-level=warn",
	)
	if err != nil {
		return err
	}
	if err := etcd.WaitUntil(func() bool { return httpOK(http.DefaultClient, etcdURL+"/health") }); err != nil {
		return err
	}

	apiserver, err := s.spawn("kube-apiserver", bins["kube-apiserver"],
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(ports[2]),
		"--cert-dir="+filepath.Join(s.Dir, "apiserver"),
		"--tls-cert-file="+c.serverCert,
		"--tls-private-key-file="+c.serverKey,
		"--client-ca-file="+c.caCert,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+c.saPub,
		"--service-account-signing-key-file="+c.saKey,
		"--service-cluster-ip-range=10.0.0.0/24",
		"--allow-privileged=true",
		"--v=1",
	)
	if err != nil {
		return err
	}
	client, err := c.adminClient()
	if err != nil {
		return err
	}
	if err := apiserver.WaitUntil(func() bool { return httpOK(client, s.URL+"/readyz") }); err != nil {
		return err
	}
	s.Kubeconfig = filepath.Join(s.Dir, "admin.kubeconfig")
	return os.WriteFile(s.Kubeconfig, c.kubeconfig(s.URL), 0o600)
}

// Sibling starts another kube-apiserver on the shared server's etcd, under
// a key prefix of its own, that authenticates client certificates against
// clientCA and serves certFile/keyFile: for a test that judges certificates
// an API server must accept or present (a kubeconfig's client certificate,
// a rotation's serving certificate), which the shared server's throwaway
// PKI cannot stand in for. roots verify its serving certificate while
// waiting for /readyz (anonymous, as a load balancer's probe). It stops
// when the test ends; its URL is returned.
func (s *Server) Sibling(t testing.TB, clientCA, certFile, keyFile string, roots *x509.CertPool) string {
	t.Helper()
	return s.SiblingWith(t, clientCA, certFile, keyFile, SiblingOptions{Roots: roots}).URL
}

// SiblingOptions say how SiblingWith starts a sibling and waits for it.
type SiblingOptions struct {
	// Roots verify the serving certificate while waiting for /readyz.
	Roots *x509.CertPool
	// Unverified waits for /readyz without verifying the serving
	// certificate: for a server whose certificates every client must
	// refuse (an expired CA's), which is what the test is about.
	Unverified bool
	// Restarts is an earlier sibling this one replaces, as a restart of
	// that API server: the same port (a kubeconfig naming it reaches the
	// new one) and the same etcd prefix (its objects are still there).
	// The earlier one must have been stopped.
	Restarts *SiblingServer
}

// SiblingServer is a sibling kube-apiserver started by SiblingWith.
type SiblingServer struct {
	URL    string
	port   int
	prefix string
	proc   *proc.Process
}

// Stop stops the sibling (it also stops when the test ends).
func (b *SiblingServer) Stop() { b.proc.Stop(10 * time.Second) }

// SiblingWith is Sibling with options: a sibling whose serving certificate
// the probe does not verify, or one that restarts an earlier sibling.
func (s *Server) SiblingWith(t testing.TB, clientCA, certFile, keyFile string, o SiblingOptions) *SiblingServer {
	t.Helper()
	mu.Lock()
	s.siblings++
	name := "sibling-" + strconv.Itoa(s.siblings)
	mu.Unlock()
	b := &SiblingServer{prefix: name}
	if o.Restarts != nil {
		b.port, b.prefix = o.Restarts.port, o.Restarts.prefix
	} else {
		ports, err := proc.FreePorts(1)
		if err != nil {
			t.Fatal(err)
		}
		b.port = ports[0]
	}
	mu.Lock()
	p, err := s.spawn(name, s.apiserverBin,
		"--etcd-servers="+s.etcdURL,
		"--etcd-prefix=/"+b.prefix,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(b.port),
		"--cert-dir="+filepath.Join(s.Dir, name),
		"--tls-cert-file="+certFile,
		"--tls-private-key-file="+keyFile,
		"--client-ca-file="+clientCA,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+s.saPub,
		"--service-account-signing-key-file="+s.saKey,
		"--service-cluster-ip-range=10.0.0.0/24",
		"--v=1",
	)
	mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	b.proc = p
	t.Cleanup(func() {
		p.Stop(10 * time.Second)
		mu.Lock()
		defer mu.Unlock()
		for i, q := range s.procs {
			if q == p {
				s.procs = append(s.procs[:i], s.procs[i+1:]...)
				break
			}
		}
	})
	b.URL = "https://127.0.0.1:" + strconv.Itoa(b.port)
	tlsConfig := &tls.Config{RootCAs: o.Roots}
	if o.Unverified {
		tlsConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the test judges these certificates itself
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	if err := p.WaitUntil(func() bool { return httpOK(client, b.URL+"/readyz") }); err != nil {
		t.Fatal(err)
	}
	return b
}

// spawn starts a process whose output goes to DIR/NAME.log, stopped with
// the server.
func (s *Server) spawn(name, bin string, args ...string) (*proc.Process, error) {
	p, err := proc.Start(s.Dir, name, bin, args...)
	if err != nil {
		return nil, err
	}
	s.procs = append(s.procs, p)
	return p, nil
}

func httpOK(c *http.Client, url string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusOK
}

// stop terminates the API server before etcd (the reverse start order),
// waits briefly for each, and removes the directory.
func (s *Server) stop() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		s.procs[i].Stop(10 * time.Second)
	}
	s.procs = nil
	if s.Dir != "" {
		_ = os.RemoveAll(s.Dir)
	}
}

// adminClient is an HTTP client presenting the admin certificate and
// trusting only the test CA.
func (c *certs) adminClient() (*http.Client, error) {
	pair, err := tls.LoadX509KeyPair(c.adminCert, c.adminKey)
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(c.caCert)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("test CA certificate does not parse")
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		Certificates: []tls.Certificate{pair},
		RootCAs:      pool,
		MinVersion:   tls.VersionTLS12,
	}}}, nil
}

// Spawn starts bin with args next to the server, such as a controller
// running out of cluster against it; its output goes to DIR/NAME.log. It
// stops with the server (before the API server and etcd, in reverse start
// order) and dies with the test binary, like the server.
func (s *Server) Spawn(name, bin string, args ...string) (*proc.Process, error) {
	mu.Lock()
	defer mu.Unlock()
	return s.spawn(name, bin, args...)
}
