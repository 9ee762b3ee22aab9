package plan

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"path"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// RunbookStep is a step that is not a Kubernetes object: files and flags on
// nodes, done by a person (or a node agent) with the commands given.
//
// Every command is self-contained (it can be pasted into a plain shell, no
// `set -e` or pipefail assumed) and fails with a message and a non-zero
// status when the file or flag it edits is missing: a silent no-op on a node
// that is laid out differently would leave it trusting the wrong set.
// Commands edit files under ${KUBE_ROOT:-} (the node's root by default), so
// they can be rehearsed on a copy of a node's tree; flag values are the paths
// the node's processes see.
type RunbookStep struct {
	Title    string   `json:"title"`
	Why      string   `json:"why"`
	Commands []string `json:"commands,omitempty"`
	// Verify are read-only checks against the live cluster or node, run after
	// the commands (they need the node's API server, so they are not part of
	// a rehearsal).
	Verify []string `json:"verify,omitempty"`
}

// The kubeadm layout, as the node's processes see it.
const (
	kubeRoot      = "${KUBE_ROOT:-}"
	pkiDir        = "/etc/kubernetes/pki"
	manifestDir   = "/etc/kubernetes/manifests"
	kubeconfigDir = "/etc/kubernetes"
	kubeletConfig = "/var/lib/kubelet/config.yaml"
	apiserver     = manifestDir + "/kube-apiserver.yaml"
	controllerMgr = manifestDir + "/kube-controller-manager.yaml"
	scheduler     = manifestDir + "/kube-scheduler.yaml"
	// cloudCtrlMgr is the cloud-controller-manager's static pod, where a
	// cluster runs one on its control-plane nodes (kubeadm does not make it).
	cloudCtrlMgr = manifestDir + "/cloud-controller-manager.yaml"
)

// caFiles are one CA's files on a node. Trust flags point at crt while the
// CA is alone (steady, cleanup: the kubeadm layout) and at bundle while two
// generations are around, so crt always holds exactly one CA: the signer.
type caFiles struct {
	what        string // for titles
	where       string // the nodes that hold the CA's trust files
	crt, key    string
	bundle      string
	copyCrt     string // cluster CA only: kube-controller-manager's copy of the new CA
	copyKey     string
	renewConfig bool // the kubeconfigs' client certificates are signed by this CA
	// certs are the certificates this CA signs for the API server, by
	// kubeadm's name: a leaf of spec.leaves with that name is installed as
	// its files (carousel issued and checked it against the phase's CA);
	// kubeadm re-issues the others (`kubeadm certs renew NAME`).
	certs []string
}

// certFiles are where kubeadm keeps one of the API server's certificates.
func certFiles(name string) (crt, key string) {
	return pkiDir + "/" + name + ".crt", pkiDir + "/" + name + ".key"
}

var (
	clusterCA = caFiles{
		what: "cluster CA", where: "every node", crt: pkiDir + "/ca.crt", key: pkiDir + "/ca.key", bundle: pkiDir + "/ca-bundle.crt",
		copyCrt: pkiDir + "/ca-new.crt", copyKey: pkiDir + "/ca-new.key",
		certs:       []string{"apiserver", "apiserver-kubelet-client"},
		renewConfig: true,
	}
	frontProxyCA = caFiles{
		what: "front-proxy CA", where: "every control-plane node", crt: pkiDir + "/front-proxy-ca.crt", key: pkiDir + "/front-proxy-ca.key", bundle: pkiDir + "/front-proxy-ca-bundle.crt",
		certs: []string{"front-proxy-client"},
	}
)

// pairRef is what a runbook needs of one KeyPair (a CA or leaf generation): its certificate
// (public, written into commands as PEM) and where its encrypted key is.
type pairRef struct {
	cert     *x509.Certificate
	file     string // relative to the package directory
	keyField string
}

// frontProxyClient is the leaf name whose pair the front-proxy runbook
// installs as front-proxy-client.crt/.key (kubeadm re-issues it otherwise).
const frontProxyClient = "front-proxy-client"

// installed is one of the API server's certificates the rotation issues.
type installed struct {
	name string
	pair pairRef
}

// materialOf collects the rotation's certificates from the input, by
// KeyPair ID ("ca", "leaf/<name>") and generation. The trusted set a
// runbook writes comes from here, the same certificates the rendered objects
// carry, so nodes never copy a set from an object the rotation does not
// manage.
func materialOf(rot *spec.CARotation, items []*yaml.RNode) map[string]map[phases.Generation]pairRef {
	out := map[string]map[phases.Generation]pairRef{}
	for _, n := range items {
		if !material.IsKeyPair(n) || material.RotationOf(n) != rot.Metadata.Name {
			continue
		}
		k, err := material.Parse(n)
		if err != nil {
			continue // gen reports unreadable material
		}
		if out[k.ID()] == nil {
			out[k.ID()] = map[phases.Generation]pairRef{}
		}
		out[k.ID()][k.Generation] = pairRef{cert: k.Cert(), file: path.Join(rot.Spec.MaterialDir, k.FileName()), keyField: k.KeyField}
	}
	return out
}

// Runbook lists the node-level steps of the move from -> to for the runbook
// the rotation names (nil for none). It fails when the material of a
// generation the target phase needs is missing.
func Runbook(rot *spec.CARotation, items []*yaml.RNode, from, to phases.Phase) ([]RunbookStep, error) {
	var files caFiles
	switch rot.Spec.Runbook {
	case spec.RunbookKubernetes:
		files = clusterCA
	case spec.RunbookFrontProxy:
		files = frontProxyCA
	default:
		return nil, nil
	}
	a, err := phases.Lookup(rot.Spec.Scope, from)
	if err != nil {
		return nil, err
	}
	b, err := phases.Lookup(rot.Spec.Scope, to)
	if err != nil {
		return nil, err
	}
	all := materialOf(rot, items)
	m := all[material.RoleCA]
	for _, g := range append(slices.Clone(b.Trusted), b.Signer) {
		if _, ok := m[g]; !ok {
			return nil, fmt.Errorf("the runbook of %s needs the %s CA's material, which is not in the input", to, g)
		}
	}
	// The runbook installs each signer's key as the kubeadm layout's CA key
	// (kube-controller-manager signs with it): a CA held externally, whose
	// key carousel never holds, cannot be installed by it.
	for _, g := range []phases.Generation{a.Signer, b.Signer} {
		if ref, ok := m[g]; ok && ref.keyField == "" {
			return nil, fmt.Errorf("the %s runbook installs the signing CA's key on the nodes, but the %s CA is held externally (its KeyPair has no key): install its files by hand and set spec.runbook: none", rot.Spec.Runbook, g)
		}
	}
	rb := runbook{files: files, m: m, a: a, b: b}
	for _, name := range files.certs {
		if _, ok := rot.Spec.LeafByName(name); !ok {
			rb.renew = append(rb.renew, name)
			continue
		}
		leaf, ok := all[material.RoleLeaf+"/"+name][b.Leaves]
		if !ok {
			return nil, fmt.Errorf("the runbook of %s needs the %s generation of leaf %s, which is not in the input", to, b.Leaves, name)
		}
		rb.leaves = append(rb.leaves, installed{name, leaf})
	}
	return rb.steps(), nil
}

type runbook struct {
	files caFiles
	m     map[phases.Generation]pairRef
	a, b  phases.State
	// leaves are the API server certificates of the target phase the
	// rotation issues (spec.leaves names them: apiserver,
	// apiserver-kubelet-client, front-proxy-client); renew are the others,
	// which kubeadm re-issues with the CA files.
	leaves []installed
	renew  []string
}

// usesBundle: trust flags read the bundle file while the rotation has two CA
// generations (trust-new to distrust-old), and the CA file itself otherwise.
func usesBundle(s phases.State) bool { return len(s.CAPresent) > 1 }

// usesCopy: kube-controller-manager signs with (and authenticates clients
// against) a copy of the new CA while both CA generations are around.
func (r runbook) usesCopy(s phases.State) bool {
	return r.files.copyCrt != "" && usesBundle(s) && s.Signer == phases.New
}

func (r runbook) trustFile(s phases.State) string {
	if usesBundle(s) {
		return r.files.bundle
	}
	return r.files.crt
}

func (r runbook) steps() []RunbookStep {
	a, b, f := r.a, r.b, r.files
	trustChanged := !slices.Equal(a.Trusted, b.Trusted) || usesBundle(a) != usesBundle(b)
	signerChanged := a.Signer != b.Signer
	var steps []RunbookStep
	if usesBundle(b) && trustChanged {
		steps = append(steps, RunbookStep{
			Title: fmt.Sprintf("Write the trusted set of %s (%s) to %s (%s)", b.Phase, gens(b.Trusted), f.bundle, f.where),
			Why: fmt.Sprintf("every %s trust flag below reads this one file; its certificates are the rotation's own material, the same the rendered objects carry. "+
				"%s keeps exactly one CA, the signer", f.what, f.crt),
			Commands: []string{writeFile(f.bundle, r.pem(b.Trusted...))},
			Verify:   []string{"openssl crl2pkcs7 -nocrl -certfile " + onNode(f.bundle) + " | openssl pkcs7 -print_certs -noout   # the subjects of " + gens(b.Trusted)},
		})
	}
	if trustChanged {
		steps = append(steps, r.trustSteps()...)
	}
	if r.usesCopy(b) && !r.usesCopy(a) {
		steps = append(steps, r.copyIn())
	}
	if signerChanged {
		steps = append(steps, r.signerSteps()...)
	} else if r.usesCopy(a) && !r.usesCopy(b) {
		steps = append(steps, r.copyOut())
	}
	if !signerChanged && a.Leaves != b.Leaves && len(r.leaves) > 0 {
		steps = append(steps, r.installLeaves(false))
	}
	if usesBundle(a) && !usesBundle(b) {
		steps = append(steps, RunbookStep{
			Title:    fmt.Sprintf("Remove %s (%s, once every step above is done on all of them)", f.bundle, f.where),
			Why:      fmt.Sprintf("no flag reads it any more: they are back on %s, the kubeadm layout, which `kubeadm upgrade` expects", f.crt),
			Commands: []string{"rm -f " + onNode(f.bundle)},
		})
	}
	return steps
}

// trustSteps point every trust flag and file of the CA at the phase's trust
// file. Kubeconfigs go before the static pods, so the restart a manifest
// edit causes also picks up the kubeconfig.
func (r runbook) trustSteps() []RunbookStep {
	b, f := r.b, r.files
	tf := r.trustFile(b)
	set := gens(b.Trusted)
	restart := func(name string) string {
		return fmt.Sprintf("crictl ps --name %s -q | xargs -r crictl stop   # the kubelet starts it again, reading the new file", name)
	}
	if f.copyCrt == "" { // the front-proxy CA
		return []RunbookStep{
			{
				Title: "kube-apiserver: --requestheader-client-ca-file (one control-plane node at a time)",
				Why: "the API server verifies front-proxy clients with this set and publishes it as requestheader-client-ca-file in kube-system/extension-apiserver-authentication, " +
					"which aggregated API servers read: they must accept front-proxy-client certificates of " + set,
				Commands: []string{setFlags(apiserver, required, flag{"requestheader-client-ca-file", tf}), restart("kube-apiserver")},
				Verify:   []string{"kubectl get --raw /readyz   # before the next node", "kubectl -n kube-system get configmap extension-apiserver-authentication -o jsonpath='{.data.requestheader-client-ca-file}'"},
			},
			{
				Title:    "kube-controller-manager: --requestheader-client-ca-file (every control-plane node)",
				Why:      "its secure port authenticates front-proxy requests with the same set",
				Commands: []string{setFlags(controllerMgr, required, flag{"requestheader-client-ca-file", tf}), restart("kube-controller-manager")},
			},
		}
	}
	var confs []string
	for _, c := range []string{"admin.conf", "controller-manager.conf", "scheduler.conf"} {
		confs = append(confs, setKubeconfigCA(kubeconfigDir+"/"+c, tf, false))
	}
	confs = append(confs, setKubeconfigCA(kubeconfigDir+"/super-admin.conf", tf, true))
	return []RunbookStep{
		{
			Title:    "Control-plane kubeconfigs: certificate-authority-data (every control-plane node)",
			Why:      "the controller-manager, the scheduler and admins verify the API server with " + set + "; the static pods restart below and read them then. Users' kubeconfigs need the same data: `carousel kubeconfig --leaf NAME --phase " + string(b.Phase) + "` writes them for user accounts that are client leaves of the rotation",
			Commands: confs,
		},
		{
			Title: "kube-controller-manager: --root-ca-file (every control-plane node)",
			Why: "new ServiceAccount tokens and every namespace's kube-root-ca.crt ConfigMap carry this set, so pods with in-cluster config (kube-proxy, CoreDNS) trust " + set +
				" only once they restart after this step. Its --client-ca-file and --cluster-signing-cert-file cannot be bundles and keep one CA",
			Commands: []string{setFlags(controllerMgr, required, flag{"root-ca-file", tf}), restart("kube-controller-manager")},
		},
		{
			Title: "cloud-controller-manager: --root-ca-file (every control-plane node; skipped where it does not run)",
			Why: "the page: a cloud-controller-manager's --root-ca-file must hold " + set + " like kube-controller-manager's; a cluster without one skips this step, and the command says so. " +
				"One that runs as a Deployment or DaemonSet instead of a static pod takes the same flag in its manifest, with the same file mounted from the node",
			Commands: []string{setFlagsIfPresent(cloudCtrlMgr, "no cloud-controller-manager static pod", flag{"root-ca-file", tf}), restart("cloud-controller-manager")},
		},
		{
			Title:    "kube-apiserver: --client-ca-file and --kubelet-certificate-authority (one control-plane node at a time)",
			Why:      "API servers accept client certificates and verify kubelet serving certificates of " + set + " while components of both phases run",
			Commands: []string{setFlags(apiserver, required, flag{"client-ca-file", tf}), setFlags(apiserver, optional, flag{"kubelet-certificate-authority", tf}), restart("kube-apiserver")},
			Verify:   []string{"kubectl get --raw /readyz   # before the next node"},
		},
		{
			Title:    "kube-scheduler: --client-ca-file (every control-plane node)",
			Why:      "when set, the scheduler authenticates callers of its secure port against it",
			Commands: []string{setFlags(scheduler, optional, flag{"client-ca-file", tf}), restart("kube-scheduler")},
		},
		{
			Title: "kubelet: clientCAFile and kubelet.conf (every node, one at a time)",
			Why:   "kubelets verify the API server and their own clients with " + set + "; node by node keeps workloads scheduled",
			Commands: []string{
				setYAMLKey(kubeletConfig, "clientCAFile", tf),
				setKubeconfigCA(kubeconfigDir+"/kubelet.conf", tf, false),
				"systemctl restart kubelet",
			},
			Verify: []string{"kubectl wait --for=condition=Ready node/$(hostname) --timeout=5m"},
		},
	}
}

// copyIn is the page's workaround for kube-controller-manager: its
// --client-ca-file and --cluster-signing-cert-file cannot be bundles, so they
// point at a separate copy of the new CA. Moving them in one manifest edit
// switches its signing certificate and key together, and leaves ca.crt and
// ca.key free to be replaced with no running component reading them.
func (r runbook) copyIn() RunbookStep {
	f := r.files
	return RunbookStep{
		Title: fmt.Sprintf("kube-controller-manager: sign with a copy of the new CA, %s (every control-plane node)", f.copyCrt),
		Why: "--client-ca-file and --cluster-signing-cert-file cannot be CA bundles (kubeadm issue 1350): as the Kubernetes page says, they point at a separate copy of the new CA, " +
			"switched with the signing key in one manifest edit; kubelet client CSRs are signed by the new CA from here on",
		Commands: []string{
			// Check first: no key lands on a node whose manifest cannot use it.
			requireFlags(controllerMgr, "client-ca-file", "cluster-signing-cert-file", "cluster-signing-key-file"),
			writeFile(f.copyCrt, r.pem(phases.New)),
			r.writeKey(f.copyKey, phases.New),
			setFlags(controllerMgr, required, flag{"client-ca-file", f.copyCrt}, flag{"cluster-signing-cert-file", f.copyCrt}, flag{"cluster-signing-key-file", f.copyKey}),
		},
	}
}

// copyOut points kube-controller-manager back at ca.crt/ca.key (which hold
// the signer by now) and deletes the copy, as the page says once ca.crt is a
// single CA again.
func (r runbook) copyOut() RunbookStep {
	f := r.files
	return RunbookStep{
		Title: fmt.Sprintf("kube-controller-manager: sign with %s again and remove the copy (every control-plane node)", path.Base(f.crt)),
		Why:   fmt.Sprintf("%s holds the %s CA, the signer of %s: the copy is no longer needed", f.crt, r.b.Signer, r.b.Phase),
		Commands: []string{
			setFlags(controllerMgr, required, flag{"client-ca-file", f.crt}, flag{"cluster-signing-cert-file", f.crt}, flag{"cluster-signing-key-file", f.key}),
			"rm -f " + onNode(f.copyCrt) + " " + onNode(f.copyKey),
		},
	}
}

// signerSteps install the target phase's signer as the CA files and
// re-issue what the CA signs on the control plane. They name the generation
// being installed, so a rollback reads as one.
func (r runbook) signerSteps() []RunbookStep {
	b, f := r.b, r.files
	g := b.Signer
	steps := []RunbookStep{{
		Title: fmt.Sprintf("Install the %s CA as %s and %s (every control-plane node)", g, path.Base(f.crt), path.Base(f.key)),
		Why: fmt.Sprintf("they hold the signing CA from now on (`kubeadm certs renew` signs with them); no running component reads them now (trust flags read %s). "+
			"Run from the package directory, with the SOPS key of the material", path.Base(f.bundle)),
		Commands: []string{writeFile(f.crt, r.pem(g)), r.writeKey(f.key, g)},
	}}
	if f.copyCrt != "" && !r.usesCopy(b) {
		out := r.copyOut()
		out.Title = fmt.Sprintf("kube-controller-manager: sign with the %s CA (%s) again and remove the copy of the new CA (every control-plane node)", g, path.Base(f.crt))
		steps = append(steps, out)
	}
	steps = append(steps, r.installLeaves(true))
	if !f.renewConfig {
		return steps
	}
	var confs []string
	for _, c := range []string{"admin.conf", "controller-manager.conf", "scheduler.conf"} {
		confs = append(confs, fmt.Sprintf("kubeadm certs renew %s --cert-dir %s --kubeconfig-dir %s", c, onNode(pkiDir), onNode(kubeconfigDir)))
	}
	confs = append(confs,
		fmt.Sprintf(`if [ -f %s ]; then kubeadm certs renew super-admin.conf --cert-dir %s --kubeconfig-dir %s; else echo "carousel: no super-admin.conf on this node: nothing to renew"; fi`, onNode(kubeconfigDir+"/super-admin.conf"), onNode(pkiDir), onNode(kubeconfigDir)),
		"crictl ps --name kube-controller-manager -q | xargs -r crictl stop",
		"crictl ps --name kube-scheduler -q | xargs -r crictl stop",
	)
	steps = append(steps,
		RunbookStep{
			Title:    fmt.Sprintf("Control-plane kubeconfigs: client certificates of the %s CA, then restart kube-controller-manager and kube-scheduler (every control-plane node)", g),
			Why:      "their client certificates must be signed by the CA that stays trusted; users' kubeconfigs need the same (client-certificate-data and client-key-data): `carousel kubeconfig --leaf NAME --phase " + string(r.b.Phase) + "` writes them for user accounts that are client leaves of the rotation",
			Commands: confs,
		},
		RunbookStep{
			Title: fmt.Sprintf("kubelet client certificates of the %s CA (every node, before the %s CA is distrusted)", g, other(g)),
			Why: "kube-controller-manager signs kubelet CSRs with the signer; rotateCertificates renews only near expiry, so re-issue " +
				"/var/lib/kubelet/pki/kubelet-client-current.pem where the check fails",
			Verify: []string{"openssl verify -CAfile " + onNode(f.crt) + " " + onNode("/var/lib/kubelet/pki/kubelet-client-current.pem")},
		},
	)
	return steps
}

// installLeaves puts the rotation's own API server certificates of the
// target phase on the node (sops -d of their keys from the material, like
// the CA key), has kubeadm re-issue the others (withRenew, when the signer
// changed and the CA files hold it), and restarts the API server: the
// certificates it presents are the ones carousel issued and checked against
// the phase's CA.
func (r runbook) installLeaves(withRenew bool) RunbookStep {
	b := r.b
	var cmds, names []string
	for _, l := range r.leaves {
		crt, key := certFiles(l.name)
		cmds = append(cmds, writeFile(crt, pemOf(l.pair.cert)), writeKeyOf(l.pair, key))
		names = append(names, l.name)
	}
	var renewed []string
	if withRenew {
		for _, c := range r.renew {
			cmds = append(cmds, fmt.Sprintf("kubeadm certs renew %s --cert-dir %s", c, onNode(pkiDir)))
			renewed = append(renewed, c)
		}
	}
	cmds = append(cmds, "crictl ps --name kube-apiserver -q | xargs -r crictl stop   # the kubelet starts it again with the new certificates")
	var what []string
	if len(names) > 0 {
		what = append(what, fmt.Sprintf("install the %s %s (signed by the %s CA)", b.Leaves, plural(names, "pair", "pairs"), b.Signer))
	}
	if len(renewed) > 0 {
		what = append(what, fmt.Sprintf("re-issue %s with the %s CA", strings.Join(renewed, ", "), b.Signer))
	}
	title := strings.Join(what, "; ")
	title = strings.ToUpper(title[:1]) + title[1:] + " and restart the API server (one control-plane node at a time)"
	why := fmt.Sprintf("everything already trusts %s, so an API server presenting certificates of the %s CA is accepted; one at a time keeps the API available", gens(b.Trusted), b.Signer)
	if len(names) > 0 {
		why += ". Run from the package directory, with the SOPS key of the material"
	}
	verify := []string{"kubectl get --raw /readyz   # before the next node"}
	if slices.Contains(names, frontProxyClient) || slices.Contains(renewed, frontProxyClient) {
		verify = append(verify, "kubectl get --raw /apis   # aggregated APIs answer through the front proxy")
	}
	for _, n := range names {
		crt, _ := certFiles(n)
		verify = append(verify, "openssl verify -CAfile "+onNode(r.files.crt)+" "+onNode(crt))
	}
	return RunbookStep{Title: title, Why: why, Commands: cmds, Verify: verify}
}

func plural(names []string, one, many string) string {
	if len(names) == 1 {
		return names[0] + " " + one
	}
	return strings.Join(names, ", ") + " " + many
}

// other is the generation that is not g: the one a move of the signer to g
// will eventually distrust (old going forward, new in a rollback to steady).
func other(g phases.Generation) phases.Generation {
	if g == phases.New {
		return phases.Old
	}
	return phases.New
}

// pem is the PEM of the CA generations as a trusted set: the bytes pkg/gen
// renders into every trust object (pki.Bundle, sorted by fingerprint), not
// the generations' order. kube-controller-manager's token controller
// compares a service-account token Secret's ca.crt with --root-ca-file byte
// for byte and rewrites it when they differ, so the same set in another
// order would have it and the GitOps controller overwrite each other.
func (r runbook) pem(gs ...phases.Generation) string {
	var certs []*x509.Certificate
	for _, g := range gs {
		certs = append(certs, r.m[g].cert)
	}
	return string(pki.Bundle(certs...))
}

func pemOf(certs ...*x509.Certificate) string {
	var b bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.String()
}

// writeKey decrypts a CA key from the package's material onto the node,
// readable by root only, through a temporary file so a failed decryption
// never leaves an empty key in place.
func (r runbook) writeKey(dst string, g phases.Generation) string { return writeKeyOf(r.m[g], dst) }

func writeKeyOf(m pairRef, dst string) string {
	return fmt.Sprintf(`(umask 077 && key=$(sops -d --extract '["data"]["%s"]' %s) && printf '%%s' "$key" | base64 -d > %s) && mv %s %s`,
		m.keyField, m.file, onNode(dst+".tmp"), onNode(dst+".tmp"), onNode(dst))
}

func onNode(p string) string { return `"` + kubeRoot + p + `"` }

// writeFile writes content through a temporary file: components that
// reload a file on change never read half of it.
func writeFile(dst, content string) string {
	return fmt.Sprintf("cat > %s <<'EOF' && mv %s %s\n%sEOF", onNode(dst+".tmp"), onNode(dst+".tmp"), onNode(dst), content)
}

type flag struct{ name, value string }

const (
	required = false
	optional = true
)

// setFlags sets static-pod flags in one edit (one restart). A required flag
// that is missing fails the command and changes nothing; an optional one
// says it is not set.
func setFlags(manifest string, opt bool, flags ...flag) string {
	checks, edits, list := flagEdits(flags)
	if opt {
		return fmt.Sprintf(`f=%s; if [ ! -f "$f" ]; then echo "carousel: $f is missing" >&2; false; elif %s; then sed -i %s "$f"; else echo "carousel: $f does not set %s: nothing to change"; fi`,
			onNode(manifest), checks, edits, list)
	}
	return fmt.Sprintf(`f=%s; %s && sed -i %s "$f" || { echo "carousel: $f does not set %s: not changed" >&2; false; }`,
		onNode(manifest), checks, edits, list)
}

// setFlagsIfPresent is setFlags for an optional component: a node without
// its manifest, or a manifest without the flag, is said and left alone
// (exit 0), so the step can run on every node of every cluster.
func setFlagsIfPresent(manifest, absent string, flags ...flag) string {
	checks, edits, list := flagEdits(flags)
	return fmt.Sprintf(`f=%s; if [ ! -f "$f" ]; then echo "carousel: $f is not there (%s on this node): nothing to change"; elif %s; then sed -i %s "$f"; else echo "carousel: $f does not set %s: nothing to change"; fi`,
		onNode(manifest), absent, checks, edits, list)
}

// flagEdits are the grep conditions, sed expressions and names of flags.
func flagEdits(flags []flag) (checks, edits, list string) {
	var c, e, names []string
	for _, fl := range flags {
		pat := `^ *- --` + fl.name + `=`
		c = append(c, fmt.Sprintf(`grep -q -e '%s' "$f"`, pat))
		e = append(e, fmt.Sprintf(`-e 's#^\( *- --%s=\).*#\1%s#'`, fl.name, fl.value))
		names = append(names, "--"+fl.name)
	}
	return strings.Join(c, " && "), strings.Join(e, " "), strings.Join(names, " and ")
}

// requireFlags only checks that a static pod sets the flags.
func requireFlags(manifest string, names ...string) string {
	var checks, list []string
	for _, n := range names {
		checks = append(checks, fmt.Sprintf(`grep -q -e '^ *- --%s=' "$f"`, n))
		list = append(list, "--"+n)
	}
	return fmt.Sprintf(`f=%s; %s || { echo "carousel: $f does not set %s: stop here" >&2; false; }`, onNode(manifest), strings.Join(checks, " && "), strings.Join(list, " and "))
}

// setYAMLKey sets a top-level-or-nested scalar key of a YAML file that must
// be there.
func setYAMLKey(file, key, value string) string {
	return fmt.Sprintf(`f=%s; grep -q -e '^ *%s:' "$f" && sed -i -e 's#^\( *%s:\).*#\1 %s#' "$f" || { echo "carousel: $f has no %s: not changed" >&2; false; }`,
		onNode(file), key, key, value, key)
}

// setKubeconfigCA embeds the trust file as the certificate-authority-data of
// the cluster the kubeconfig's current context uses (never a new cluster
// entry: `kubectl config set-cluster` would create one and exit 0).
func setKubeconfigCA(file, trust string, opt bool) string {
	set := fmt.Sprintf(`c=$(kubectl config view --kubeconfig "$f" --minify -o jsonpath='{.clusters[0].name}') && [ -n "$c" ] && kubectl config set-cluster "$c" --kubeconfig "$f" --embed-certs --certificate-authority %s >/dev/null`, onNode(trust))
	if opt {
		return fmt.Sprintf(`f=%s; if [ ! -f "$f" ]; then echo "carousel: no $f on this node: nothing to change"; else %s || { echo "carousel: $f has no current cluster: not changed" >&2; false; }; fi`, onNode(file), set)
	}
	return fmt.Sprintf(`f=%s; %s || { echo "carousel: $f is missing or has no current cluster: not changed" >&2; false; }`, onNode(file), set)
}
