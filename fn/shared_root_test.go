package fn

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/handshake"
	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
)

const sharedRoot = `apiVersion: carousel.dev/v1alpha1
kind: CARotation
metadata:
  name: mesh-root
spec:
  phase: steady
  ca:
    commonName: mesh root
  publish: ../state/root.yaml
  clusters:
`

// clusterUnderRoot is a cluster's package: its CA is its own intermediate
// under the shared root, trusted through the root (spec.ca.trust: root).
const clusterUnderRoot = `apiVersion: carousel.dev/v1alpha1
kind: CARotation
metadata:
  name: mesh
spec:
  sharedRoot: ../root/carousel.yaml
  rootState: mesh-root
  phase: steady
  ca:
    commonName: %[1]s intermediate
    trust: root
    # Istio's plug-in CA (multi-primary, one intermediate per cluster):
    # istiod signs workload certificates with ca-cert.pem, presents
    # cert-chain.pem (the intermediate, then its root) and trusts
    # root-cert.pem (the roots of the phase).
    secret:
      name: cacerts
      namespace: istio-system
      type: Opaque
      keys: {cert: ca-cert.pem, key: ca-key.pem, chain: cert-chain.pem, ca: root-cert.pem}
  leaves:
  - name: workload
    secret: {name: workload, namespace: mesh}
    dnsNames: [workload.%[1]s.mesh]
    usages: [server, client]
  bundles:
  - {name: mesh-trust, namespaces: [mesh]}
`

// ageIdentity makes an age identity file and returns it and its recipient.
func ageIdentity(t *testing.T) (file, recipient string) {
	t.Helper()
	file = filepath.Join(t.TempDir(), "age.key")
	if out, err := exec.Command(testkit.Tool(t, "age-keygen"), "-o", file).CombinedOutput(); err != nil {
		t.Fatalf("age-keygen: %v\n%s", err, out)
	}
	out, err := exec.Command(testkit.Tool(t, "age-keygen"), "-y", file).Output()
	if err != nil {
		t.Fatal(err)
	}
	return file, strings.TrimSpace(string(out))
}

func opensslIn(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("openssl", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl %v: %v\n%s", args, err, out)
	}
}

// clusterPhase is what one cluster's package renders at a phase: its
// workload's certificate (with its key, decrypted with the cluster's
// identity) and the trusted set its bundle holds.
type clusterPhase struct {
	cert  tls.Certificate
	roots *x509.CertPool
	trust []*x509.Certificate
	// The same as PEM files, for openssl.
	peer handshake.Peer
	// cacerts is istio-system/cacerts, decrypted.
	cacerts []byte
}

func renderCluster(t *testing.T, dir, identity string, phase phases.Phase) clusterPhase {
	t.Helper()
	testkit.SetPhase(t, dir, phase)
	out := testkit.Cmd{}.Must(t, "build", dir).Stdout
	var cp clusterPhase
	for _, n := range testkit.Parse(t, []byte(out)) {
		switch {
		case n.GetKind() == "ConfigMap" && n.GetName() == "mesh-trust":
			certs, err := pki.ParseCerts([]byte(n.GetDataMap()["ca.crt"]))
			if err != nil {
				t.Fatal(err)
			}
			cp.trust = certs
			anchors := filepath.Join(t.TempDir(), "anchors.crt")
			if err := os.WriteFile(anchors, pki.EncodeCerts(certs...), 0o600); err != nil {
				t.Fatal(err)
			}
			cp.peer.Anchors = anchors
			cp.roots = x509.NewCertPool()
			for _, c := range certs {
				cp.roots.AddCert(c)
			}
		case n.GetKind() == "Secret" && n.GetName() == "cacerts":
			plain, err := testkit.DecryptAs(t, identity, []byte(n.MustString()))
			if err != nil {
				t.Fatalf("decrypting %s's cacerts with its own identity: %v\n%s", dir, err, plain)
			}
			cp.cacerts = plain
		case n.GetKind() == "Secret" && n.GetName() == "workload":
			plain, err := testkit.DecryptAs(t, identity, []byte(n.MustString()))
			if err != nil {
				t.Fatalf("decrypting %s's workload Secret with its own identity: %v\n%s", dir, err, plain)
			}
			s, err := yaml.Parse(string(plain))
			if err != nil {
				t.Fatal(err)
			}
			d := s.GetDataMap()
			crt, _ := base64.StdEncoding.DecodeString(d["tls.crt"])
			key, _ := base64.StdEncoding.DecodeString(d["tls.key"])
			if cp.cert, err = tls.X509KeyPair(crt, key); err != nil {
				t.Fatal(err)
			}
			certs, err := pki.ParseCerts(crt)
			if err != nil || len(certs) != 2 {
				t.Fatalf("%s at %s: tls.crt must be the leaf and its intermediate (%v): %d certificates", dir, phase, err, len(certs))
			}
			files := t.TempDir()
			write := func(name string, b []byte) string {
				f := filepath.Join(files, name)
				if err := os.WriteFile(f, b, 0o600); err != nil {
					t.Fatal(err)
				}
				return f
			}
			cp.peer.Name = certs[0].DNSNames[0]
			cp.peer.Cert = write("leaf.crt", pki.EncodeCerts(certs[0]))
			cp.peer.Chain = write("chain.crt", pki.EncodeCerts(certs[1]))
			cp.peer.Key = write("leaf.key", key)
		}
	}
	if cp.roots == nil || cp.cert.Certificate == nil || cp.cacerts == nil {
		t.Fatalf("%s at %s renders no workload Secret or no bundle:\n%s", dir, phase, out)
	}
	return cp
}

// TestClustersUnderASharedRootHandshakeAcrossTheWindow builds the shared
// root's layout from its commands and walks its rotation: the root's
// owner signs each cluster's intermediate (`carousel sign`, the root's key
// never leaving its package), each cluster holds only its own
// intermediate, encrypted to its own identity, and trusts the roots
// (spec.ca.trust: root). Every pair of clusters within one phase of each
// other completes mutual TLS (Go, with the workloads' certificates and
// bundles as rendered, and openssl s_server/s_client agreeing on every
// pair); a pair two phases apart does not, which is what the
// fleet window prevents; and one cluster's identity cannot decrypt another
// cluster's intermediate key.
// sharedRootFleet makes a repository holding a shared root (root/, its
// spec.clusters listing each name with the name as its context) and a
// package per cluster (<name>/, clusterUnderRoot), every package's keys
// encrypted to an age identity of its own, and the rotation's material:
// each cluster's first intermediate (key and request made with openssl,
// signed by the root's owner, adopted with its chain), the new root, and
// each cluster's next intermediate under it (csr --ca, sign --generation
// new, import) with its leaves. It returns the repository and each
// package's identity file.
func sharedRootFleet(t *testing.T, clusters ...string) (string, map[string]string) {
	t.Helper()
	repo := t.TempDir()
	ids, recipients := map[string]string{}, map[string]string{}
	for _, name := range append([]string{"root"}, clusters...) {
		ids[name], recipients[name] = ageIdentity(t)
		if err := os.MkdirAll(filepath.Join(repo, name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	file := func(name string) string { return filepath.Join(repo, name, "carousel.yaml") }
	as := func(name string) testkit.Cmd {
		return testkit.Cmd{Env: []string{"SOPS_AGE_KEY_FILE=" + ids[name], "SOPS_AGE_KEY="}}
	}
	root := sharedRoot
	for _, name := range clusters {
		root += fmt.Sprintf("  - {name: %[1]s, rotation: ../%[1]s/carousel.yaml, context: %[1]s}\n", name)
	}
	if err := os.WriteFile(file("root"), []byte(root), 0o644); err != nil {
		t.Fatal(err)
	}
	as("root").Must(t, "init", file("root"), "--age", recipients["root"])
	for _, name := range clusters {
		if err := os.WriteFile(file(name), fmt.Appendf(nil, clusterUnderRoot, name), 0o644); err != nil {
			t.Fatal(err)
		}
		work := t.TempDir()
		opensslIn(t, work, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "int.key")
		opensslIn(t, work, "req", "-new", "-key", "int.key", "-subj", "/CN="+name+" intermediate", "-out", "int.csr")
		as("root").Must(t, "sign", file("root"), "--csr", filepath.Join(work, "int.csr"), "--out", filepath.Join(work, "int.pem"), "--chain-out", filepath.Join(work, "root.pem"))
		i, _ := os.ReadFile(filepath.Join(work, "int.pem"))
		r, _ := os.ReadFile(filepath.Join(work, "root.pem"))
		if err := os.WriteFile(filepath.Join(work, "chain.pem"), append(i, r...), 0o644); err != nil {
			t.Fatal(err)
		}
		as(name).Must(t, "init", file(name), "--ca-cert", filepath.Join(work, "chain.pem"), "--ca-key", filepath.Join(work, "int.key"), "--age", recipients[name])
		// init lists the root's published state among the resources.
		if k, _ := os.ReadFile(filepath.Join(repo, name, "kustomization.yaml")); !strings.Contains(string(k), "\n- ../state\n") {
			t.Fatalf("init of %s under a shared root must list the root's state directory:\n%s", name, k)
		}
	}
	as("root").Must(t, "start", file("root"), "--age", recipients["root"])
	for _, name := range clusters {
		as(name).Must(t, "csr", file(name), "--ca", "--age", recipients[name])
		csrs, _ := filepath.Glob(filepath.Join(repo, name, "material", "pending", "*.csr"))
		if len(csrs) != 1 {
			t.Fatalf("%s: want one pending CSR, got %v", name, csrs)
		}
		work := t.TempDir()
		as("root").Must(t, "sign", file("root"), "--csr", csrs[0], "--generation", "new", "--out", filepath.Join(work, "int.pem"), "--chain-out", filepath.Join(work, "root.pem"))
		as(name).Must(t, "import", file(name), "--cert", filepath.Join(work, "int.pem"), "--chain", filepath.Join(work, "root.pem"))
		as(name).Must(t, "start", file(name), "--age", recipients[name])
	}
	return repo, ids
}

// readRootState lists the shared root's state directory (from dir) among
// the resources of the cluster package in dir, as a cluster's
// kustomization does (docs/fleet.md, "The root's published state").
func readRootState(t *testing.T, dir, state string) {
	t.Helper()
	k := filepath.Join(dir, "kustomization.yaml")
	b, err := os.ReadFile(k)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "resources:\n") {
		t.Fatalf("%s has no resources to add the root's state to:\n%s", k, b)
	}
	if err := os.WriteFile(k, []byte(strings.Replace(string(b), "resources:\n", "resources:\n- "+state+"\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestClustersUnderASharedRootHandshakeAcrossTheWindow(t *testing.T) {
	repo, ids := sharedRootFleet(t, "east", "west")

	// A CA without a chain cannot be trusted through its root: the root
	// package itself (a self-signed CA) says so if asked to.
	bad := filepath.Join(t.TempDir(), "root")
	if err := os.CopyFS(bad, os.DirFS(filepath.Join(repo, "root"))); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(bad, "carousel.yaml"))
	if err := os.WriteFile(filepath.Join(bad, "carousel.yaml"), []byte(strings.Replace(string(b), "    commonName: mesh root\n", "    commonName: mesh root\n    trust: root\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := (testkit.Cmd{}).Run(t, "build", bad); r.Code == 0 || !strings.Contains(r.Out, "spec.ca.trust is root, but the old CA's chain holds the CA alone") {
		t.Fatalf("trust: root over a CA without its chain must fail the render, saying why: exit %d\n%s", r.Code, r.Out)
	}

	// One cluster's identity cannot decrypt another's intermediate key.
	for _, pair := range [][2]string{{"east", "west"}, {"west", "east"}} {
		keys, _ := filepath.Glob(filepath.Join(repo, pair[0], "material", "ca-*.yaml"))
		if len(keys) != 2 {
			t.Fatalf("%s: want the old and new intermediates, got %v", pair[0], keys)
		}
		for _, k := range keys {
			b, _ := os.ReadFile(k)
			if out, err := testkit.DecryptAs(t, ids[pair[1]], b); err == nil {
				t.Errorf("%s's identity decrypts %s's intermediate key %s:\n%s", pair[1], pair[0], k, out)
			}
			if out, err := testkit.DecryptAs(t, ids[pair[0]], b); err != nil {
				t.Errorf("%s's own identity must decrypt %s: %v\n%s", pair[0], k, err, out)
			}
		}
	}

	// Each cluster renders from the root's published state: an
	// intermediate chained to another root (made with openssl) is refused,
	// naming the root, and so is a cluster package without the state.
	rogue := filepath.Join(repo, "rogue")
	if err := os.MkdirAll(rogue, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rogue, "carousel.yaml"), fmt.Appendf(nil, clusterUnderRoot, "rogue"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, rogueRecipient := ageIdentity(t)
	testkit.Cmd{}.Must(t, append([]string{"init", filepath.Join(rogue, "carousel.yaml"), "--age", rogueRecipient}, opensslIntermediate(t)...)...)
	if r := (testkit.Cmd{}).Run(t, "build", rogue); r.Code == 0 || !strings.Contains(r.Out, `trusts the root "shared root"`) || !strings.Contains(r.Out, "which the shared root mesh-root does not hold at steady") || strings.Contains(r.Stdout, "kind: Secret") {
		t.Fatalf("a cluster whose intermediate chains to another root must not render, naming the root: exit %d\n%s", r.Code, r.Out)
	}
	stateless := filepath.Join(repo, "stateless")
	if err := os.CopyFS(stateless, os.DirFS(filepath.Join(repo, "east"))); err != nil {
		t.Fatal(err)
	}
	k, _ := os.ReadFile(filepath.Join(stateless, "kustomization.yaml"))
	if err := os.WriteFile(filepath.Join(stateless, "kustomization.yaml"), []byte(strings.Replace(string(k), "- ../state\n", "", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := (testkit.Cmd{}).Run(t, "build", stateless); r.Code == 0 || !strings.Contains(r.Out, `no CARotationState "mesh-root" among the resources`) {
		t.Fatalf("a cluster without the root's state must not render: exit %d\n%s", r.Code, r.Out)
	}
	for _, dir := range []string{rogue, stateless} {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
	}

	seq, _ := phases.Sequence(phases.ScopeCA)
	at := map[string]map[phases.Phase]clusterPhase{"east": {}, "west": {}}
	for _, name := range []string{"east", "west"} {
		for _, ph := range seq {
			at[name][ph] = renderCluster(t, filepath.Join(repo, name), ids[name], ph)
		}
	}
	// istiod's own CA code (bin/istio-cacerts) loads every cluster's
	// cacerts at every phase and signs a workload certificate that
	// verifies against the phase's roots.
	for _, name := range []string{"east", "west"} {
		for _, ph := range seq {
			cmd := exec.Command(testkit.Tool(t, "istio-cacerts"))
			cmd.Stdin = strings.NewReader(string(at[name][ph].cacerts))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("Istio's CA refuses %s's cacerts at %s: %v\n%s", name, ph, err, out)
			}
		}
	}
	// The bundles hold roots, never an intermediate.
	for ph, cp := range at["east"] {
		for _, c := range cp.trust {
			if c.Subject.CommonName != "mesh root" || c.CheckSignatureFrom(c) != nil {
				t.Errorf("east's bundle at %s holds %q, not a root", ph, c.Subject.CommonName)
			}
		}
	}
	now := time.Now()
	mtls := func(a, b clusterPhase) error {
		return handshake.Handshake(
			handshake.Server{Name: "east", Cert: a.cert, ServerDNS: "workload.east.mesh", ClientCAs: a.roots},
			handshake.Client{Name: "west", Roots: b.roots, Cert: &b.cert}, now)
	}
	for i, pa := range seq {
		for j, pb := range seq {
			err := mtls(at["east"][pa], at["west"][pb])
			// openssl, the second stack, must agree with Go on every pair.
			if oerr := handshake.OpenSSL(at["east"][pa].peer, at["west"][pb].peer, now); (oerr == nil) != (err == nil) {
				t.Errorf("east at %s and west at %s: Go says %v, openssl says %v", pa, pb, err, oerr)
			}
			ok, _ := phases.Handshakes(phases.ScopeCA, pa, pb)
			switch d := i - j; {
			case d >= -1 && d <= 1 && err != nil:
				t.Errorf("east at %s and west at %s are within the window but do not handshake: %v", pa, pb, err)
			case ok && err != nil:
				t.Errorf("east at %s and west at %s: the phase model says they handshake, TLS says %v", pa, pb, err)
			case !ok && err == nil:
				t.Errorf("east at %s and west at %s handshake, though the phase model says they do not", pa, pb)
			}
		}
	}
	// Two phases apart: the window is what keeps this pair from meeting.
	if err := mtls(at["east"][phases.SignNew], at["west"][phases.Steady]); err == nil {
		t.Error("east at sign-new and west at steady handshake: the window would guard nothing")
	}
}
