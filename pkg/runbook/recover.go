package runbook

import (
	"fmt"
	"path"

	"github.com/carousel-dev/carousel/pkg/phases"
)

// kubeletClientDir is where the kubelet keeps its rotated client
// certificates (kubelet-client-current.pem and the dated files it points at).
const kubeletClientDir = "/var/lib/kubelet/pki"

// bootstrapKubeconfig is the kubeconfig the kubelet bootstraps with when it
// has no usable kubelet.conf (kubeadm's drop-in passes it as
// --bootstrap-kubeconfig).
const bootstrapKubeconfig = kubeconfigDir + "/bootstrap-kubelet.conf"

// recoverSteps bring a kubeadm cluster back from an expired (or keyless)
// cluster CA, before the replace phase's objects are applied: until the
// API server presents a certificate of a valid CA and accepts clients of
// it, nothing can apply anything (docs/phases.md, "Recover: an expired or
// lost CA"). Each step needs the one before: the control plane's
// certificates and kubeconfigs are signed with the CA files, the static
// pods read both when they restart, the kubelets re-bootstrap against the
// restarted API server and kube-controller-manager signs their new client
// certificates with the CA files. The old CA's key is never read: it may be
// lost.
func (r runbook) recoverSteps() []Step {
	f, b := r.files, r.b
	g := b.Signer
	restart := func(name string) string {
		return fmt.Sprintf("crictl ps --name %s -q | xargs -r crictl stop   # the kubelet starts it again with the new files", name)
	}
	steps := []Step{{
		Title: fmt.Sprintf("Write the %s CA as %s and %s (every control-plane node)", g, path.Base(f.crt), path.Base(f.key)),
		Why: "everything below is signed with these files (`kubeadm certs renew` and kube-controller-manager sign with the CA in the pki directory), and every trust flag of the kubeadm layout reads " + f.crt +
			": the expired CA is not kept anywhere, nothing it signed is accepted any more. Run from the package directory, with the SOPS key of the material",
		Commands: []string{writeFile(f.crt, r.pem(g)), r.writeKey(f.key, g)},
		Verify:   []string{"openssl x509 -in " + onNode(f.crt) + " -noout -subject -enddate"},
	}}
	// 2. The API server's own certificates: the rotation's leaves when
	// listed, kubeadm's re-issue with the new CA files otherwise. Not
	// restarted yet: the kubeconfigs come first.
	var certs []string
	for _, l := range r.leaves {
		crt, key := certFiles(l.name)
		certs = append(certs, writeFile(crt, pemOf(l.pair.cert)), writeKeyOf(l.pair, key))
	}
	for _, c := range r.renew {
		certs = append(certs, fmt.Sprintf("kubeadm certs renew %s --cert-dir %s", c, onNode(pkiDir)))
	}
	var verify []string
	for _, c := range f.certs {
		crt, _ := certFiles(c)
		verify = append(verify, "openssl verify -CAfile "+onNode(f.crt)+" "+onNode(crt))
	}
	steps = append(steps, Step{
		Title:    fmt.Sprintf("Re-issue the control plane's certificates with the %s CA (every control-plane node)", g),
		Why:      "the API server's serving certificate and its client certificate to the kubelets must chain to the CA every client will trust; leaves the rotation lists are its own, checked against the CA, the others are kubeadm's, re-signed with the CA files of step 1",
		Commands: certs,
		Verify:   verify,
	})
	// 3. Kubeconfigs: the trusted CA, then a client certificate it signed.
	var confs []string
	for _, c := range []string{"admin.conf", "controller-manager.conf", "scheduler.conf"} {
		confs = append(confs, setKubeconfigCA(kubeconfigDir+"/"+c, f.crt, false),
			fmt.Sprintf("kubeadm certs renew %s --cert-dir %s --kubeconfig-dir %s", c, onNode(pkiDir), onNode(kubeconfigDir)))
	}
	confs = append(confs, setKubeconfigCA(kubeconfigDir+"/super-admin.conf", f.crt, true),
		fmt.Sprintf(`if [ -f %s ]; then kubeadm certs renew super-admin.conf --cert-dir %s --kubeconfig-dir %s; else echo "carousel: no super-admin.conf on this node: nothing to renew"; fi`, onNode(kubeconfigDir+"/super-admin.conf"), onNode(pkiDir), onNode(kubeconfigDir)))
	steps = append(steps, Step{
		Title: fmt.Sprintf("Control-plane kubeconfigs: certificate-authority-data and client certificates of the %s CA (every control-plane node)", g),
		Why: "kube-controller-manager, kube-scheduler and admins verify the API server with certificate-authority-data and authenticate with the embedded client certificate: both must be the new CA's before the static pods restart in step 4 and read them. " +
			"Users' kubeconfigs: `carousel kubeconfig --leaf NAME --phase " + string(b.Phase) + "` writes them for user accounts that are client leaves of the rotation",
		Commands: confs,
	})
	// 4. The static pods, on the kubeadm layout's files (a node left on a
	// bundle or a copy by an earlier rotation is put back on ca.crt).
	steps = append(steps, Step{
		Title: "Restart kube-apiserver, kube-controller-manager and kube-scheduler on the new files (every control-plane node)",
		Why: "each reads its certificates, CA files and kubeconfig only when it starts; their flags point at " + path.Base(f.crt) + " and " + path.Base(f.key) + " as kubeadm lays them out. " +
			"etcd keeps running: its CA (pki/etcd/ca.crt) is another CA, which this runbook does not touch",
		Commands: []string{
			setFlags(apiserver, required, flag{"client-ca-file", f.crt}),
			setFlags(apiserver, optional, flag{"kubelet-certificate-authority", f.crt}),
			setFlags(controllerMgr, required, flag{"root-ca-file", f.crt}, flag{"client-ca-file", f.crt}, flag{"cluster-signing-cert-file", f.crt}, flag{"cluster-signing-key-file", f.key}),
			setFlags(scheduler, optional, flag{"client-ca-file", f.crt}),
			setFlagsIfPresent(cloudCtrlMgr, "no cloud-controller-manager static pod", flag{"root-ca-file", f.crt}),
			restart("kube-apiserver"), restart("kube-controller-manager"), restart("kube-scheduler"), restart("cloud-controller-manager"),
		},
		Verify: []string{"kubectl --kubeconfig " + kubeconfigDir + "/admin.conf get --raw /readyz"},
	})
	// 5. Kubelets: the CA file they verify clients with, and a new client
	// certificate through TLS bootstrap.
	server := fmt.Sprintf(`s=$(kubectl config view --kubeconfig %s --minify -o jsonpath='{.clusters[0].cluster.server}') && [ -n "$s" ] || { echo "carousel: %s names no API server: not changed" >&2; false; }`,
		onNode(kubeconfigDir+"/kubelet.conf"), onNode(kubeconfigDir+"/kubelet.conf"))
	bs := onNode(bootstrapKubeconfig + ".tmp")
	steps = append(steps, Step{
		Title: fmt.Sprintf("kubelet: the %s CA, a bootstrap kubeconfig and a new client certificate (every node, control plane first; TOKEN from `kubeadm token create` on a control-plane node)", g),
		Why: "a kubelet's client certificate of the expired CA is refused by the API server, and its kubelet.conf trusts the expired CA. With a bootstrap token it requests a new client certificate, which kube-controller-manager (restarted in step 4) signs with the new CA, " +
			"and writes kubelet.conf pointing at the rotated kubelet-client-current.pem. Worker nodes get " + path.Base(f.crt) + " only, never the key",
		Commands: []string{
			`[ -n "$TOKEN" ] || { echo "carousel: set TOKEN to a bootstrap token: kubeadm token create (on a control-plane node, after step 4)" >&2; false; }`,
			writeFile(f.crt, r.pem(g)),
			setYAMLKey(kubeletConfig, "clientCAFile", f.crt),
			fmt.Sprintf(`%s && kubectl config set-cluster default --kubeconfig %s --server "$s" --certificate-authority %s --embed-certs >/dev/null && kubectl config set-credentials kubelet-bootstrap --kubeconfig %s --token "$TOKEN" >/dev/null && kubectl config set-context default --kubeconfig %s --cluster default --user kubelet-bootstrap >/dev/null && kubectl config use-context default --kubeconfig %s >/dev/null && mv %s %s`,
				server, bs, onNode(f.crt), bs, bs, bs, bs, onNode(bootstrapKubeconfig)),
			fmt.Sprintf("rm -f %s %s/kubelet-client-*.pem", onNode(kubeconfigDir+"/kubelet.conf"), onNode(kubeletClientDir)),
			"systemctl restart kubelet",
		},
		Verify: []string{
			"kubectl --kubeconfig " + kubeconfigDir + "/admin.conf wait --for=condition=Ready node/$(hostname) --timeout=5m",
			"openssl verify -CAfile " + f.crt + " " + kubeletClientDir + "/kubelet-client-current.pem",
		},
	})
	steps = append(steps, Step{
		Title:  "Verify the cluster answers with the new CA, then apply this phase's objects",
		Why:    "cluster-info, the bundles, the leaf Secrets and service-account token Secrets of this phase can only be applied once the API server accepts clients again; pods roll with them",
		Verify: []string{"kubectl --kubeconfig " + kubeconfigDir + "/admin.conf get nodes"},
	})
	return steps
}

// recovers reports whether the move is the recover route's replace, whose
// node steps run before its objects (recoverSteps).
func recovers(a, b phases.State) bool {
	return b.Scope == phases.ScopeRecover && a.Phase == phases.Steady && b.Phase == phases.Replace
}
