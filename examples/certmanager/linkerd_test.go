// Package certmanager tests examples/linkerd-cert-manager, the Linkerd trust
// anchor rotated with backend cert-manager, the way it runs: rendered by the
// real kustomize and carousel, applied to a real kube-apiserver with the real
// cert-manager (v1.21 library controllers) and trust-manager (v0.25.0)
// running against it, driven by the carousel CLI (start, pull, advance,
// status). It has its own API server (one per test binary): cert-manager's
// controllers watch the whole cluster.
package certmanager

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/apiserver"
	"github.com/carousel-dev/carousel/internal/certmanager"
	"github.com/carousel-dev/carousel/internal/proc"
	"github.com/carousel-dev/carousel/internal/testkit"
	cm "github.com/carousel-dev/carousel/pkg/cmbackend"
	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
)

func TestMain(m *testing.M) {
	code := m.Run()
	apiserver.Stop()
	os.Exit(code)
}

const (
	rotation  = "linkerd-trust-anchor"
	issuerNS  = "linkerd"
	issuer    = "linkerd-identity-issuer"
	rootsName = "linkerd-identity-trust-roots"
	rootsKey  = "ca-bundle.crt"
)

// world is one run of the example against the cluster.
type world struct {
	t   *testing.T
	c   *certmanager.Cluster
	dir string      // the package, a copy of the example
	cli testkit.Cmd // runs carousel on the package against the cluster
	// caKeys remembers the SHA-256 of each CA Secret's key as first seen:
	// no Secret behind an issuer may ever change key.
	caKeys map[string]string
	// rolls lists the phases whose render changed linkerd-identity's
	// restart annotation from the previous application's.
	rolls        []phases.Phase
	identityHash string
}

// phaseView is what one applied phase looks like in the cluster.
type phaseView struct {
	phase  phases.Phase
	roots  []*x509.Certificate // the trust-roots ConfigMap
	issuer tls.Certificate     // the identity issuer (cert + key) cert-manager issued
}

// TestTheLinkerdCertManagerExampleRotatesWithTheRealControllers applies every
// phase of examples/linkerd-cert-manager in order, then rolls back three
// steps, and after each checks: the trust-roots ConfigMap trust-manager
// writes holds the phase's anchors (1, 2, 2, 1, 1; then 1, 2, 2), the
// identity issuer cert-manager issued is signed by the phase's signer, no
// CA Secret ever changed key, renders are byte-identical and hold no
// private key, `carousel status` says progressing while cert-manager has
// not re-issued (cert-manager paused) and converged once it has, and
// proxies of adjacent phases complete mutual TLS handshakes with
// certificates the real identity issuers signed (while a steady proxy and a
// distrust-old proxy do not).
func TestTheLinkerdCertManagerExampleRotatesWithTheRealControllers(t *testing.T) {
	c := certmanager.Start(t)
	// Workloads roll for real (kube-controller-manager, kube-scheduler,
	// kwok): status waits on the rollouts the restart annotations cause.
	c.StartControllers(t)
	w := &world{t: t, c: c, caKeys: map[string]string{}}
	w.dir, w.cli = c.Example(t, "linkerd-cert-manager")
	// A fresh cluster has no CA yet: the copy starts without the example's
	// pulled certificates, as a first install does.
	for _, f := range mustGlob(t, filepath.Join(w.dir, "material", "ca-*.crt.yaml")) {
		os.Remove(f)
	}
	writeFile(t, filepath.Join(w.dir, "material", "kustomization.yaml"), "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n")
	file := filepath.Join(w.dir, "carousel.yaml")

	// Install: steady with generation 1 only, then pull its certificate.
	w.applyPhase(phases.Steady)
	w.pullWhenIssued(1)
	views := []phaseView{w.converged(phases.Steady, 1, 1)}

	// Start a rotation: generation 2 is announced, issued at steady,
	// pulled. advance refuses until its certificate is in git.
	w.cli.Must(w.t, "start", file)
	w.applyPhase(phases.Steady)
	if r := w.cli.Run(t, "advance", file); r.Err == nil || !strings.Contains(r.Out, "carousel pull") {
		t.Fatalf("advance to trust-new without generation 2's certificate in git: want a refusal naming carousel pull, got err %v:\n%s", r.Err, r.Out)
	}
	w.pullWhenIssued(2)
	w.converged(phases.Steady, 1, 1)

	forward := []struct {
		phase   phases.Phase
		anchors int
		signer  int
	}{
		{phases.TrustNew, 2, 1},
		{phases.SignNew, 2, 2},
		{phases.DistrustOld, 1, 2},
		{phases.Cleanup, 1, 2},
	}
	for _, p := range forward {
		w.cli.Must(w.t, "advance", file)
		switch p.phase {
		case phases.TrustNew:
			w.trustWhileTrustManagerPaused()
		case phases.SignNew:
			w.statusWhileCertManagerPaused()
			// The control plane's own proxies kept the workload
			// certificates linkerd-identity signed before it switched
			// issuers: the mesh gate (spec.workloadCertificates) holds
			// sign-new until they restart (or 24h pass).
			w.restartProxiesHeldByTheMeshGate(true)
		default:
			w.applyPhase(p.phase)
		}
		v := w.converged(p.phase, p.anchors, p.signer)
		w.handshakes(views[len(views)-1], v, true)
		views = append(views, v)
	}
	// linkerd-identity reads the trust roots and the issuer Secret: it
	// rolls when the trusted set changes and when the issuer is re-issued,
	// never at adoption, start or cleanup.
	if want := []phases.Phase{phases.TrustNew, phases.SignNew, phases.DistrustOld}; !slices.Equal(w.rolls, want) {
		t.Fatalf("linkerd-identity's restart annotation changed at %v, want %v", w.rolls, want)
	}
	// A steady proxy and a distrust-old proxy share no anchor: the matrix
	// can fail, and fails exactly where the phase model says.
	w.handshakes(views[0], views[3], false)
	if out := w.cli.Must(t, "status", file, "-o", "json").Out; !strings.Contains(out, "still holds the key of CA generation 1") {
		t.Fatalf("status at cleanup does not flag generation 1's Secret that cert-manager left behind:\n%s", out)
	}

	// Roll back three steps: the old CA comes back under its own name with
	// its own key, and the issuer flips back to it at trust-new.
	back := []struct {
		phase   phases.Phase
		anchors int
		signer  int
	}{
		{phases.DistrustOld, 1, 2},
		{phases.SignNew, 2, 2},
		{phases.TrustNew, 2, 1},
	}
	for _, p := range back {
		w.cli.Must(w.t, "advance", file, "--to", string(p.phase))
		w.applyPhase(p.phase)
		if p.phase == phases.SignNew {
			// The proxies roll with identity here (the trusted set
			// changes); one that started in the same second as identity's
			// last pod is held, conservatively, until restarted.
			w.restartProxiesHeldByTheMeshGate(false)
		}
		v := w.converged(p.phase, p.anchors, p.signer)
		w.handshakes(views[len(views)-1], v, true)
		views = append(views, v)
	}
}

// render builds the package twice with the real kustomize: the two must be
// byte-identical, and hold no private key.
func (w *world) render() []*yaml.RNode {
	w.t.Helper()
	a := renderTwice(w.t, w.dir, "PRIVATE KEY", "tls.key")
	w.noKeyInGit()
	return testkit.Parse(w.t, a)
}

// noKeyInGit: nothing the package holds (what would be committed) is a key.
func (w *world) noKeyInGit() {
	w.t.Helper()
	err := filepath.WalkDir(w.dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte("PRIVATE KEY")) {
			return fmt.Errorf("%s holds a private key", p)
		}
		return err
	})
	if err != nil {
		w.t.Fatal(err)
	}
}

// applyPhase renders the package (at the phase its spec names, which must
// be phase) and applies it in the order the examples' GitOps setups use:
// the cert-manager and trust-manager objects first (pruning the rotation's
// objects the phase no longer renders, as a GitOps tool prunes), then,
// once Flux's wait with examples/flux/clusters/mesh's healthCheckExprs
// passes on them, the workloads.
func (w *world) applyPhase(phase phases.Phase) { w.apply(phase, true) }

// applyAtOnce applies the phase in one step, workloads and all, as a
// GitOps tool without a wait between them would: the order
// rolledAfterWrites in pkg/status catches.
func (w *world) applyAtOnce(phase phases.Phase) { w.apply(phase, false) }

// workloadKinds run pods: what the GitOps setups apply after the material.
var workloadKinds = map[string]bool{"Deployment": true, "StatefulSet": true, "DaemonSet": true, "ReplicaSet": true, "Job": true, "CronJob": true, "Pod": true}

func (w *world) apply(phase phases.Phase, ordered bool) {
	w.t.Helper()
	if got := w.specPhase(); got != phase {
		w.t.Fatalf("the package is at %s, want %s", got, phase)
	}
	objs := w.render()
	for _, n := range objs {
		if n.GetKind() == "Deployment" && n.GetName() == "linkerd-identity" {
			v, _ := n.Pipe(yaml.Lookup("spec", "template", "metadata", "annotations", gen.RestartAnnotation(rotation)))
			if h := yaml.GetValue(v); h != w.identityHash {
				w.rolls = append(w.rolls, phase)
				w.identityHash = h
			}
		}
	}
	material, workloads := splitWorkloads(objs)
	if !ordered {
		material, workloads = objs, nil
	}
	w.c.Apply(w.t, material)
	w.prune(objs)
	if len(workloads) == 0 {
		return
	}
	applyWorkloadsOnceHealthy(w.t, w.c, rotation, string(phase)+": the material healthy for Flux's wait", workloads)
}

// prune deletes the rotation's cert-manager and trust-manager objects the
// render no longer holds.
func (w *world) prune(objs []*yaml.RNode) {
	w.t.Helper()
	rendered := map[string]bool{}
	for _, n := range objs {
		rendered[strings.ToLower(n.GetKind())+"/"+n.GetNamespace()+"/"+n.GetName()] = true
	}
	out := w.c.Kubectl(w.t, "get", "certificates.cert-manager.io,clusterissuers.cert-manager.io,bundles.trust.cert-manager.io", "-A",
		"-l", "carousel.dev/rotation="+rotation, "-o", `jsonpath={range .items[*]}{.kind}/{.metadata.namespace}/{.metadata.name}{"\n"}{end}`)
	for _, id := range strings.Fields(string(out)) {
		parts := strings.Split(id, "/")
		if rendered[strings.ToLower(parts[0])+"/"+parts[1]+"/"+parts[2]] {
			continue
		}
		args := []string{"delete", strings.ToLower(parts[0]) + "." + group(parts[0]), parts[2]}
		if parts[1] != "" {
			args = append(args, "-n", parts[1])
		}
		w.c.Kubectl(w.t, args...)
	}
}

func group(kind string) string {
	if kind == "Bundle" {
		return "trust.cert-manager.io"
	}
	return "cert-manager.io"
}

var phaseLine = regexp.MustCompile(`(?m)^\s*phase:\s*(\S+)`)

func (w *world) specPhase() phases.Phase {
	b, err := os.ReadFile(filepath.Join(w.dir, "carousel.yaml"))
	if err != nil {
		w.t.Fatal(err)
	}
	return phases.Phase(phaseLine.FindSubmatch(b)[1])
}

// pullWhenIssued runs `carousel pull` once cert-manager has issued CA
// generation n, and checks the CACertificate it commits holds no key.
func (w *world) pullWhenIssued(n int) {
	w.t.Helper()
	name := cm.GenerationName(rotation, n)
	w.c.WaitReady(w.t, "certificate", certmanager.Namespace, name)
	w.cli.Must(w.t, "pull", filepath.Join(w.dir, "carousel.yaml"))
	b, err := os.ReadFile(filepath.Join(w.dir, "material", fmt.Sprintf("ca-%d.crt.yaml", n)))
	if err != nil {
		w.t.Fatalf("pull wrote no CACertificate for generation %d: %v", n, err)
	}
	n2, err := yaml.Parse(string(b))
	if err != nil {
		w.t.Fatal(err)
	}
	pulled := parseCerts(w.t, []byte(n2.Field("certificate").Value.YNode().Value))
	live := parseCerts(w.t, w.c.SecretData(w.t, certmanager.Namespace, name)["tls.crt"])
	if len(pulled) != 1 || !pulled[0].Equal(live[0]) {
		w.t.Fatalf("the pulled certificate of generation %d is not the one cert-manager issued", n)
	}
}

// converged waits until `carousel status` says the phase converged, then
// checks the cluster against the phase model and returns what it saw.
func (w *world) converged(phase phases.Phase, anchors, signer int) phaseView {
	w.t.Helper()
	file := filepath.Join(w.dir, "carousel.yaml")
	var last string
	w.c.Eventually(w.t, string(phase)+" converged", func() (bool, string) {
		r := w.cli.Run(w.t, "status", file)
		last = r.Out
		return r.Err == nil, r.Out
	})
	if !strings.Contains(last, "converged") {
		w.t.Fatalf("status exited 0 without saying converged:\n%s", last)
	}
	w.gitopsHealthy()
	v := phaseView{phase: phase}
	v.roots = parseCerts(w.t, []byte(w.c.ConfigMapData(w.t, issuerNS, rootsName)[rootsKey]))
	if len(v.roots) != anchors {
		w.t.Fatalf("%s: %s holds %d anchors, want %d", phase, rootsName, len(v.roots), anchors)
	}
	data := w.c.SecretData(w.t, issuerNS, issuer)
	pair, err := tls.X509KeyPair(data["tls.crt"], data["tls.key"])
	if err != nil {
		w.t.Fatalf("%s: the identity issuer Secret: %v", phase, err)
	}
	v.issuer = pair
	leaf := pair.Leaf
	ca := parseCerts(w.t, w.c.SecretData(w.t, certmanager.Namespace, cm.GenerationName(rotation, signer))["tls.crt"])[0]
	if err := leaf.CheckSignatureFrom(ca); err != nil {
		w.t.Fatalf("%s: the identity issuer is not signed by CA generation %d: %v", phase, signer, err)
	}
	// Every CA Secret still there keeps the key it was first seen with.
	for _, n := range []int{1, 2} {
		name := cm.GenerationName(rotation, n)
		d := w.c.SecretData(w.t, certmanager.Namespace, name)
		if d == nil {
			continue
		}
		sum := sha256.Sum256(d["tls.key"])
		h := hex.EncodeToString(sum[:])
		if prev, ok := w.caKeys[name]; ok && prev != h {
			w.t.Fatalf("%s: the key behind %s changed", phase, name)
		}
		w.caKeys[name] = h
	}
	return v
}

// statusWhileCertManagerPaused applies sign-new all at once with
// cert-manager stopped (SIGSTOP), as a GitOps tool that does not wait for
// it would: the identity issuer's Certificate names the new signer but its
// Secret still holds the old issuer, and status must say progressing. The
// linkerd-identity Deployment rolls meanwhile, so its new pods start on the
// old issuer; once cert-manager runs again and re-issues, status must say
// blocked, naming the Deployment and the leaf (nothing would roll it
// again), and after `kubectl rollout restart` it converges (converged,
// called next).
func (w *world) statusWhileCertManagerPaused() {
	w.t.Helper()
	resume := w.pause(w.c.CertManager)
	defer resume()
	w.applyAtOnce(phases.SignNew)
	w.gitopsWaitsForReissue()
	r := w.cli.Run(w.t, "status", filepath.Join(w.dir, "carousel.yaml"))
	if r.Code != 3 || !strings.Contains(r.Out, "has not re-issued") {
		w.t.Fatalf("status before cert-manager re-issued: want progressing (exit 3) naming the issuer not re-issued, got %v:\n%s", r.Err, r.Out)
	}
	w.rolledOut(issuerNS, "linkerd-identity")
	resume()
	w.blockedUntilRestarted("leaf identity-issuer (re-issued by cert-manager", []string{"linkerd-identity"})
}

// trustWhileTrustManagerPaused is statusWhileCertManagerPaused for the
// trusted set: trust-new applied all at once with trust-manager stopped,
// the trust consumers roll onto the old anchors, and once trust-manager
// writes the new set status says blocked, naming them, until they are
// restarted.
func (w *world) trustWhileTrustManagerPaused() {
	w.t.Helper()
	resume := w.pause(w.c.TrustManager)
	defer resume()
	w.applyAtOnce(phases.TrustNew)
	w.gitopsWaitsForTrustSync()
	consumers := []string{"linkerd-destination", "linkerd-identity", "linkerd-proxy-injector"}
	for _, d := range consumers {
		w.rolledOut(issuerNS, d)
	}
	resume()
	w.blockedUntilRestarted("trust bundle "+rootsName, consumers)
}

// pause stops a controller (SIGSTOP); the returned func resumes it, once.
func (w *world) pause(p *proc.Process) (resume func()) {
	w.t.Helper()
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		w.t.Fatal(err)
	}
	resumed := false
	return func() {
		if !resumed {
			resumed = true
			if err := p.Signal(syscall.SIGCONT); err != nil {
				w.t.Fatal(err)
			}
		}
	}
}

// rolledOut waits until the Deployment's rollout of its current template is
// complete (kube-controller-manager, kwok).
func (w *world) rolledOut(ns, name string) {
	w.t.Helper()
	w.c.Eventually(w.t, "deployment "+name+" rolled out", func() (bool, string) {
		out, _, err := w.c.KubectlErr("-n", ns, "rollout", "status", "deployment/"+name, "--timeout=1s")
		return err == nil, string(out)
	})
}

// blockedUntilRestarted waits until status says blocked for every one of
// deployments, naming what their pods read before it was written, then
// restarts them (kubectl rollout restart) and leaves converging to the
// caller.
func (w *world) blockedUntilRestarted(what string, deployments []string) {
	w.t.Helper()
	file := filepath.Join(w.dir, "carousel.yaml")
	w.c.Eventually(w.t, "status blocked on pods started before the controller wrote", func() (bool, string) {
		r := w.cli.Run(w.t, "status", file)
		if r.Code != 2 || !strings.Contains(r.Out, what) {
			return false, r.Out
		}
		for _, d := range deployments {
			if !strings.Contains(r.Out, "Deployment "+issuerNS+"/"+d+": ") || !strings.Contains(r.Out, "kubectl rollout restart deployment/"+d) {
				return false, r.Out
			}
		}
		return true, r.Out
	})
	nextSecond() // as a person would: not in the write's second
	for _, d := range deployments {
		w.c.Kubectl(w.t, "-n", issuerNS, "rollout", "restart", "deployment/"+d)
	}
}

// restartProxiesHeldByTheMeshGate waits until status at sign-new either
// converges or holds workloads whose pods started before linkerd-identity
// signed with the new issuer, and restarts those. With must, the hold must
// come, naming linkerd-destination and linkerd-proxy-injector, whose
// proxies did not roll at sign-new.
func (w *world) restartProxiesHeldByTheMeshGate(must bool) {
	w.t.Helper()
	file := filepath.Join(w.dir, "carousel.yaml")
	proxies := []string{"linkerd-destination", "linkerd-proxy-injector"}
	var held []string
	w.c.Eventually(w.t, "status holds the proxies that started before the issuer switched", func() (bool, string) {
		r := w.cli.Run(w.t, "status", file)
		if r.Err == nil && !must {
			return true, r.Out
		}
		const why = "started before Deployment " + issuerNS + "/linkerd-identity signed with the new CA"
		if r.Code != 3 || !strings.Contains(r.Out, why) {
			return false, r.Out
		}
		held = held[:0]
		for _, d := range proxies {
			if strings.Contains(r.Out, "Deployment "+issuerNS+"/"+d+": ") {
				held = append(held, d)
			}
		}
		return !must || len(held) == len(proxies), r.Out
	})
	nextSecond() // as a person would: not in the switch's second
	for _, d := range held {
		w.c.Kubectl(w.t, "-n", issuerNS, "rollout", "restart", "deployment/"+d)
	}
}

// handshakes runs mutual TLS between a proxy of phase a and one of phase b,
// both ways: each proxy holds a certificate its phase's identity issuer
// signed (as linkerd-identity signs proxies') and trusts its phase's
// trust-roots ConfigMap. want says whether they must succeed.
func (w *world) handshakes(a, b phaseView, want bool) {
	w.t.Helper()
	pa, pb := w.proxy(a), w.proxy(b)
	for _, pair := range [][2]proxy{{pa, pb}, {pb, pa}} {
		err := handshake(pair[0], pair[1])
		if want && err != nil {
			w.t.Fatalf("a %s client and a %s server: %v", pair[0].phase, pair[1].phase, err)
		}
		if !want && err == nil {
			w.t.Fatalf("a %s client and a %s server completed a handshake they share no anchor for", pair[0].phase, pair[1].phase)
		}
	}
}

type proxy struct {
	phase phases.Phase
	cert  tls.Certificate
	roots *x509.CertPool
}

// proxy makes a proxy identity signed by the phase's real identity issuer.
func (w *world) proxy(v phaseView) proxy {
	w.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		w.t.Fatal(err)
	}
	name := "default.emojivoto.serviceaccount.identity.linkerd.cluster.local"
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, v.issuer.Leaf, &key.PublicKey, v.issuer.PrivateKey)
	if err != nil {
		w.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	for _, r := range v.roots {
		pool.AddCert(r)
	}
	return proxy{phase: v.phase, roots: pool, cert: tls.Certificate{Certificate: [][]byte{der, v.issuer.Leaf.Raw}, PrivateKey: key}}
}

func handshake(client, server proxy) error {
	cc, sc := net.Pipe()
	defer cc.Close()
	defer sc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make(chan error, 1)
	go func() {
		s := tls.Server(sc, &tls.Config{Certificates: []tls.Certificate{server.cert}, ClientCAs: server.roots, ClientAuth: tls.RequireAndVerifyClientCert})
		err := s.HandshakeContext(ctx)
		if err != nil {
			sc.Close()
		}
		errs <- err
	}()
	c := tls.Client(cc, &tls.Config{Certificates: []tls.Certificate{client.cert}, RootCAs: client.roots,
		ServerName: "default.emojivoto.serviceaccount.identity.linkerd.cluster.local"})
	cerr := c.HandshakeContext(ctx)
	if cerr != nil {
		cc.Close()
	}
	serr := <-errs
	if cerr != nil {
		return fmt.Errorf("client: %w", cerr)
	}
	return serr
}

func parseCerts(t testing.TB, b []byte) []*x509.Certificate {
	t.Helper()
	out, err := pki.ParseCerts(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func mustGlob(t testing.TB, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func writeFile(t testing.TB, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
