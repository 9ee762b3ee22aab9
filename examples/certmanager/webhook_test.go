package certmanager

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/carousel-dev/carousel/internal/certmanager"
	"github.com/carousel-dev/carousel/internal/testkit"
	cm "github.com/carousel-dev/carousel/pkg/cmbackend"
	"github.com/carousel-dev/carousel/pkg/phases"
)

const (
	hookRotation = "policy-webhook"
	hookNS       = "policy"
	hookSecret   = "policy-webhook-tls"
	hookVWC      = "policy-webhook"
	// probeNS opts in to the webhook: creating a ConfigMap there makes the
	// real kube-apiserver call it.
	probeNS = "policy-probe"
)

// hookWorld is one run of examples/webhook-cert-manager against the cluster.
type hookWorld struct {
	t   *testing.T
	c   *certmanager.Cluster
	dir string
	cli testkit.Cmd // runs carousel on the package against the cluster
	// serving is the certificate the webhook server presents: the one a pod
	// of some phase read from policy-webhook-tls when it started.
	serving atomic.Pointer[tls.Certificate]
	srv     *httptest.Server
	calls   atomic.Int64
}

// hookView is one applied phase: the caBundle the API server verifies the
// webhook with, and the serving certificate cert-manager issued.
type hookView struct {
	phase    phases.Phase
	caBundle string // base64, as in the ValidatingWebhookConfiguration
	serving  tls.Certificate
}

// TestTheWebhookExampleNeverLosesAnAdmissionCallAcrossPhases applies every
// phase of examples/webhook-cert-manager, in the order its GitOps setups
// apply it, to the real kube-apiserver with the real cert-manager and
// trust-manager, and serves the webhook from this test with the
// certificate and key cert-manager wrote into policy-webhook-tls (what a
// pod of the phase reads). The real API server calls it over TLS, verifying
// it against the caBundle carousel injected. For every pair of adjacent
// phases, in both directions (the API server on one phase's caBundle while
// pods of the other still serve: exactly what a rollout does), creating an
// object the webhook matches succeeds; with steady's caBundle and
// distrust-old's certificate, two phases apart, it fails with the API
// server's TLS error, so the matrix can fail. Renders are byte-identical
// and hold no private key.
func TestTheWebhookExampleNeverLosesAnAdmissionCallAcrossPhases(t *testing.T) {
	c := certmanager.Start(t)
	c.StartControllers(t)
	w := &hookWorld{t: t, c: c}
	w.dir, w.cli = c.Example(t, "webhook-cert-manager")
	w.startServer()
	// The test copy: the API server runs outside any cluster network, so it
	// reaches the webhook by URL on the loopback, and the serving
	// certificate names that address. The example keeps its Service.
	w.edit("webhook.yaml", "    service: {name: policy-webhook, namespace: policy, path: /validate, port: 443}\n",
		"    url: "+w.srv.URL+"/validate\n")
	w.edit("carousel.yaml", "    usages: [server]\n", "    ipAddresses: [127.0.0.1]\n    usages: [server]\n")
	c.KubectlIn(t, []byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: "+probeNS+"\n  labels: {policy.example.com/enforce: \"true\"}\n"),
		"apply", "--server-side", "--field-manager=carousel-test", "-f", "-")
	t.Cleanup(func() {
		// A failurePolicy: Fail webhook whose server is gone must not
		// outlive the test in the shared API server.
		c.KubectlErr("delete", "validatingwebhookconfiguration", hookVWC, "--ignore-not-found")
	})
	file := filepath.Join(w.dir, "carousel.yaml")

	// Install: steady with generation 1, its certificate pulled; then the
	// caBundle can be injected.
	w.apply()
	w.pullWhenIssued(1)
	w.apply()
	views := []hookView{w.converged(phases.Steady)}
	w.cli.Must(w.t, "start", file)
	w.apply()
	w.pullWhenIssued(2)
	for _, p := range []phases.Phase{phases.TrustNew, phases.SignNew, phases.DistrustOld, phases.Cleanup} {
		w.cli.Must(w.t, "advance", file)
		w.apply()
		views = append(views, w.converged(p))
	}
	if views[2].serving.Leaf.Issuer.CommonName != "policy-webhook-ca" || views[1].serving.Leaf.Equal(views[2].serving.Leaf) {
		t.Fatal("cert-manager did not re-issue the serving certificate at sign-new")
	}
	for i := 1; i < len(views); i++ {
		a, b := views[i-1], views[i]
		w.admits(a, b)
		w.admits(b, a)
	}
	// Two phases apart: steady's caBundle does not trust generation 2.
	w.refuses(views[0], views[3])
	if w.calls.Load() == 0 {
		t.Fatal("the API server never called the webhook")
	}
}

// startServer serves the webhook from the test: every admission review is
// allowed, with the certificate in w.serving.
func (w *hookWorld) startServer() {
	w.t.Helper()
	w.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var review struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Request    struct {
				UID string `json:"uid"`
			} `json:"request"`
		}
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &review); err != nil {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		w.calls.Add(1)
		rw.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(rw, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":%q,"allowed":true}}`, review.Request.UID)
	}))
	// GetConfigForClient, not GetCertificate: httptest adds its own
	// certificate, and a client dialing an IP sends no server name, so Go
	// would serve that one without asking GetCertificate.
	w.srv.TLS = &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		c := w.serving.Load()
		if c == nil {
			return nil, fmt.Errorf("no serving certificate yet")
		}
		return &tls.Config{Certificates: []tls.Certificate{*c}}, nil
	}}
	w.srv.StartTLS()
	w.t.Cleanup(w.srv.Close)
}

func (w *hookWorld) edit(name, old, new string) {
	w.t.Helper()
	p := filepath.Join(w.dir, name)
	b, err := os.ReadFile(p)
	if err != nil {
		w.t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		w.t.Fatalf("%s does not hold %q", name, old)
	}
	if err := os.WriteFile(p, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644); err != nil {
		w.t.Fatal(err)
	}
}

// apply renders the package twice (byte-identical, no private key) and
// applies it as the GitOps setups do: everything but the Deployment, a wait
// until Flux's health code with examples/flux's healthCheckExprs calls the
// cert-manager objects current, then the Deployment.
func (w *hookWorld) apply() {
	w.t.Helper()
	material, workloads := splitWorkloads(testkit.Parse(w.t, renderTwice(w.t, w.dir, "PRIVATE KEY", "tls.key:")))
	w.c.Apply(w.t, material)
	applyWorkloadsOnceHealthy(w.t, w.c, hookRotation, "the webhook's cert-manager objects healthy for Flux's wait", workloads)
}

func (w *hookWorld) pullWhenIssued(n int) {
	w.t.Helper()
	name := cm.GenerationName(hookRotation, n)
	w.c.WaitReady(w.t, "certificate", certmanager.Namespace, name)
	w.cli.Must(w.t, "pull", filepath.Join(w.dir, "carousel.yaml"))
}

// converged waits for `carousel status` to say converged, then reads the
// phase's caBundle from the live webhook configuration and the serving
// certificate and key from the Secret cert-manager wrote.
func (w *hookWorld) converged(phase phases.Phase) hookView {
	w.t.Helper()
	w.c.Eventually(w.t, string(phase)+" converged", func() (bool, string) {
		r := w.cli.Run(w.t, "status", filepath.Join(w.dir, "carousel.yaml"))
		return r.Err == nil, r.Out
	})
	v := hookView{phase: phase}
	v.caBundle = strings.TrimSpace(string(w.c.Kubectl(w.t, "get", "validatingwebhookconfiguration", hookVWC, "-o", "jsonpath={.webhooks[0].clientConfig.caBundle}")))
	if _, err := base64.StdEncoding.DecodeString(v.caBundle); err != nil || v.caBundle == "" {
		w.t.Fatalf("%s: the webhook's caBundle is %q", phase, v.caBundle)
	}
	data := w.c.SecretData(w.t, hookNS, hookSecret)
	pair, err := tls.X509KeyPair(data["tls.crt"], data["tls.key"])
	if err != nil {
		w.t.Fatalf("%s: %s: %v", phase, hookSecret, err)
	}
	v.serving = pair
	return v
}

// setPair puts the API server on a's caBundle and the webhook server on b's
// certificate, with no connection of an earlier handshake left open.
func (w *hookWorld) setPair(a, b hookView) {
	w.t.Helper()
	w.c.Kubectl(w.t, "patch", "validatingwebhookconfiguration", hookVWC, "--type=json",
		"-p", `[{"op":"replace","path":"/webhooks/0/clientConfig/caBundle","value":"`+a.caBundle+`"}]`)
	cert := b.serving
	w.serving.Store(&cert)
	w.srv.CloseClientConnections()
}

// create asks the API server to create a ConfigMap in the opted-in
// namespace, which it admits only through the webhook.
func (w *hookWorld) create() (string, error) {
	w.srv.CloseClientConnections()
	// A server-side dry run: admission runs, nothing is stored.
	out, stderr, err := w.c.KubectlErr("-n", probeNS, "create", "configmap", "probe", "--dry-run=server", "-o", "name")
	return string(out) + string(stderr), err
}

// admits: with a's caBundle and b's serving certificate, the API server's
// call succeeds (after its webhook configuration cache has the patch).
func (w *hookWorld) admits(a, b hookView) {
	w.t.Helper()
	w.setPair(a, b)
	w.c.Eventually(w.t, fmt.Sprintf("admission with %s's caBundle and %s's serving certificate", a.phase, b.phase), func() (bool, string) {
		before := w.calls.Load()
		out, err := w.create()
		return err == nil && w.calls.Load() > before, out
	})
}

// refuses: with a's caBundle and b's serving certificate, the API server
// cannot verify the webhook and refuses the request (failurePolicy: Fail).
func (w *hookWorld) refuses(a, b hookView) {
	w.t.Helper()
	w.setPair(a, b)
	w.c.Eventually(w.t, fmt.Sprintf("refusal with %s's caBundle and %s's serving certificate", a.phase, b.phase), func() (bool, string) {
		out, err := w.create()
		return err != nil && strings.Contains(out, "x509"), out
	})
}
