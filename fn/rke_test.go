package fn

import (
	"bytes"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/handshake"
	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/rotate"
)

// rkeRotation is RKE's certificate set in small (the seed's `rke cert`): an
// API server serving certificate, the admin's client certificate and one
// etcd certificate per node, the etcd ones in group etcd, so that
// `--leaf etcd` is `rke cert rotate --service etcd`.
const rkeRotation = `apiVersion: carousel.dev/v1alpha1
kind: CARotation
metadata:
  name: rke
spec:
  phase: steady
  ca:
    commonName: kube-ca
  leaves:
  - name: kube-apiserver
    secret: {name: kube-apiserver, namespace: kube-system}
    commonName: kube-apiserver
    dnsNames: [kubernetes, kubernetes.default.svc]
    usages: [server]
  - name: kube-admin
    secret: {name: kube-admin, namespace: kube-system}
    commonName: kube-admin
    organization: [system:masters]
    usages: [client]
  - name: etcd-node1
    group: etcd
    secret: {name: etcd-node1, namespace: kube-system}
    commonName: etcd-node1
    dnsNames: [etcd-node1]
    usages: [server, client]
  - name: etcd-node2
    group: etcd
    secret: {name: etcd-node2, namespace: kube-system}
    commonName: etcd-node2
    dnsNames: [etcd-node2]
    usages: [server, client]
`

// rkeHolder is a workload mounting one leaf's Secret: its pod template
// rolls when that leaf changes, and only then.
func rkeHolder(name string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ` + name + `
  namespace: kube-system
spec:
  selector: {matchLabels: {app: ` + name + `}}
  template:
    metadata:
      labels: {app: ` + name + `}
    spec:
      containers:
      - name: c
        image: registry.k8s.io/pause:3.10
        volumeMounts: [{name: tls, mountPath: /tls}]
      volumes:
      - name: tls
        secret: {secretName: ` + name + `}
`
}

var rkeLeaves = []string{"kube-apiserver", "kube-admin", "etcd-node1", "etcd-node2"}

// demoRecipient is the age recipient of the demo key testkit decrypts with.
const demoRecipient = "age1lp9r0dtnjv6nkxud78yj4n36hr7ddgsxlmlhnz68fjsqwrpheslst0yzfx"

// newRKEPackage writes the RKE rotation, a holder per leaf and a
// kustomization listing them, the material and the transformer.
func newRKEPackage(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	var holders []string
	for _, l := range rkeLeaves {
		holders = append(holders, rkeHolder(l))
	}
	files := map[string]string{
		"carousel.yaml":      rkeRotation,
		"holders.yaml":       strings.Join(holders, "---\n"),
		"kustomization.yaml": "resources:\n- holders.yaml\n- material\ntransformers:\n- carousel.yaml\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// rkeRender builds the package at a phase with the real kustomize and
// returns the leaves it serves (keys decrypted) and its items.
func rkeRender(t *testing.T, dir string, phase phases.Phase) (map[string]testkit.Leaf, []*yaml.RNode) {
	t.Helper()
	testkit.SetPhase(t, dir, phase)
	items := testkit.Parse(t, testkit.KustomizeDir(t, dir))
	p, err := rotate.Load(filepath.Join(dir, "carousel.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]testkit.Leaf{}
	for _, l := range testkit.Leaves(t, p.Rotation, items, true) {
		out[l.Name] = l
	}
	return out, items
}

func poolOf(certs []*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// shake runs a real mutual-TLS handshake: srv serves its leaf and verifies
// client certificates against its Secret's ca.crt; cli trusts its own
// Secret's ca.crt and presents its leaf.
func shake(t *testing.T, what string, srv, cli testkit.Leaf) {
	t.Helper()
	s := handshake.Server{Name: srv.Name, Cert: srv.Pair, ServerDNS: srv.Spec.DNSNames[0], ClientCAs: poolOf(srv.CACerts)}
	c := handshake.Client{Name: cli.Name, Roots: poolOf(cli.CACerts), Cert: &cli.Pair}
	if err := handshake.Handshake(s, c, testkit.Now); err != nil {
		t.Errorf("%s: server %s, client %s: %v", what, srv.Name, cli.Name, err)
	}
}

// shakePhases renders every phase and handshakes a server leaf with a
// client leaf within each phase and across adjacent phases, both ways
// (the holders of two adjacent phases run side by side during a roll).
func shakePhases(t *testing.T, dir string, seq []phases.Phase, server, client string) map[phases.Phase]map[string]testkit.Leaf {
	t.Helper()
	rendered := map[phases.Phase]map[string]testkit.Leaf{}
	for _, ph := range seq {
		rendered[ph], _ = rkeRender(t, dir, ph)
		shake(t, string(ph), rendered[ph][server], rendered[ph][client])
	}
	for i := 0; i+1 < len(seq); i++ {
		a, b := rendered[seq[i]], rendered[seq[i+1]]
		shake(t, string(seq[i])+" server, "+string(seq[i+1])+" client", a[server], b[client])
		shake(t, string(seq[i+1])+" server, "+string(seq[i])+" client", b[server], a[client])
	}
	return rendered
}

// signLeaf plays the external CA signing a leaf CSR with the real openssl.
func signLeaf(t *testing.T, ca, csr, caCert, caKey, ext, out string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(ca, out+".ext"), []byte(ext), 0o644); err != nil {
		t.Fatal(err)
	}
	openssl(t, ca, "x509", "-req", "-in", csr, "-CA", caCert, "-CAkey", caKey, "-CAcreateserial",
		"-days", "365", "-sha256", "-extfile", out+".ext", "-out", out)
}

// rkeLeafExt is the extension file the external CA signs each RKE leaf with.
func rkeLeafExt(leaf string) string {
	base := "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nauthorityKeyIdentifier=keyid\n"
	switch leaf {
	case "kube-apiserver":
		return base + "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:kubernetes,DNS:kubernetes.default.svc\n"
	case "kube-admin":
		return base + "extendedKeyUsage=clientAuth\n"
	default:
		return base + "extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:" + leaf + "\n"
	}
}

// externalRoot makes the external CA's root with the real openssl.
func externalRoot(t *testing.T, ca string) {
	t.Helper()
	openssl(t, ca, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "root.key")
	openssl(t, ca, "req", "-x509", "-new", "-key", "root.key", "-subj", "/CN=external root", "-days", "7300", "-sha256",
		"-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", "root.pem")
}

// The RKE external-intermediate flow in one: `csr --ca`, the external root
// signs the intermediate (openssl), `import`, then `start` issues every new
// leaf with the intermediate, and every phase renders and handshakes.
// Before, start refused ("already holds new material") and no command
// issued leaves under an imported intermediate.
func TestRKEStartIssuesTheNewLeavesUnderAnImportedIntermediate(t *testing.T) {
	dir := newRKEPackage(t)
	testkit.Cmd{Dir: dir, AgeKey: true}.Must(t, "init", "carousel.yaml", "--age", demoRecipient)
	testkit.Cmd{Dir: dir, AgeKey: true}.Must(t, "csr", "carousel.yaml", "--ca", "--leaf", "kube-admin", "--age", demoRecipient)
	pending := filepath.Join(dir, "material", "pending")
	ca := t.TempDir()
	externalRoot(t, ca)
	if err := os.WriteFile(filepath.Join(ca, "int.ext"), []byte("basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	openssl(t, ca, "x509", "-req", "-in", filepath.Join(pending, "ca-new.csr"), "-CA", "root.pem", "-CAkey", "root.key", "-CAcreateserial",
		"-days", "3650", "-sha256", "-extfile", "int.ext", "-out", "int.pem")
	testkit.Cmd{Dir: dir, AgeKey: true}.Must(t, "import", "carousel.yaml", "--cert", filepath.Join(ca, "int.pem"), "--chain", filepath.Join(ca, "root.pem"))

	// start waits for the leaf requested from the external CA.
	if r := (testkit.Cmd{Dir: dir, AgeKey: true}).Run(t, "start", "carousel.yaml", "--age", demoRecipient); r.Err == nil || !strings.Contains(r.Out, `leaf "kube-admin" is requested from the external CA`) {
		t.Fatalf("start must not issue a leaf that is requested: %v\n%s", r.Err, r.Out)
	}
	// A leaf the external root signs directly, past the intermediate, is
	// refused, and the message says what to do instead.
	signLeaf(t, ca, filepath.Join(pending, "leaf-kube-admin-new.csr"), "root.pem", "root.key", rkeLeafExt("kube-admin"), "admin-by-root.pem")
	r := testkit.Cmd{Dir: dir, AgeKey: true}.Run(t, "import", "carousel.yaml", "--cert", filepath.Join(ca, "admin-by-root.pem"))
	if r.Err == nil || !strings.Contains(r.Out, "have the intermediate sign the leaf's CSR, or run `carousel start`") {
		t.Fatalf("a leaf signed by the external root must be refused saying what to do: %v\n%s", r.Err, r.Out)
	}
	// The external CA signs the admin's leaf with the intermediate (its key
	// is ours: decrypted to play the external CA).
	caPair := testkit.Decrypt(t, testkit.Parse(t, mustRead(t, filepath.Join(dir, "material", "ca-new.yaml")))[0])
	keyB64, _ := caPair.Pipe(yamlLookup("data", "tls.key"))
	if err := os.WriteFile(filepath.Join(ca, "int.key"), decodeB64(t, keyB64), 0o600); err != nil {
		t.Fatal(err)
	}
	signLeaf(t, ca, filepath.Join(pending, "leaf-kube-admin-new.csr"), "int.pem", "int.key", rkeLeafExt("kube-admin"), "admin.pem")
	testkit.Cmd{Dir: dir, AgeKey: true}.Must(t, "import", "carousel.yaml", "--cert", filepath.Join(ca, "admin.pem"))
	imported, err := pki.ParseCert(mustRead(t, filepath.Join(ca, "admin.pem")))
	if err != nil {
		t.Fatal(err)
	}

	// start issues every leaf not imported, with the intermediate.
	testkit.Cmd{Dir: dir, AgeKey: true}.Must(t, "start", "carousel.yaml", "--age", demoRecipient)
	if r := (testkit.Cmd{Dir: dir, AgeKey: true}).Run(t, "start", "carousel.yaml", "--age", demoRecipient); r.Err == nil || !strings.Contains(r.Out, "already holds new material") {
		t.Fatalf("a second start must say the rotation was started: %v\n%s", r.Err, r.Out)
	}
	intermediate, err := pki.ParseCert(mustRead(t, filepath.Join(ca, "int.pem")))
	if err != nil {
		t.Fatal(err)
	}
	seq, _ := phases.Sequence(phases.ScopeCA)
	rendered := shakePhases(t, dir, seq, "kube-apiserver", "kube-admin")
	shakePhases(t, dir, []phases.Phase{phases.SignNew}, "etcd-node1", "etcd-node2")
	for _, name := range rkeLeaves {
		l := rendered[phases.SignNew][name]
		if err := pki.CheckSignedBy(l.Cert, intermediate); err != nil {
			t.Errorf("sign-new serves %s not signed by the imported intermediate: %v", name, err)
		}
	}
	if got := rendered[phases.SignNew]["kube-admin"].Cert; pki.Fingerprint(got) != pki.Fingerprint(imported) {
		t.Error("start replaced the leaf the external CA signed and import brought")
	}
}

// A CA held externally: `init --ca-cert` without its key records the
// certificate only, `csr --leaf` requests every leaf (a group by its name),
// `import` completes the material with no CA key, the phase renders and
// handshakes; `start --scope leaf` says it cannot issue and points at csr,
// and spec.ca.secret (which renders the CA's key) is an error naming it.
// Before, init refused --ca-cert without --ca-key.
func TestRKEWithACAHeldExternallyNeedsNoCAKey(t *testing.T) {
	dir := newRKEPackage(t)
	ca := t.TempDir()
	externalRoot(t, ca)
	testkit.Cmd{Dir: dir, AgeKey: true}.Must(t, "init", "carousel.yaml", "--ca-cert", filepath.Join(ca, "root.pem"), "--age", demoRecipient)
	caFile := mustRead(t, filepath.Join(dir, "material", "ca-old.yaml"))
	if bytes.Contains(caFile, []byte("\ndata:")) || bytes.Contains(caFile, []byte("sops:")) {
		t.Fatalf("the CA held externally must be recorded without a key:\n%s", caFile)
	}
	testkit.SetPhase(t, dir, phases.Steady)
	if msg, err := exec.Command(testkit.Tool(t, "kustomize"), "build", "--enable-alpha-plugins", "--enable-exec", dir).CombinedOutput(); err == nil ||
		!strings.Contains(string(msg), "held externally (no key): request the leaf with `carousel csr --leaf kube-apiserver`") {
		t.Fatalf("before its leaves are imported the package must say how to get them: %v\n%s", err, msg)
	}
	testkit.Cmd{Dir: dir, AgeKey: true}.Must(t, "csr", "carousel.yaml", "--leaf", "kube-apiserver", "--leaf", "kube-admin", "--leaf", "etcd", "--age", demoRecipient)
	var certs []string
	for _, name := range rkeLeaves {
		signLeaf(t, ca, filepath.Join(dir, "material", "pending", "leaf-"+name+"-old.csr"), "root.pem", "root.key", rkeLeafExt(name), name+".pem")
		certs = append(certs, "--cert", filepath.Join(ca, name+".pem"))
	}
	testkit.Cmd{Dir: dir, AgeKey: true}.Must(t, append([]string{"import", "carousel.yaml"}, certs...)...)
	if entries, _ := os.ReadDir(filepath.Join(dir, "material", "pending")); len(entries) != 0 {
		t.Fatalf("imported requests must leave pending/: %v", entries)
	}
	shakePhases(t, dir, []phases.Phase{phases.Steady}, "kube-apiserver", "kube-admin")
	shakePhases(t, dir, []phases.Phase{phases.Steady}, "etcd-node1", "etcd-node2")

	before := snapshotDir(t, dir)
	r := testkit.Cmd{Dir: dir, AgeKey: true}.Run(t, "start", "carousel.yaml", "--scope", "leaf", "--leaf", "etcd", "--age", demoRecipient)
	if r.Err == nil || !strings.Contains(r.Out, "held externally") || !strings.Contains(r.Out, "carousel csr") {
		t.Fatalf("start --scope leaf must say it cannot issue without the CA key and point at csr: %v\n%s", r.Err, r.Out)
	}
	if after := snapshotDir(t, dir); len(after) != len(before) {
		t.Fatal("a refused start changed the package")
	}

	// A CA rotation moves to a CA carousel makes and holds: every phase
	// handshakes, the CA held externally trusted until distrust-old.
	testkit.Cmd{Dir: dir, AgeKey: true}.Must(t, "start", "carousel.yaml", "--age", demoRecipient)
	seq, _ := phases.Sequence(phases.ScopeCA)
	shakePhases(t, dir, seq, "kube-apiserver", "kube-admin")
	testkit.SetPhase(t, dir, phases.Steady)

	// spec.ca.secret renders the CA's key, which carousel does not hold.
	b := mustRead(t, filepath.Join(dir, "carousel.yaml"))
	b = bytes.Replace(b, []byte("    commonName: kube-ca\n"), []byte("    commonName: kube-ca\n    secret: {name: kube-ca, namespace: kube-system}\n"), 1)
	if !strings.Contains(string(b), "secret: {name: kube-ca") {
		t.Fatal("the edit did not apply")
	}
	if err := os.WriteFile(filepath.Join(dir, "carousel.yaml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testkit.Tool(t, "kustomize"), "build", "--enable-alpha-plugins", "--enable-exec", dir)
	msg, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(msg), "spec.ca.secret") || !strings.Contains(string(msg), "holds no key") {
		t.Fatalf("spec.ca.secret with a CA held externally must be an error naming the field: %v\n%s", err, msg)
	}
}

// `--leaf etcd` re-issues exactly the etcd group (rke cert rotate --service
// etcd): both etcd leaves are new, the others are carried forward unchanged
// and their holders keep their pod template. Before, `--leaf etcd` was
// refused ("not in spec.leaves").
func TestRKEALeafGroupReissuesExactlyItsLeaves(t *testing.T) {
	dir := newRKEPackage(t)
	testkit.Cmd{Dir: dir, AgeKey: true}.Must(t, "init", "carousel.yaml", "--plaintext-keys")
	if r := (testkit.Cmd{Dir: dir, AgeKey: true}).Run(t, "start", "carousel.yaml", "--scope", "leaf", "--leaf", "etc", "--plaintext-keys"); r.Err == nil || !strings.Contains(r.Out, "is not in spec.leaves: neither a leaf's name nor a group's") {
		t.Fatalf("an unknown name must be refused: %v\n%s", r.Err, r.Out)
	}
	testkit.Cmd{Dir: dir, AgeKey: true}.Must(t, "start", "carousel.yaml", "--scope", "leaf", "--leaf", "etcd", "--plaintext-keys")
	steady, steadyItems := rkeRender(t, dir, phases.Steady)
	reissue, reissueItems := rkeRender(t, dir, phases.Reissue)
	template := func(items []*yaml.RNode, name string) string {
		n := testkit.Find(items, "Deployment", "kube-system", name)
		if n == nil {
			t.Fatalf("no Deployment %s", name)
		}
		tpl, _ := n.Pipe(yaml.Lookup("spec", "template"))
		return tpl.MustString()
	}
	for _, name := range rkeLeaves {
		same := pki.Fingerprint(steady[name].Cert) == pki.Fingerprint(reissue[name].Cert)
		rolled := template(steadyItems, name) != template(reissueItems, name)
		inGroup := strings.HasPrefix(name, "etcd-")
		if same == inGroup {
			t.Errorf("%s: re-issued %v, want %v", name, !same, inGroup)
		}
		if rolled != inGroup {
			t.Errorf("%s's holder: rolled %v, want %v", name, rolled, inGroup)
		}
	}
	p, err := rotate.Load(filepath.Join(dir, "carousel.yaml"))
	if err != nil || p.Rotation.Spec.Scope != phases.ScopeLeaf {
		t.Fatalf("start --scope leaf must set spec.scope: %v", err)
	}
}

// TestInitPresetRKEWritesAPackageThatRendersEveryPhase is the first hour
// with the rke preset: `init --preset rke` and `start` in an empty
// directory, then every phase of the CA rotation through the real
// kustomize. Each phase renders every RKE service certificate as its
// kube-system Secret, and the API server's certificate handshakes with the
// admin's, and one etcd node's with another's (peers), within each phase and
// across adjacent ones. And `rke cert rotate --service etcd`: in a second
// package of the preset, `start --scope leaf --leaf etcd` re-issues exactly
// the kube-etcd-<node> leaves.
func TestInitPresetRKEWritesAPackageThatRendersEveryPhase(t *testing.T) {
	dir := t.TempDir()
	testkit.Cmd{Dir: dir, AgeKey: true}.Must(t, "init", "--preset", "rke", "carousel.yaml", "--age", demoRecipient)
	testkit.Cmd{Dir: dir, AgeKey: true}.Must(t, "start", "carousel.yaml", "--age", demoRecipient)
	p, err := rotate.Load(filepath.Join(dir, "carousel.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"kube-apiserver": "", "kube-controller-manager": "", "kube-scheduler": "", "kube-proxy": "",
		"kube-node": "kubelet", "kube-admin": "", "kube-etcd-172-16-0-11": "etcd", "kube-etcd-172-16-0-12": "etcd",
	}
	if len(p.Rotation.Spec.Leaves) != len(want) {
		t.Errorf("the preset has %d leaves, want RKE's %d service certificates", len(p.Rotation.Spec.Leaves), len(want))
	}
	for _, l := range p.Rotation.Spec.Leaves {
		if g, ok := want[l.Name]; !ok || g != l.Group || l.Secret.Name != l.Name || l.Secret.Namespace != "kube-system" {
			t.Errorf("leaf %s (group %q, Secret %s/%s): not RKE's certificate of that name", l.Name, l.Group, l.Secret.Namespace, l.Secret.Name)
		}
	}
	seq, _ := phases.Sequence(phases.ScopeCA)
	rendered := shakePhases(t, dir, seq, "kube-apiserver", "kube-admin")
	for i, ph := range seq {
		for name := range want {
			if _, ok := rendered[ph][name]; !ok {
				t.Errorf("%s renders no Secret kube-system/%s", ph, name)
			}
		}
		shake(t, string(ph)+" etcd peers", rendered[ph]["kube-etcd-172-16-0-11"], rendered[ph]["kube-etcd-172-16-0-12"])
		if i > 0 {
			shake(t, string(seq[i-1])+" etcd peer, "+string(ph)+" etcd peer", rendered[seq[i-1]]["kube-etcd-172-16-0-11"], rendered[ph]["kube-etcd-172-16-0-12"])
		}
	}

	// rke cert rotate --service etcd, in a package of the preset at steady.
	dir = t.TempDir()
	testkit.Cmd{Dir: dir, AgeKey: true}.Must(t, "init", "--preset", "rke", "carousel.yaml", "--age", demoRecipient)
	testkit.Cmd{Dir: dir, AgeKey: true}.Must(t, "start", "carousel.yaml", "--scope", "leaf", "--leaf", "etcd", "--age", demoRecipient)
	before, _ := rkeRender(t, dir, phases.Steady)
	after, _ := rkeRender(t, dir, phases.Reissue)
	for name, group := range want {
		changed := !before[name].Cert.Equal(after[name].Cert)
		if changed != (group == "etcd") {
			t.Errorf("--leaf etcd: %s re-issued: %v, want %v", name, changed, group == "etcd")
		}
	}
}
