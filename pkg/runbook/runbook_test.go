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
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/plan"
	"github.com/carousel-dev/carousel/pkg/rotate"
	"github.com/carousel-dev/carousel/pkg/runbook"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// The runbook tests run the commands `carousel plan` prints, with bash, the
// real kubectl and the real sops, against a kubeadm-shaped tree in a
// temporary directory (KUBE_ROOT). Only what restarts processes or needs a
// cluster is stubbed: systemctl, crictl and kubeadm are scripts first on
// PATH that record their calls (kubeadm also records which CA its
// certificate directory held when it was called, since it would sign with it).

// walk goes forward through every phase and takes every rollback on the way.
var walk = []phases.Phase{
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

func kubeconfig(caPEM []byte, user string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: %s
    server: https://10.0.0.1:6443
  name: kubernetes
contexts:
- context:
    cluster: kubernetes
    user: %s
  name: %s@kubernetes
current-context: %s@kubernetes
preferences: {}
users:
- name: %s
  user:
    client-certificate-data: %s
    client-key-data: %s
`, base64.StdEncoding.EncodeToString(caPEM), user, user, user, user,
		base64.StdEncoding.EncodeToString([]byte("client certificate of "+user)), base64.StdEncoding.EncodeToString([]byte("client key of "+user)))
}

const apiserverManifest = `apiVersion: v1
kind: Pod
metadata:
  labels:
    component: kube-apiserver
    tier: control-plane
  name: kube-apiserver
  namespace: kube-system
spec:
  containers:
  - command:
    - kube-apiserver
    - --advertise-address=10.0.0.1
    - --allow-privileged=true
    - --authorization-mode=Node,RBAC
    - --client-ca-file=/etc/kubernetes/pki/ca.crt
    - --enable-admission-plugins=NodeRestriction
    - --enable-bootstrap-token-auth=true
    - --etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt
    - --etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client.crt
    - --etcd-keyfile=/etc/kubernetes/pki/apiserver-etcd-client.key
    - --etcd-servers=https://127.0.0.1:2379
    - --kubelet-certificate-authority=/etc/kubernetes/pki/ca.crt
    - --kubelet-client-certificate=/etc/kubernetes/pki/apiserver-kubelet-client.crt
    - --kubelet-client-key=/etc/kubernetes/pki/apiserver-kubelet-client.key
    - --kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname
    - --proxy-client-cert-file=/etc/kubernetes/pki/front-proxy-client.crt
    - --proxy-client-key-file=/etc/kubernetes/pki/front-proxy-client.key
    - --requestheader-allowed-names=front-proxy-client
    - --requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.crt
    - --requestheader-extra-headers-prefix=X-Remote-Extra-
    - --requestheader-group-headers=X-Remote-Group
    - --requestheader-username-headers=X-Remote-User
    - --secure-port=6443
    - --service-account-issuer=https://kubernetes.default.svc.cluster.local
    - --service-account-key-file=/etc/kubernetes/pki/sa.pub
    - --service-account-signing-key-file=/etc/kubernetes/pki/sa.key
    - --service-cluster-ip-range=10.96.0.0/12
    - --tls-cert-file=/etc/kubernetes/pki/apiserver.crt
    - --tls-private-key-file=/etc/kubernetes/pki/apiserver.key
    image: registry.k8s.io/kube-apiserver:v1.36.3
    name: kube-apiserver
    volumeMounts:
    - mountPath: /etc/kubernetes/pki
      name: k8s-certs
      readOnly: true
  hostNetwork: true
  volumes:
  - hostPath:
      path: /etc/kubernetes/pki
      type: DirectoryOrCreate
    name: k8s-certs
`

const controllerManagerManifest = `apiVersion: v1
kind: Pod
metadata:
  labels:
    component: kube-controller-manager
    tier: control-plane
  name: kube-controller-manager
  namespace: kube-system
spec:
  containers:
  - command:
    - kube-controller-manager
    - --allocate-node-cidrs=true
    - --authentication-kubeconfig=/etc/kubernetes/controller-manager.conf
    - --authorization-kubeconfig=/etc/kubernetes/controller-manager.conf
    - --bind-address=127.0.0.1
    - --client-ca-file=/etc/kubernetes/pki/ca.crt
    - --cluster-name=kubernetes
    - --cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt
    - --cluster-signing-key-file=/etc/kubernetes/pki/ca.key
    - --controllers=*,bootstrapsigner,tokencleaner
    - --kubeconfig=/etc/kubernetes/controller-manager.conf
    - --leader-elect=true
    - --requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.crt
    - --root-ca-file=/etc/kubernetes/pki/ca.crt
    - --service-account-private-key-file=/etc/kubernetes/pki/sa.key
    - --use-service-account-credentials=true
    image: registry.k8s.io/kube-controller-manager:v1.36.3
    name: kube-controller-manager
  hostNetwork: true
`

// The scheduler sets --client-ca-file, as the Kubernetes page assumes
// (kubeadm's default manifest does not; the command then says so).
const schedulerManifest = `apiVersion: v1
kind: Pod
metadata:
  labels:
    component: kube-scheduler
    tier: control-plane
  name: kube-scheduler
  namespace: kube-system
spec:
  containers:
  - command:
    - kube-scheduler
    - --authentication-kubeconfig=/etc/kubernetes/scheduler.conf
    - --authorization-kubeconfig=/etc/kubernetes/scheduler.conf
    - --bind-address=127.0.0.1
    - --client-ca-file=/etc/kubernetes/pki/ca.crt
    - --kubeconfig=/etc/kubernetes/scheduler.conf
    - --leader-elect=true
    image: registry.k8s.io/kube-scheduler:v1.36.3
    name: kube-scheduler
  hostNetwork: true
`

// A cloud-controller-manager run as a static pod (kubeadm does not make
// one; clusters with an external cloud provider add it).
const cloudControllerManagerManifest = `apiVersion: v1
kind: Pod
metadata:
  labels:
    component: cloud-controller-manager
    tier: control-plane
  name: cloud-controller-manager
  namespace: kube-system
spec:
  containers:
  - command:
    - cloud-controller-manager
    - --cloud-provider=external-example
    - --kubeconfig=/etc/kubernetes/controller-manager.conf
    - --leader-elect=true
    - --root-ca-file=/etc/kubernetes/pki/ca.crt
    - --use-service-account-credentials=true
    image: registry.example/cloud-controller-manager:v1.36.0
    name: cloud-controller-manager
  hostNetwork: true
`

const kubeletConfigFile = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous:
    enabled: false
  webhook:
    cacheTTL: 0s
    enabled: true
  x509:
    clientCAFile: /etc/kubernetes/pki/ca.crt
authorization:
  mode: Webhook
cgroupDriver: systemd
clusterDNS:
- 10.96.0.10
clusterDomain: cluster.local
rotateCertificates: true
staticPodPath: /etc/kubernetes/manifests
`

const stub = `#!/bin/sh
printf '%s\n' "$(basename "$0") $*" >> "$STUB_LOG"
`

// kubeadm would sign with the CA files of --cert-dir: record which.
const kubeadmStub = `#!/bin/sh
ca=$(sha256sum < "$KUBE_ROOT/etc/kubernetes/pki/ca.crt" | cut -d' ' -f1)
fp=$(sha256sum < "$KUBE_ROOT/etc/kubernetes/pki/front-proxy-ca.crt" | cut -d' ' -f1)
printf '%s\n' "kubeadm $* ca=$ca front-proxy-ca=$fp" >> "$STUB_LOG"
`

// apiserverCerts are kubeadm's names of the API server's certificates the
// cluster CA signs.
var apiserverCerts = []string{"apiserver", "apiserver-kubelet-client"}

// newRehearsal lays out a kubeadm control-plane node of the steady phase of
// both example rotations (cluster CA and front-proxy CA) under a temporary
// root, for the runbook of pkgDir.
func newRehearsal(t *testing.T, pkgDir string) *rehearsal {
	t.Helper()
	repo := testkit.Root(t)
	kubectl, sops := testkit.Tool(t, "kubectl"), testkit.Tool(t, "sops")
	clusterDir := filepath.Join(repo, "examples", "cluster-ca")
	if filepath.Base(pkgDir) != "front-proxy-ca" {
		clusterDir = pkgDir // the example, or a package made from it
	}
	clusterCA, clusterLeaves := loadAll(t, testkit.Load(t, clusterDir))
	fpCA, fpLeaf := loadPairs(t, testkit.Load(t, filepath.Join(repo, "examples", "front-proxy-ca")))
	tmp := t.TempDir()
	root := filepath.Join(tmp, "node")
	files := map[string]string{
		"etc/kubernetes/manifests/kube-apiserver.yaml":           apiserverManifest,
		"etc/kubernetes/manifests/kube-controller-manager.yaml":  controllerManagerManifest,
		"etc/kubernetes/manifests/kube-scheduler.yaml":           schedulerManifest,
		"etc/kubernetes/manifests/etcd.yaml":                     "apiVersion: v1\nkind: Pod\nmetadata:\n  name: etcd\n",
		"etc/kubernetes/manifests/cloud-controller-manager.yaml": cloudControllerManagerManifest,
		"etc/kubernetes/pki/ca.crt":                              string(pemCerts(clusterCA[phases.Old].cert)),
		"etc/kubernetes/pki/ca.key":                              string(clusterCA[phases.Old].key),
		"etc/kubernetes/pki/front-proxy-ca.crt":                  string(pemCerts(fpCA[phases.Old].cert)),
		"etc/kubernetes/pki/front-proxy-ca.key":                  string(fpCA[phases.Old].key),
		"etc/kubernetes/pki/front-proxy-client.crt":              string(pemCerts(fpLeaf[phases.Old].cert)),
		"etc/kubernetes/pki/front-proxy-client.key":              string(fpLeaf[phases.Old].key),
		"etc/kubernetes/pki/apiserver.crt":                       "apiserver certificate\n",
		"etc/kubernetes/pki/apiserver.key":                       "apiserver key\n",
		"etc/kubernetes/pki/apiserver-kubelet-client.crt":        "apiserver-kubelet-client certificate\n",
		"etc/kubernetes/pki/apiserver-kubelet-client.key":        "apiserver-kubelet-client key\n",
		"etc/kubernetes/pki/sa.key":                              "service-account key\n",
		"etc/kubernetes/pki/sa.pub":                              "service-account public key\n",
		"etc/kubernetes/pki/etcd/ca.crt":                         "etcd CA\n",
		"etc/kubernetes/admin.conf":                              kubeconfig(pemCerts(clusterCA[phases.Old].cert), "kubernetes-admin"),
		"etc/kubernetes/super-admin.conf":                        kubeconfig(pemCerts(clusterCA[phases.Old].cert), "kubernetes-super-admin"),
		"etc/kubernetes/controller-manager.conf":                 kubeconfig(pemCerts(clusterCA[phases.Old].cert), "system:kube-controller-manager"),
		"etc/kubernetes/scheduler.conf":                          kubeconfig(pemCerts(clusterCA[phases.Old].cert), "system:kube-scheduler"),
		"etc/kubernetes/kubelet.conf":                            kubeconfig(pemCerts(clusterCA[phases.Old].cert), "system:node:cp-1"),
		"var/lib/kubelet/config.yaml":                            kubeletConfigFile,
		"var/lib/kubelet/pki/kubelet-client-current.pem":         "kubelet client pair\n",
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
	for name, script := range map[string]string{"systemctl": stub, "crictl": stub, "kubeadm": kubeadmStub} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
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
// first that fails, returning its stderr.
func (r *rehearsal) move(from, to phases.Phase) (failed string, stderr string) {
	r.t.Helper()
	s := r.step(from, to)
	if len(s.Runbook) == 0 {
		r.t.Fatalf("%s -> %s has no runbook", from, to)
	}
	for _, st := range s.Runbook {
		for _, c := range st.Commands {
			_, e, err := r.run(c)
			if err != nil {
				return c, e
			}
		}
	}
	return "", ""
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

func TestTheClusterCARunbookEditsExactlyItsFilesInEveryMoveForwardAndBack(t *testing.T) {
	r := newRehearsal(t, filepath.Join(testkit.Root(t), "examples", "cluster-ca"))
	r.checkCluster(phases.Steady)
	for i := 1; i < len(walk); i++ {
		from, to := walk[i-1], walk[i]
		if failed, stderr := r.move(from, to); failed != "" {
			t.Fatalf("%s -> %s: a command failed:\n%s\n%s", from, to, failed, stderr)
		}
		r.checkCluster(to)
		calls := r.calls()
		a, _ := phases.Lookup(phases.ScopeCA, from)
		b, _ := phases.Lookup(phases.ScopeCA, to)
		var kubeadm []string
		for _, c := range calls {
			if strings.HasPrefix(c, "kubeadm ") {
				kubeadm = append(kubeadm, c)
			}
		}
		if a.Signer != b.Signer {
			// kubeadm re-issues only once ca.crt holds the new signer.
			want := "ca=" + sha(pemCerts(r.ca[b.Signer].cert))
			if len(kubeadm) < 5 {
				t.Errorf("%s -> %s: kubeadm renewed %d certificates, want apiserver, apiserver-kubelet-client and the kubeconfigs: %q", from, to, len(kubeadm), kubeadm)
			}
			for _, c := range kubeadm {
				if !strings.Contains(c, want) {
					t.Errorf("%s -> %s: %q ran before ca.crt held the %s CA", from, to, c, b.Signer)
				}
				if !strings.Contains(c, "--cert-dir "+filepath.Join(r.root, "etc/kubernetes/pki")) {
					t.Errorf("%s -> %s: %q ignores KUBE_ROOT", from, to, c)
				}
			}
		} else if len(kubeadm) > 0 {
			t.Errorf("%s -> %s: the signer does not change, but kubeadm ran: %q", from, to, kubeadm)
		}
		if !slices.Equal(a.Trusted, b.Trusted) && !slices.Contains(calls, "systemctl restart kubelet") {
			t.Errorf("%s -> %s: the trusted set changed and the kubelet was not restarted: %q", from, to, calls)
		}
	}
}

func TestTheFrontProxyRunbookNeverTouchesTheClusterCAsFiles(t *testing.T) {
	r := newRehearsal(t, filepath.Join(testkit.Root(t), "examples", "front-proxy-ca"))
	r.checkFrontProxy(phases.Steady)
	for i := 1; i < len(walk); i++ {
		from, to := walk[i-1], walk[i]
		if failed, stderr := r.move(from, to); failed != "" {
			t.Fatalf("%s -> %s: a command failed:\n%s\n%s", from, to, failed, stderr)
		}
		r.checkFrontProxy(to)
		for _, c := range r.calls() {
			if strings.HasPrefix(c, "kubeadm ") || strings.HasPrefix(c, "systemctl ") {
				t.Errorf("%s -> %s: the front-proxy runbook ran %q", from, to, c)
			}
		}
	}
}

// TestWithoutItsOwnClientLeafTheFrontProxyRunbookHasKubeadmReissueIt: a
// front-proxy rotation that does not list front-proxy-client in spec.leaves
// re-issues it with kubeadm, once front-proxy-ca.crt holds the new signer,
// and still never touches the cluster CA's files.
func TestWithoutItsOwnClientLeafTheFrontProxyRunbookHasKubeadmReissueIt(t *testing.T) {
	r := newRehearsal(t, filepath.Join(testkit.Root(t), "examples", "front-proxy-ca"))
	r.kubeadmIssues = true
	if err := r.pkg.Config.PipeE(yaml.Lookup("spec"), yaml.Clear("leaves")); err != nil {
		t.Fatal(err)
	}
	r.checkFrontProxy(phases.Steady)
	renewed := 0
	for i := 1; i < len(walk); i++ {
		from, to := walk[i-1], walk[i]
		if failed, stderr := r.move(from, to); failed != "" {
			t.Fatalf("%s -> %s: a command failed:\n%s\n%s", from, to, failed, stderr)
		}
		r.checkFrontProxy(to)
		b, _ := phases.Lookup(phases.ScopeCA, to)
		for _, c := range r.calls() {
			if !strings.HasPrefix(c, "kubeadm ") {
				continue
			}
			renewed++
			want := "kubeadm certs renew front-proxy-client --cert-dir " + filepath.Join(r.root, "etc/kubernetes/pki") + " "
			if !strings.HasPrefix(c, want) || !strings.HasSuffix(c, "front-proxy-ca="+sha(pemCerts(r.ca[b.Signer].cert))) {
				t.Errorf("%s -> %s: %q, want %q... while front-proxy-ca.crt holds the %s CA", from, to, c, want, b.Signer)
			}
		}
	}
	if renewed == 0 {
		t.Fatal("kubeadm never re-issued front-proxy-client")
	}
}

// TestARunbookCommandFailsLoudlyWhenWhatItEditsIsMissing breaks one thing
// of the node and runs the move: the command that needs it must fail (not
// exit 0 having changed nothing), name it, and leave its file as it was.
func TestARunbookCommandFailsLoudlyWhenWhatItEditsIsMissing(t *testing.T) {
	repo := testkit.Root(t)
	cluster, frontProxy := filepath.Join(repo, "examples", "cluster-ca"), filepath.Join(repo, "examples", "front-proxy-ca")
	dropLine := func(file, prefix string) func(*rehearsal) {
		return func(r *rehearsal) {
			p := filepath.Join(r.root, file)
			b := r.read(file)
			var kept []string
			for _, l := range strings.Split(string(b), "\n") {
				if !strings.HasPrefix(strings.TrimSpace(l), prefix) {
					kept = append(kept, l)
				}
			}
			if len(kept) == len(strings.Split(string(b), "\n")) {
				r.t.Fatalf("%s has no line %q to drop", file, prefix)
			}
			if err := os.WriteFile(p, []byte(strings.Join(kept, "\n")), 0o600); err != nil {
				r.t.Fatal(err)
			}
		}
	}
	remove := func(file string) func(*rehearsal) {
		return func(r *rehearsal) {
			if err := os.Remove(filepath.Join(r.root, file)); err != nil {
				r.t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		name     string
		pkg      string
		to       phases.Phase // reached from steady, forward
		brk      func(*rehearsal)
		file     string // the file the failing command edits
		mentions string
	}{
		{"trust-new fails when kube-controller-manager has no --root-ca-file", cluster, phases.TrustNew,
			dropLine("etc/kubernetes/manifests/kube-controller-manager.yaml", "- --root-ca-file="), "etc/kubernetes/manifests/kube-controller-manager.yaml", "--root-ca-file"},
		{"trust-new fails when kube-apiserver has no --client-ca-file", cluster, phases.TrustNew,
			dropLine("etc/kubernetes/manifests/kube-apiserver.yaml", "- --client-ca-file="), "etc/kubernetes/manifests/kube-apiserver.yaml", "--client-ca-file"},
		{"trust-new fails when the kube-apiserver manifest is missing", cluster, phases.TrustNew,
			remove("etc/kubernetes/manifests/kube-apiserver.yaml"), "", "kube-apiserver.yaml"},
		{"trust-new fails when the kube-scheduler manifest is missing", cluster, phases.TrustNew,
			remove("etc/kubernetes/manifests/kube-scheduler.yaml"), "", "kube-scheduler.yaml is missing"},
		{"trust-new fails when the kubelet configuration has no clientCAFile", cluster, phases.TrustNew,
			dropLine("var/lib/kubelet/config.yaml", "clientCAFile:"), "var/lib/kubelet/config.yaml", "clientCAFile"},
		{"trust-new fails when kubelet.conf is missing", cluster, phases.TrustNew,
			remove("etc/kubernetes/kubelet.conf"), "", "kubelet.conf"},
		{"trust-new fails when admin.conf is missing", cluster, phases.TrustNew,
			remove("etc/kubernetes/admin.conf"), "", "admin.conf"},
		{"trust-new fails when the pki directory is missing", cluster, phases.TrustNew,
			func(r *rehearsal) { _ = os.RemoveAll(filepath.Join(r.root, "etc/kubernetes/pki")) }, "", "ca-bundle.crt"},
		{"sign-new fails when kube-controller-manager has no --cluster-signing-key-file", cluster, phases.SignNew,
			dropLine("etc/kubernetes/manifests/kube-controller-manager.yaml", "- --cluster-signing-key-file="), "etc/kubernetes/manifests/kube-controller-manager.yaml", "--cluster-signing-key-file"},
		{"sign-new fails, and writes no key, when the material cannot be decrypted", cluster, phases.SignNew,
			func(r *rehearsal) {
				r.env = append(r.env, "SOPS_AGE_KEY_FILE="+filepath.Join(r.root, "no-such-key"))
			}, "etc/kubernetes/pki/ca-new.key", "sops"},
		{"front-proxy trust-new fails when kube-apiserver has no --requestheader-client-ca-file", frontProxy, phases.TrustNew,
			dropLine("etc/kubernetes/manifests/kube-apiserver.yaml", "- --requestheader-client-ca-file="), "etc/kubernetes/manifests/kube-apiserver.yaml", "--requestheader-client-ca-file"},
		{"front-proxy trust-new fails when kube-controller-manager has no --requestheader-client-ca-file", frontProxy, phases.TrustNew,
			dropLine("etc/kubernetes/manifests/kube-controller-manager.yaml", "- --requestheader-client-ca-file="), "etc/kubernetes/manifests/kube-controller-manager.yaml", "--requestheader-client-ca-file"},
		{"front-proxy sign-new fails, and writes no key, when the material cannot be decrypted", frontProxy, phases.SignNew,
			func(r *rehearsal) {
				r.env = append(r.env, "SOPS_AGE_KEY_FILE="+filepath.Join(r.root, "no-such-key"))
			}, "etc/kubernetes/pki/front-proxy-ca.key", "sops"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRehearsal(t, tc.pkg)
			seq := []phases.Phase{phases.Steady, phases.TrustNew, phases.SignNew}
			last := slices.Index(seq, tc.to)
			for i := 1; i < last; i++ {
				if failed, stderr := r.move(seq[i-1], seq[i]); failed != "" {
					t.Fatalf("%s -> %s, before breaking the node: %s\n%s", seq[i-1], seq[i], failed, stderr)
				}
			}
			tc.brk(r)
			before := r.hashes()
			failed, stderr := r.move(seq[last-1], tc.to)
			if failed == "" {
				t.Fatalf("every command of %s -> %s succeeded on the broken node", seq[last-1], tc.to)
			}
			if !strings.Contains(stderr, tc.mentions) {
				t.Errorf("the failing command does not say what is missing (%q):\n%s\n%s", tc.mentions, failed, stderr)
			}
			if tc.file != "" && before[tc.file] != r.hashes()[tc.file] {
				t.Errorf("%s changed although the command failed", tc.file)
			}
			for f := range r.hashes() {
				if strings.HasSuffix(f, ".key") && before[f] == "" {
					t.Errorf("a failed move left a new key file %s", f)
				}
			}
		})
	}
}

// moveOutput runs every command of a move like move does and returns what
// they printed on stdout, failing the test on a failed command.
func (r *rehearsal) moveOutput(from, to phases.Phase) string {
	r.t.Helper()
	var out strings.Builder
	for _, st := range r.step(from, to).Runbook {
		for _, c := range st.Commands {
			o, e, err := r.run(c)
			if err != nil {
				r.t.Fatalf("%s -> %s: %s\n%s", from, to, c, e)
			}
			out.WriteString(o)
		}
	}
	return out.String()
}

// servingLeaves are the API server's certificates as leaves of the cluster
// CA rotation, shaped as kubeadm issues them.
const servingLeaves = `
  - name: apiserver
    secret: {name: apiserver-tls, namespace: kube-system}
    commonName: kube-apiserver
    dnsNames: [cp-1, kubernetes, kubernetes.default, kubernetes.default.svc, kubernetes.default.svc.cluster.local]
    ipAddresses: [10.96.0.1, 10.0.0.1]
    usages: [server]
    validity: 87600h
  - name: apiserver-kubelet-client
    secret: {name: apiserver-kubelet-client-tls, namespace: kube-system}
    commonName: kube-apiserver-kubelet-client
    organization: [kubeadm:cluster-admins]
    usages: [client]
    validity: 87600h
`

// servingPackage makes a cluster-CA package like examples/cluster-ca whose
// rotation also issues only (some of) the API server's certificates, named
// as in kubeadm: carousel init and start (the library calls) with the real
// sops, keys encrypted to the demo identity the rehearsal decrypts with.
func servingPackage(t *testing.T, leaves string) string {
	t.Helper()
	repo := testkit.Root(t)
	src := filepath.Join(repo, "examples", "cluster-ca")
	dir := filepath.Join(t.TempDir(), "cluster-ca")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue // the material: made anew below
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == "carousel.yaml" {
			b = bytes.Replace(b, []byte("\n  leaves:\n"), []byte("\n  leaves:"+leaves), 1)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	key, err := os.ReadFile(filepath.Join(repo, testkit.AgeKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	_, recipient, _ := strings.Cut(string(key), "# public key: ")
	recipient, _, _ = strings.Cut(recipient, "\n")
	t.Setenv("SOPS_AGE_KEY_FILE", filepath.Join(repo, testkit.AgeKeyFile))
	opts := rotate.Options{Age: []string{recipient}, SopsBinary: testkit.Tool(t, "sops"), Stderr: io.Discard}
	file := filepath.Join(dir, "carousel.yaml")
	for _, step := range []func(*rotate.Package) error{
		func(p *rotate.Package) error { _, err := rotate.Init(p, opts); return err },
		func(p *rotate.Package) error { _, err := rotate.Start(p, opts, rotate.StartRequest{}); return err },
	} {
		p, err := rotate.Load(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := step(p); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestTheAPIServersOwnCertificatesAreInstalledFromTheRotationsLeaves: a
// cluster-CA rotation that lists apiserver and apiserver-kubelet-client in
// spec.leaves has the runbook's signer step install them (sops -d of their
// keys from the material, like ca.key) instead of `kubeadm certs renew`: in
// every phase, forward and back, pki/<name>.crt is the phase's leaf, chains
// (crypto/x509) to the phase's signer, and pki/<name>.key is its key. With
// only one of them listed, kubeadm re-issues the other, once ca.crt holds
// the signer.
func TestTheAPIServersOwnCertificatesAreInstalledFromTheRotationsLeaves(t *testing.T) {
	apiserverOnly, _, _ := strings.Cut(servingLeaves, "  - name: apiserver-kubelet-client")
	for _, tc := range []struct {
		name   string
		leaves string
		renews []string // what kubeadm re-issues besides the kubeconfigs
	}{
		{"both listed: kubeadm re-issues neither", servingLeaves, nil},
		{"apiserver listed: kubeadm re-issues apiserver-kubelet-client", apiserverOnly, []string{"apiserver-kubelet-client"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRehearsal(t, servingPackage(t, tc.leaves))
			if len(r.served) == 0 {
				t.Fatal("the package issues no API server certificate")
			}
			r.checkCluster(phases.Steady)
			installs := 0
			for i := 1; i < len(walk); i++ {
				from, to := walk[i-1], walk[i]
				if failed, stderr := r.move(from, to); failed != "" {
					t.Fatalf("%s -> %s: a command failed:\n%s\n%s", from, to, failed, stderr)
				}
				r.checkCluster(to)
				a, _ := phases.Lookup(phases.ScopeCA, from)
				b, _ := phases.Lookup(phases.ScopeCA, to)
				var renewed []string
				for _, c := range r.calls() {
					if f := strings.Fields(c); len(f) > 3 && f[0] == "kubeadm" && !strings.HasSuffix(f[3], ".conf") {
						renewed = append(renewed, f[3])
						if !strings.Contains(c, "ca="+sha(pemCerts(r.ca[b.Signer].cert))) {
							t.Errorf("%s -> %s: %q ran before ca.crt held the %s CA", from, to, c, b.Signer)
						}
					}
				}
				want := tc.renews
				if a.Signer == b.Signer {
					want = nil
				} else {
					installs++
				}
				if !slices.Equal(renewed, want) {
					t.Errorf("%s -> %s: kubeadm re-issued %q, want %q", from, to, renewed, want)
				}
			}
			if installs == 0 {
				t.Fatal("the walk never changed the signer")
			}
		})
	}
}

// TestTheCloudControllerManagerStepIsSkippedWhereItDoesNotRun: the page's
// cloud-controller-manager step is optional ("if your cluster does not have
// a cloud-controller-manager, you can skip this step"): on a node without
// its manifest, or with a manifest that does not set --root-ca-file, the
// command says so, changes nothing and the move goes on; the node is still
// right in every phase (checkCluster checks the flag where it is set).
func TestTheCloudControllerManagerStepIsSkippedWhereItDoesNotRun(t *testing.T) {
	const ccm = "etc/kubernetes/manifests/cloud-controller-manager.yaml"
	cluster := filepath.Join(testkit.Root(t), "examples", "cluster-ca")
	for _, tc := range []struct {
		name, says string
		brk        func(r *rehearsal)
	}{
		{"a node without a cloud-controller-manager says so and goes on", "is not there (no cloud-controller-manager static pod on this node): nothing to change",
			func(r *rehearsal) { _ = os.Remove(filepath.Join(r.root, ccm)) }},
		{"a cloud-controller-manager without --root-ca-file is left as it is", "does not set --root-ca-file: nothing to change",
			func(r *rehearsal) {
				b := strings.Replace(cloudControllerManagerManifest, "    - --root-ca-file=/etc/kubernetes/pki/ca.crt\n", "", 1)
				if err := os.WriteFile(filepath.Join(r.root, ccm), []byte(b), 0o600); err != nil {
					t.Fatal(err)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRehearsal(t, cluster)
			tc.brk(r)
			r.snapshot()
			before := r.initial[ccm]
			for i := 1; i < len(walk); i++ {
				from, to := walk[i-1], walk[i]
				out := r.moveOutput(from, to)
				a, _ := phases.Lookup(phases.ScopeCA, from)
				b, _ := phases.Lookup(phases.ScopeCA, to)
				if trustChanged := !slices.Equal(a.Trusted, b.Trusted) || runbook.UsesBundle(a) != runbook.UsesBundle(b); trustChanged && !strings.Contains(out, tc.says) {
					t.Errorf("%s -> %s does not say %q:\n%s", from, to, tc.says, out)
				}
				r.checkCluster(to)
				if got := r.hashes()[ccm]; got != before {
					t.Errorf("%s -> %s changed %s", from, to, ccm)
				}
			}
		})
	}
}

// TestARollbackRunbookNamesTheCAItInstalls: rolling sign-new back installs
// the old CA, and every step must say so (the old runbook said "restart with
// the new signer" while installing the old CA).
func TestARollbackRunbookNamesTheCAItInstalls(t *testing.T) {
	r := newRehearsal(t, filepath.Join(testkit.Root(t), "examples", "cluster-ca"))
	for _, tc := range []struct {
		from, to   phases.Phase
		installs   phases.Generation
		neverNamed string
	}{
		{phases.TrustNew, phases.SignNew, phases.New, "old signer"},
		{phases.SignNew, phases.TrustNew, phases.Old, "new signer"},
	} {
		s := r.step(tc.from, tc.to)
		found := false
		for _, st := range s.Runbook {
			if strings.Contains(st.Title, tc.neverNamed) || strings.Contains(st.Why, tc.neverNamed) {
				t.Errorf("%s -> %s: %q says %q", tc.from, tc.to, st.Title, tc.neverNamed)
			}
			if strings.HasPrefix(st.Title, fmt.Sprintf("Install the %s CA as ca.crt and ca.key", tc.installs)) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s -> %s: no step installs the %s CA as ca.crt and ca.key", tc.from, tc.to, tc.installs)
		}
	}
}

// TestTheRunbookValueIsOneThatHasSteps: spec.runbook names a runbook plan
// knows, for each CA kind; anything else is refused at its field path, by the
// schema and by Validate (which Go callers use without the schema).
func TestTheRunbookValueIsOneThatHasSteps(t *testing.T) {
	pkg := testkit.Load(t, filepath.Join(testkit.Root(t), "examples", "front-proxy-ca"))
	for _, tc := range []struct {
		value spec.Runbook
		ok    bool
	}{
		{spec.RunbookNone, true}, {spec.RunbookKubernetes, true}, {spec.RunbookFrontProxy, true},
		{"kubernetes-frontproxy", false}, {"Kubernetes", false},
	} {
		cfg := pkg.Config.Copy()
		if err := cfg.PipeE(yaml.Lookup("spec"), yaml.SetField("runbook", yaml.NewStringRNode(string(tc.value)))); err != nil {
			t.Fatal(err)
		}
		_, err := spec.Load(cfg)
		if (err == nil) != tc.ok || (err != nil && !strings.Contains(err.Error(), "spec.runbook")) {
			t.Errorf("runbook %q: Load says %v", tc.value, err)
		}
		rot := &spec.CARotation{APIVersion: spec.APIVersion, Kind: spec.Kind, Metadata: spec.Metadata{Name: "r"}, Spec: spec.Spec{Runbook: tc.value}}
		if err := rot.Default(); err != nil {
			t.Fatal(err)
		}
		err = rot.Validate()
		if (err == nil) != tc.ok || (err != nil && !strings.Contains(err.Error(), "spec.runbook")) {
			t.Errorf("runbook %q: Validate says %v", tc.value, err)
		}
	}
}

// A CA held externally (a KeyPair with a certificate and no key) cannot be
// installed by the runbook, which writes the signer's key as ca.key: the
// runbook is refused when it is built, naming the way out, instead of a
// node step that fails half-way when it runs.
func TestARunbookRefusesASignerWhoseKeyIsHeldExternally(t *testing.T) {
	pkg := testkit.Load(t, filepath.Join(testkit.Root(t), "examples", "cluster-ca"))
	rot := pkg.Rotation(t)
	var items []*yaml.RNode
	for _, n := range pkg.CopyItems() {
		if material.IsKeyPair(n) && n.GetAnnotations()[material.AnnotationRole] == material.RoleCA && n.GetAnnotations()[material.AnnotationGeneration] == string(phases.Old) {
			_ = n.PipeE(yaml.Clear("data"))
			_ = n.PipeE(yaml.Clear("sops"))
		}
		items = append(items, n)
	}
	if _, err := runbook.Steps(rot, items, phases.Steady, phases.TrustNew); err == nil || !strings.Contains(err.Error(), "the old CA is held externally") {
		t.Fatalf("want a refusal naming the externally held old CA, got %v", err)
	}
	if _, err := runbook.Steps(rot, pkg.CopyItems(), phases.Steady, phases.TrustNew); err != nil {
		t.Fatalf("with its key the runbook builds: %v", err)
	}
}

// TestARollbackRunbookRunTwiceChangesNothingMore: rolling back out of a
// phase with an in-cluster-config step lists the rollback's node steps
// twice (before the in-cluster-config step's rollback, and again after the
// objects' rollback, in case they ran without that step being merged), so
// a second run must succeed and leave every file as the first left it.
func TestARollbackRunbookRunTwiceChangesNothingMore(t *testing.T) {
	for _, tc := range []struct {
		walk     []phases.Phase
		from, to phases.Phase
	}{
		{[]phases.Phase{phases.Steady, phases.TrustNew}, phases.TrustNew, phases.Steady},
		{[]phases.Phase{phases.Steady, phases.TrustNew, phases.SignNew, phases.DistrustOld}, phases.DistrustOld, phases.SignNew},
	} {
		t.Run(string(tc.from)+" to "+string(tc.to), func(t *testing.T) {
			r := newRehearsal(t, filepath.Join(testkit.Root(t), "examples", "cluster-ca"))
			for i := 1; i < len(tc.walk); i++ {
				if failed, stderr := r.move(tc.walk[i-1], tc.walk[i]); failed != "" {
					t.Fatalf("%s -> %s: %s\n%s", tc.walk[i-1], tc.walk[i], failed, stderr)
				}
			}
			if failed, stderr := r.move(tc.from, tc.to); failed != "" {
				t.Fatalf("the rollback failed: %s\n%s", failed, stderr)
			}
			once := r.hashes()
			if failed, stderr := r.move(tc.from, tc.to); failed != "" {
				t.Fatalf("the rollback's node steps fail when run again: %s\n%s", failed, stderr)
			}
			for f, h := range r.hashes() {
				if once[f] != h {
					t.Errorf("running the rollback again changed %s", f)
				}
			}
			for f := range once {
				if _, ok := r.hashes()[f]; !ok {
					t.Errorf("running the rollback again removed %s", f)
				}
			}
		})
	}
}
