package runbook

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// Step is a step that is not a Kubernetes object: files and flags on
// nodes, done by a person (or a node agent) with the commands given.
//
// Every command is self-contained (it can be pasted into a plain shell, no
// `set -e` or pipefail assumed) and fails with a message and a non-zero
// status when the file or flag it edits is missing: a silent no-op on a node
// that is laid out differently would leave it trusting the wrong set.
// Commands edit files under ${KUBE_ROOT:-} (the node's root by default), so
// they can be rehearsed on a copy of a node's tree; flag values are the paths
// the node's processes see.
type Step struct {
	Title    string   `json:"title"`
	Why      string   `json:"why"`
	Commands []string `json:"commands,omitempty"`
	// Verify are read-only checks against the live cluster or node, run after
	// the commands (they need the node's API server, so they are not part of
	// a rehearsal).
	Verify []string `json:"verify,omitempty"`
}

// Steps lists the node-level steps of the move from -> to for the runbook
// the rotation names (nil for none). It fails when the material of a
// generation the target phase needs is missing.
func Steps(rot *spec.CARotation, items []*yaml.RNode, from, to phases.Phase) ([]Step, error) {
	files, ok := filesOf(rot.Spec.Runbook)
	if !ok {
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
		if ref, ok := m[g]; ok && ref.keyField == "" && !(recovers(a, b) && g == a.Signer) {
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
	if recovers(a, b) {
		return rb.recoverSteps(), nil
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

func (r runbook) steps() []Step {
	a, b, f := r.a, r.b, r.files
	trustChanged := !slices.Equal(a.Trusted, b.Trusted) || usesBundle(a) != usesBundle(b)
	signerChanged := a.Signer != b.Signer
	var steps []Step
	if usesBundle(b) && trustChanged {
		steps = append(steps, Step{
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
		steps = append(steps, Step{
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
func (r runbook) trustSteps() []Step {
	b, f := r.b, r.files
	tf := r.trustFile(b)
	set := gens(b.Trusted)
	restart := func(name string) string {
		return fmt.Sprintf("crictl ps --name %s -q | xargs -r crictl stop   # the kubelet starts it again, reading the new file", name)
	}
	if f.copyCrt == "" { // the front-proxy CA
		return []Step{
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
	return []Step{
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
func (r runbook) copyIn() Step {
	f := r.files
	return Step{
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
func (r runbook) copyOut() Step {
	f := r.files
	return Step{
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
func (r runbook) signerSteps() []Step {
	b, f := r.b, r.files
	g := b.Signer
	steps := []Step{{
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
		Step{
			Title:    fmt.Sprintf("Control-plane kubeconfigs: client certificates of the %s CA, then restart kube-controller-manager and kube-scheduler (every control-plane node)", g),
			Why:      "their client certificates must be signed by the CA that stays trusted; users' kubeconfigs need the same (client-certificate-data and client-key-data): `carousel kubeconfig --leaf NAME --phase " + string(r.b.Phase) + "` writes them for user accounts that are client leaves of the rotation",
			Commands: confs,
		},
		Step{
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
func (r runbook) installLeaves(withRenew bool) Step {
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
	return Step{Title: title, Why: why, Commands: cmds, Verify: verify}
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

// gens names a set of generations as the plan's text does ("old + new").
func gens(g []phases.Generation) string {
	s := make([]string, len(g))
	for i, x := range g {
		s[i] = string(x)
	}
	return strings.Join(s, " + ")
}
