package runbook_test

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"text/template"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/plan"
	"github.com/carousel-dev/carousel/pkg/runbook"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// The runbook tests run the commands `carousel plan` prints, with bash, the
// real kubectl and the real sops, against a kubeadm-shaped tree in a
// temporary directory (KUBE_ROOT). Only what restarts processes or needs a
// cluster is stubbed: systemctl, crictl and kubeadm are scripts first on
// PATH that record their calls (kubeadm also records which CA its
// certificate directory held when it was called, since it would sign with it).

// forwardAndBack goes forward through every phase and takes every rollback
// on the way.
var forwardAndBack = []phases.Phase{
	phases.Steady, phases.TrustNew, phases.Steady, phases.TrustNew, phases.SignNew, phases.TrustNew,
	phases.SignNew, phases.DistrustOld, phases.SignNew, phases.DistrustOld, phases.Cleanup, phases.DistrustOld, phases.Cleanup,
}

// generation is one CA generation's certificate and key, and a leaf's.
type pair struct {
	cert *x509.Certificate
	key  []byte // PEM
}

type rehearsal struct {
	t    *testing.T
	pkg  *testkit.Package
	root string // KUBE_ROOT
	log  string // stub calls
	env  []string
	ca   map[phases.Generation]pair
	leaf map[phases.Generation]pair // front-proxy-client
	// served are the API server certificates the cluster-CA rotation
	// issues itself (spec.leaves apiserver, apiserver-kubelet-client), by
	// name: the runbook installs them instead of having kubeadm re-issue them.
	served  map[string]map[phases.Generation]pair
	initial map[string]string // sha256 of every file of the tree at the start
	text    map[string]string // the content of every file of the tree at the start
	// kubeadmIssues: the rotation does not issue front-proxy-client, so
	// the runbook has kubeadm re-issue it.
	kubeadmIssues bool
}

func pemCerts(certs ...*x509.Certificate) []byte {
	return []byte(runbook.PEMOf(certs...))
}

func loadPairs(t *testing.T, pkg *testkit.Package) (ca, leaf map[phases.Generation]pair) {
	ca, leaves := loadAll(t, pkg)
	return ca, leaves[runbook.FrontProxyClient]
}

// loadAll reads a package's CA generations and every leaf's, by leaf name.
func loadAll(t *testing.T, pkg *testkit.Package) (ca map[phases.Generation]pair, leaves map[string]map[phases.Generation]pair) {
	ca, leaves = map[phases.Generation]pair{}, map[string]map[phases.Generation]pair{}
	for _, n := range pkg.Items {
		if !material.IsKeyPair(n) {
			continue
		}
		k, err := material.Parse(testkit.Decrypt(t, n))
		if err != nil {
			t.Fatal(err)
		}
		key, err := k.KeyPEM()
		if err != nil {
			t.Fatal(err)
		}
		if k.ID() == material.RoleCA {
			ca[k.Generation] = pair{k.Cert(), key}
			continue
		}
		name := strings.TrimPrefix(k.ID(), material.RoleLeaf+"/")
		if leaves[name] == nil {
			leaves[name] = map[phases.Generation]pair{}
		}
		leaves[name][k.Generation] = pair{k.Cert(), key}
	}
	return ca, leaves
}

var userOf = map[string]string{
	"admin.conf": "kubernetes-admin", "super-admin.conf": "kubernetes-super-admin", "controller-manager.conf": "system:kube-controller-manager",
	"scheduler.conf": "system:kube-scheduler", "kubelet.conf": "system:node:cp-1",
}

// kubeconfig is a control-plane kubeconfig (testdata/kubeconfig.yaml.tmpl)
// of user, trusting caPEM, with a client certificate and key that name the
// user, so kubeconfigCA can tell the runbook left them alone.
func kubeconfig(t *testing.T, caPEM []byte, user string) string {
	t.Helper()
	tmpl, err := template.New("kubeconfig.yaml.tmpl").Option("missingkey=error").ParseFiles(filepath.Join("testdata", "kubeconfig.yaml.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, map[string]string{
		"CAData":                base64.StdEncoding.EncodeToString(caPEM),
		"User":                  user,
		"ClientCertificateData": base64.StdEncoding.EncodeToString([]byte("client certificate of " + user)),
		"ClientKeyData":         base64.StdEncoding.EncodeToString([]byte("client key of " + user)),
	}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// nodeFiles reads testdata/node: a kubeadm control-plane node's files that
// no rotation's material decides, by path under the node's root.
func nodeFiles(t *testing.T) map[string]string {
	t.Helper()
	dir := filepath.Join("testdata", "node")
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"etc/kubernetes/manifests/kube-apiserver.yaml", "etc/kubernetes/manifests/kube-controller-manager.yaml", "var/lib/kubelet/config.yaml"} {
		if _, ok := files[f]; !ok {
			t.Fatalf("%s has no %s", dir, f)
		}
	}
	return files
}

// example is the directory of examples/<name>.
func example(t *testing.T, name string) string {
	return filepath.Join(testkit.Root(t), "examples", name)
}

// apiserverCerts are kubeadm's names of the API server's certificates the
// cluster CA signs.
var apiserverCerts = []string{"apiserver", "apiserver-kubelet-client"}

// newRehearsal lays out a kubeadm control-plane node of the steady phase of
// both example rotations (cluster CA and front-proxy CA) under a temporary
// root, for the runbook of pkgDir: testdata/node, the old generation of
// both CAs' files and of front-proxy-client, and the kubeconfigs.
func newRehearsal(t *testing.T, pkgDir string) *rehearsal {
	t.Helper()
	repo := testkit.Root(t)
	kubectl, sops := testkit.Tool(t, "kubectl"), testkit.Tool(t, "sops")
	clusterDir := example(t, "cluster-ca")
	if filepath.Base(pkgDir) != "front-proxy-ca" {
		clusterDir = pkgDir // the example, or a package made from it
	}
	clusterCA, clusterLeaves := loadAll(t, testkit.Load(t, clusterDir))
	fpCA, fpLeaf := loadPairs(t, testkit.Load(t, example(t, "front-proxy-ca")))
	tmp := t.TempDir()
	root := filepath.Join(tmp, "node")
	files := nodeFiles(t)
	for name, content := range map[string]string{
		"etc/kubernetes/pki/ca.crt":                 string(pemCerts(clusterCA[phases.Old].cert)),
		"etc/kubernetes/pki/ca.key":                 string(clusterCA[phases.Old].key),
		"etc/kubernetes/pki/front-proxy-ca.crt":     string(pemCerts(fpCA[phases.Old].cert)),
		"etc/kubernetes/pki/front-proxy-ca.key":     string(fpCA[phases.Old].key),
		"etc/kubernetes/pki/front-proxy-client.crt": string(pemCerts(fpLeaf[phases.Old].cert)),
		"etc/kubernetes/pki/front-proxy-client.key": string(fpLeaf[phases.Old].key),
	} {
		files[name] = content
	}
	for conf, user := range userOf {
		files["etc/kubernetes/"+conf] = kubeconfig(t, pemCerts(clusterCA[phases.Old].cert), user)
	}
	// A node of the steady phase holds the old generation of the API
	// server certificates the rotation issues.
	for _, name := range apiserverCerts {
		if l, ok := clusterLeaves[name]; ok && filepath.Base(pkgDir) != "front-proxy-ca" {
			files["etc/kubernetes/pki/"+name+".crt"] = string(pemCerts(l[phases.Old].cert))
			files["etc/kubernetes/pki/"+name+".key"] = string(l[phases.Old].key)
		}
	}
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(tmp, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, stub := range map[string]string{"systemctl": "record.sh", "crictl": "record.sh", "kubeadm": "kubeadm.sh"} {
		script, err := os.ReadFile(filepath.Join("testdata", "stubs", stub))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bin, name), script, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r := &rehearsal{t: t, pkg: testkit.Load(t, pkgDir), root: root, log: filepath.Join(tmp, "calls.log")}
	r.ca, r.leaf, r.served = clusterCA, fpLeaf, map[string]map[phases.Generation]pair{}
	for _, name := range apiserverCerts {
		if l, ok := clusterLeaves[name]; ok {
			r.served[name] = l
		}
	}
	if filepath.Base(pkgDir) == "front-proxy-ca" {
		r.ca, r.served = fpCA, nil
	}
	// The stubs first; then the real kubectl and sops; then the system.
	path := bin + string(os.PathListSeparator) + filepath.Dir(kubectl) + string(os.PathListSeparator) + filepath.Dir(sops) + string(os.PathListSeparator) + os.Getenv("PATH")
	r.env = []string{
		"PATH=" + path, "HOME=" + tmp, "KUBE_ROOT=" + root, "STUB_LOG=" + r.log,
		"SOPS_AGE_KEY_FILE=" + filepath.Join(repo, testkit.AgeKeyFile), "LC_ALL=C",
	}
	r.snapshot()
	return r
}

// snapshot records the tree as the start that unchangedExcept compares with.
func (r *rehearsal) snapshot() {
	r.initial, r.text = r.hashes(), map[string]string{}
	for f := range r.initial {
		r.text[f] = string(r.read(f))
	}
}

func (r *rehearsal) hashes() map[string]string {
	out := map[string]string{}
	err := filepath.WalkDir(r.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(r.root, p)
		sum := sha256.Sum256(b)
		out[rel] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return out
}

// step returns the move from -> to as `carousel plan` builds it.
//
// With steps (docs/phases.md), the node steps of the phase move from -> to
// belong to one move between positions (phases.NodeMove): the step that
// rolls in-cluster-config consumers, when the phase has it.
func (r *rehearsal) step(from, to phases.Phase) *plan.Step {
	r.t.Helper()
	rot0 := r.pkg.Rotation(r.t)
	f := rot0.Features()
	path, _ := phases.Path(rot0.Spec.Scope, f)
	for i := range path {
		for _, j := range []int{i + 1, i - 1} {
			if j < 0 || j >= len(path) {
				continue
			}
			a, b, _, ok := phases.NodeMove(rot0.Spec.Scope, path[i], path[j], f)
			if !ok || a != from || b != to {
				continue
			}
			cfg := r.pkg.WithPosition(r.t, path[i])
			rot, err := spec.Load(cfg)
			if err != nil {
				r.t.Fatal(err)
			}
			p, err := plan.Build(rot, cfg, r.pkg.CopyItems(), testkit.Now)
			if err != nil {
				r.t.Fatal(err)
			}
			for _, s := range []*plan.Step{p.Next, p.Rollback} {
				if s != nil && s.ToPosition() == path[j] {
					return s
				}
			}
		}
	}
	r.t.Fatalf("the plan of %s has no move to %s", from, to)
	return nil
}

// run runs one command as a person would paste it into a plain bash (no
// set -e, no pipefail), from the package directory.
func (r *rehearsal) run(cmd string) (stdout, stderr string, err error) {
	c := exec.Command("bash", "--noprofile", "--norc", "-c", cmd)
	c.Dir = r.pkg.Dir
	c.Env = r.env
	var o, e bytes.Buffer
	c.Stdout, c.Stderr = &o, &e
	err = c.Run()
	return o.String(), e.String(), err
}

// move runs every command of the move's runbook in order, and stops at the
// first that fails, returning it and its stderr; stdout is what the
// commands run printed.
func (r *rehearsal) move(from, to phases.Phase) (stdout, failed, stderr string) {
	r.t.Helper()
	s := r.step(from, to)
	if len(s.Runbook) == 0 {
		r.t.Fatalf("%s -> %s has no runbook", from, to)
	}
	var out strings.Builder
	for _, st := range s.Runbook {
		for _, c := range st.Commands {
			o, e, err := r.run(c)
			out.WriteString(o)
			if err != nil {
				return out.String(), c, e
			}
		}
	}
	return out.String(), "", ""
}

// walk makes the moves of path in order (move), and after each calls after,
// when not nil, with the move and what its commands printed. A command that
// fails ends the test, naming the move, the command and what it said.
func (r *rehearsal) walk(path []phases.Phase, after func(from, to phases.Phase, stdout string)) {
	r.t.Helper()
	for i := 1; i < len(path); i++ {
		from, to := path[i-1], path[i]
		out, failed, stderr := r.move(from, to)
		if failed != "" {
			r.t.Fatalf("%s -> %s: a command failed:\n%s\n%s", from, to, failed, stderr)
		}
		if after != nil {
			after(from, to, out)
		}
	}
}

func (r *rehearsal) read(nodePath string) []byte {
	r.t.Helper()
	b, err := os.ReadFile(filepath.Join(r.root, nodePath))
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

func (r *rehearsal) exists(nodePath string) bool {
	_, err := os.Stat(filepath.Join(r.root, nodePath))
	return err == nil
}

func parseCerts(t *testing.T, where string, b []byte) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		out = append(out, c)
	}
	if len(bytes.TrimSpace(b)) != 0 {
		t.Fatalf("%s: trailing bytes after the certificates: %q", where, b)
	}
	return out
}

// sameSet compares certificate sets (order aside), exactly: nothing extra,
// nothing missing, no duplicates.
func sameSet(got, want []*x509.Certificate) bool {
	if len(got) != len(want) {
		return false
	}
	for _, w := range want {
		if !slices.ContainsFunc(got, func(g *x509.Certificate) bool { return g.Equal(w) }) {
			return false
		}
	}
	return true
}

func names(certs []*x509.Certificate) string {
	var s []string
	for _, c := range certs {
		s = append(s, fmt.Sprintf("%s/%x", c.Subject.CommonName, c.SubjectKeyId))
	}
	return strings.Join(s, ", ")
}

// flags parses a static pod's command line.
func (r *rehearsal) flags(manifest string) map[string]string {
	r.t.Helper()
	n, err := yaml.Parse(string(r.read("etc/kubernetes/manifests/" + manifest)))
	if err != nil {
		r.t.Fatalf("%s no longer parses: %v", manifest, err)
	}
	cmd, err := n.Pipe(yaml.Lookup("spec", "containers", "[name="+strings.TrimSuffix(manifest, ".yaml")+"]", "command"))
	if err != nil || cmd == nil {
		r.t.Fatalf("%s: no command", manifest)
	}
	out := map[string]string{}
	for _, e := range cmd.Content() {
		k, v, ok := strings.Cut(e.Value, "=")
		if ok {
			out[strings.TrimPrefix(k, "--")] = v
		}
	}
	return out
}

// trusts checks the file a flag names holds exactly want.
func (r *rehearsal) trusts(what, nodePath string, want []*x509.Certificate) {
	r.t.Helper()
	got := parseCerts(r.t, what, r.read(nodePath))
	if !sameSet(got, want) {
		r.t.Errorf("%s (%s) holds [%s], want [%s]", what, nodePath, names(got), names(want))
	}
}

// chainsTo checks, with crypto/x509, that the certificate installed at
// nodePath verifies against the signing CA alone, for its usages.
func (r *rehearsal) chainsTo(what, nodePath string, signer *x509.Certificate) {
	r.t.Helper()
	certs := parseCerts(r.t, what, r.read(nodePath))
	if len(certs) == 0 {
		r.t.Errorf("%s (%s) holds no certificate", what, nodePath)
		return
	}
	roots := x509.NewCertPool()
	roots.AddCert(signer)
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, CurrentTime: testkit.Now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		r.t.Errorf("%s (%s) does not chain to the signer %s: %v", what, nodePath, names([]*x509.Certificate{signer}), err)
	}
}

func (r *rehearsal) keyMatches(what, nodePath string, cert *x509.Certificate) {
	r.t.Helper()
	blk, _ := pem.Decode(r.read(nodePath))
	if blk == nil {
		r.t.Errorf("%s (%s) is not a PEM key", what, nodePath)
		return
	}
	var key any
	var err error
	if key, err = x509.ParsePKCS8PrivateKey(blk.Bytes); err != nil {
		if key, err = x509.ParseECPrivateKey(blk.Bytes); err != nil {
			r.t.Errorf("%s (%s): %v", what, nodePath, err)
			return
		}
	}
	pub := key.(crypto.Signer).Public().(interface{ Equal(crypto.PublicKey) bool })
	if !pub.Equal(cert.PublicKey) {
		r.t.Errorf("%s (%s) is not the key of %s", what, nodePath, cert.Subject.CommonName)
	}
	if info, err := os.Stat(filepath.Join(r.root, nodePath)); err == nil && info.Mode().Perm()&0o077 != 0 {
		r.t.Errorf("%s (%s) is readable by others: %v", what, nodePath, info.Mode())
	}
}

// kubeconfigCA checks a kubeconfig kept its one cluster, server and user,
// and trusts exactly want.
func (r *rehearsal) kubeconfigCA(name string, want []*x509.Certificate) {
	r.t.Helper()
	n, err := yaml.Parse(string(r.read("etc/kubernetes/" + name)))
	if err != nil {
		r.t.Fatalf("%s no longer parses: %v", name, err)
	}
	clusters, _ := n.Pipe(yaml.Lookup("clusters"))
	if els, _ := clusters.Elements(); len(els) != 1 {
		r.t.Errorf("%s has %d clusters, want its one", name, len(els))
	}
	server, _ := n.Pipe(yaml.Lookup("clusters", "[name=kubernetes]", "cluster", "server"))
	if yaml.GetValue(server) != "https://10.0.0.1:6443" {
		r.t.Errorf("%s lost its server: %q", name, yaml.GetValue(server))
	}
	data, _ := n.Pipe(yaml.Lookup("clusters", "[name=kubernetes]", "cluster", "certificate-authority-data"))
	b, err := base64.StdEncoding.DecodeString(yaml.GetValue(data))
	if err != nil {
		r.t.Fatalf("%s: %v", name, err)
	}
	if got := parseCerts(r.t, name, b); !sameSet(got, want) {
		r.t.Errorf("%s certificate-authority-data holds [%s], want [%s]", name, names(got), names(want))
	}
	for _, field := range []string{"client-certificate-data", "client-key-data"} {
		v, _ := n.Pipe(yaml.Lookup("users", "[name="+userOf[name]+"]", "user", field))
		if b, _ := base64.StdEncoding.DecodeString(yaml.GetValue(v)); !strings.HasSuffix(string(b), " of "+userOf[name]) {
			r.t.Errorf("%s lost its user's %s: %q", name, field, b)
		}
	}
}

// unchangedExcept checks every file of the tree but the runbook's own is
// byte for byte what it was, and that in the manifests the runbook edits
// only the lines of its flags differ.
func (r *rehearsal) unchangedExcept(own []string, flagsOf map[string][]string) {
	r.t.Helper()
	now := r.hashes()
	for f, h := range now {
		if slices.Contains(own, f) {
			continue
		}
		if _, edited := flagsOf[f]; edited {
			continue
		}
		if r.initial[f] != h {
			r.t.Errorf("%s changed: this runbook must not touch it", f)
		}
	}
	for f := range r.initial {
		if _, ok := now[f]; !ok && !slices.Contains(own, f) {
			r.t.Errorf("%s was deleted: this runbook must not touch it", f)
		}
	}
	for f, flags := range flagsOf {
		if _, had := r.initial[f]; !had && !r.exists(f) {
			continue // an optional component this node does not run
		}
		was := r.text[f]
		a, b := strings.Split(was, "\n"), strings.Split(string(r.read(f)), "\n")
		if len(a) != len(b) {
			r.t.Errorf("%s has %d lines, had %d", f, len(b), len(a))
			continue
		}
		for i := range a {
			if a[i] == b[i] {
				continue
			}
			if !slices.ContainsFunc(flags, func(fl string) bool {
				return strings.HasPrefix(strings.TrimSpace(a[i]), fl) && strings.HasPrefix(strings.TrimSpace(b[i]), fl)
			}) {
				r.t.Errorf("%s line %d changed from %q to %q: not one of the runbook's flags", f, i+1, a[i], b[i])
			}
		}
	}
}

func (r *rehearsal) calls() []string {
	b, err := os.ReadFile(r.log)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		r.t.Fatal(err)
	}
	_ = os.Remove(r.log)
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func (r *rehearsal) certs(gs []phases.Generation) []*x509.Certificate {
	var out []*x509.Certificate
	for _, g := range gs {
		out = append(out, r.ca[g].cert)
	}
	return out
}

// tokenControllerAgrees checks that the file kube-controller-manager's
// --root-ca-file points at holds, byte for byte, the ca.crt pkg/gen renders
// into the example's service-account token Secrets in the phase: the token
// controller compares the two as bytes and rewrites ca.crt when they differ
// (secretUpdateNeeded in pkg/controller/serviceaccount/tokens_controller.go),
// so the same set in another order would have it and the GitOps controller
// overwrite each other for as long as the phase lasts.
func (r *rehearsal) tokenControllerAgrees(ph phases.Phase, rootCAFile string) {
	r.t.Helper()
	file := r.read(rootCAFile)
	found := 0
	for _, n := range r.pkg.Render(r.t, ph).Items {
		if n.GetKind() != "Secret" || n.Field("type") == nil || yaml.GetValue(n.Field("type").Value) != "kubernetes.io/service-account-token" {
			continue
		}
		found++
		v, _ := n.Pipe(yaml.Lookup("data", "ca.crt"))
		rendered, err := base64.StdEncoding.DecodeString(yaml.GetValue(v))
		if err != nil {
			r.t.Fatal(err)
		}
		if !bytes.Equal(rendered, file) {
			r.t.Errorf("in %s Secret %s/%s carries ca.crt\n%s\nbut --root-ca-file (%s) holds\n%s\nthe token controller would rewrite it", ph, n.GetNamespace(), n.GetName(), rendered, rootCAFile, file)
		}
	}
	if found == 0 {
		r.t.Fatalf("the example renders no service-account token Secret in %s: nothing to compare --root-ca-file with", ph)
	}
}

// checkCluster checks a node in phase ph of the cluster-CA rotation.
func (r *rehearsal) checkCluster(ph phases.Phase) {
	r.t.Helper()
	st, _ := phases.Lookup(phases.ScopeCA, ph)
	trusted, signer := r.certs(st.Trusted), r.ca[st.Signer].cert
	api, kcm, sched := r.flags("kube-apiserver.yaml"), r.flags("kube-controller-manager.yaml"), r.flags("kube-scheduler.yaml")
	r.trusts("kube-apiserver --client-ca-file", api["client-ca-file"], trusted)
	if r.exists("etc/kubernetes/manifests/cloud-controller-manager.yaml") {
		if f, ok := r.flags("cloud-controller-manager.yaml")["root-ca-file"]; ok {
			r.trusts("cloud-controller-manager --root-ca-file", f, trusted)
		}
	}
	r.trusts("kube-apiserver --kubelet-certificate-authority", api["kubelet-certificate-authority"], trusted)
	r.trusts("kube-controller-manager --root-ca-file", kcm["root-ca-file"], trusted)
	r.tokenControllerAgrees(ph, kcm["root-ca-file"])
	r.trusts("kube-scheduler --client-ca-file", sched["client-ca-file"], trusted)
	// The page's note: these two are never bundles, always the signer alone.
	r.trusts("kube-controller-manager --client-ca-file", kcm["client-ca-file"], []*x509.Certificate{signer})
	r.trusts("kube-controller-manager --cluster-signing-cert-file", kcm["cluster-signing-cert-file"], []*x509.Certificate{signer})
	r.keyMatches("kube-controller-manager --cluster-signing-key-file", kcm["cluster-signing-key-file"], signer)
	r.trusts("ca.crt", "etc/kubernetes/pki/ca.crt", []*x509.Certificate{signer})
	r.keyMatches("ca.key", "etc/kubernetes/pki/ca.key", signer)
	kc, err := yaml.Parse(string(r.read("var/lib/kubelet/config.yaml")))
	if err != nil {
		r.t.Fatal(err)
	}
	cafile, _ := kc.Pipe(yaml.Lookup("authentication", "x509", "clientCAFile"))
	r.trusts("kubelet clientCAFile", yaml.GetValue(cafile), trusted)
	for _, c := range []string{"kubelet.conf", "admin.conf", "super-admin.conf", "controller-manager.conf", "scheduler.conf"} {
		r.kubeconfigCA(c, trusted)
	}
	bundle := runbook.UsesBundle(st)
	if r.exists("etc/kubernetes/pki/ca-bundle.crt") != bundle {
		r.t.Errorf("in %s ca-bundle.crt exists: %v, want %v", ph, !bundle, bundle)
	}
	if !bundle {
		for what, v := range map[string]string{"kube-apiserver --client-ca-file": api["client-ca-file"], "kube-controller-manager --root-ca-file": kcm["root-ca-file"],
			"kube-controller-manager --cluster-signing-cert-file": kcm["cluster-signing-cert-file"], "kubelet clientCAFile": yaml.GetValue(cafile)} {
			if v != "/etc/kubernetes/pki/ca.crt" {
				r.t.Errorf("in %s (the kubeadm layout) %s is %s, want /etc/kubernetes/pki/ca.crt", ph, what, v)
			}
		}
		if kcm["cluster-signing-key-file"] != "/etc/kubernetes/pki/ca.key" {
			r.t.Errorf("in %s --cluster-signing-key-file is %s", ph, kcm["cluster-signing-key-file"])
		}
	}
	copyWanted := bundle && st.Signer == phases.New
	if r.exists("etc/kubernetes/pki/ca-new.crt") != copyWanted || r.exists("etc/kubernetes/pki/ca-new.key") != copyWanted {
		r.t.Errorf("in %s the copy of the new CA exists: %v, want %v", ph, !copyWanted, copyWanted)
	}
	own := []string{"etc/kubernetes/pki/ca.crt", "etc/kubernetes/pki/ca.key", "etc/kubernetes/pki/ca-bundle.crt", "etc/kubernetes/pki/ca-new.crt", "etc/kubernetes/pki/ca-new.key",
		"etc/kubernetes/kubelet.conf", "etc/kubernetes/admin.conf", "etc/kubernetes/super-admin.conf", "etc/kubernetes/controller-manager.conf", "etc/kubernetes/scheduler.conf"}
	// The API server's own certificates the rotation issues: installed, of
	// the phase's leaf generation, chained to the signer, with their keys.
	for name, gens := range r.served {
		leaf := gens[st.Leaves].cert
		crt, key := "etc/kubernetes/pki/"+name+".crt", "etc/kubernetes/pki/"+name+".key"
		r.trusts(name+".crt", crt, []*x509.Certificate{leaf})
		r.keyMatches(name+".key", key, leaf)
		r.chainsTo(name+".crt", crt, signer)
		own = append(own, crt, key)
	}
	r.unchangedExcept(own,
		map[string][]string{
			"etc/kubernetes/manifests/kube-apiserver.yaml":           {"- --client-ca-file=", "- --kubelet-certificate-authority="},
			"etc/kubernetes/manifests/kube-controller-manager.yaml":  {"- --root-ca-file=", "- --client-ca-file=", "- --cluster-signing-cert-file=", "- --cluster-signing-key-file="},
			"etc/kubernetes/manifests/kube-scheduler.yaml":           {"- --client-ca-file="},
			"var/lib/kubelet/config.yaml":                            {"clientCAFile:"},
			"etc/kubernetes/manifests/cloud-controller-manager.yaml": {"- --root-ca-file="},
		})
}

// checkFrontProxy checks a node in phase ph of the front-proxy rotation.
func (r *rehearsal) checkFrontProxy(ph phases.Phase) {
	r.t.Helper()
	st, _ := phases.Lookup(phases.ScopeCA, ph)
	trusted, signer := r.certs(st.Trusted), r.ca[st.Signer].cert
	api, kcm := r.flags("kube-apiserver.yaml"), r.flags("kube-controller-manager.yaml")
	r.trusts("kube-apiserver --requestheader-client-ca-file", api["requestheader-client-ca-file"], trusted)
	r.trusts("kube-controller-manager --requestheader-client-ca-file", kcm["requestheader-client-ca-file"], trusted)
	r.trusts("front-proxy-ca.crt", "etc/kubernetes/pki/front-proxy-ca.crt", []*x509.Certificate{signer})
	r.keyMatches("front-proxy-ca.key", "etc/kubernetes/pki/front-proxy-ca.key", signer)
	if r.kubeadmIssues {
		// kubeadm (a stub here) re-issues front-proxy-client: the pair
		// stays as it was on disk, checked by unchangedExcept.
		r.unchangedExcept(
			[]string{"etc/kubernetes/pki/front-proxy-ca.crt", "etc/kubernetes/pki/front-proxy-ca.key", "etc/kubernetes/pki/front-proxy-ca-bundle.crt"},
			map[string][]string{
				"etc/kubernetes/manifests/kube-apiserver.yaml":          {"- --requestheader-client-ca-file="},
				"etc/kubernetes/manifests/kube-controller-manager.yaml": {"- --requestheader-client-ca-file="},
			})
		return
	}
	leaf := r.leaf[st.Leaves].cert
	r.trusts("front-proxy-client.crt", api["proxy-client-cert-file"], []*x509.Certificate{leaf})
	r.keyMatches("front-proxy-client.key", api["proxy-client-key-file"], leaf)
	if err := leaf.CheckSignatureFrom(signer); err != nil {
		r.t.Errorf("in %s the installed front-proxy-client is not signed by the signer: %v", ph, err)
	}
	bundle := runbook.UsesBundle(st)
	if r.exists("etc/kubernetes/pki/front-proxy-ca-bundle.crt") != bundle {
		r.t.Errorf("in %s front-proxy-ca-bundle.crt exists: %v, want %v", ph, !bundle, bundle)
	}
	if !bundle && api["requestheader-client-ca-file"] != "/etc/kubernetes/pki/front-proxy-ca.crt" {
		r.t.Errorf("in %s (the kubeadm layout) --requestheader-client-ca-file is %s", ph, api["requestheader-client-ca-file"])
	}
	// Never the cluster CA's files: everything else is byte for byte as it was.
	r.unchangedExcept(
		[]string{"etc/kubernetes/pki/front-proxy-ca.crt", "etc/kubernetes/pki/front-proxy-ca.key", "etc/kubernetes/pki/front-proxy-ca-bundle.crt",
			"etc/kubernetes/pki/front-proxy-client.crt", "etc/kubernetes/pki/front-proxy-client.key"},
		map[string][]string{
			"etc/kubernetes/manifests/kube-apiserver.yaml":          {"- --requestheader-client-ca-file="},
			"etc/kubernetes/manifests/kube-controller-manager.yaml": {"- --requestheader-client-ca-file="},
		})
}
