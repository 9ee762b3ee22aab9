package plan

import (
	"fmt"
	"slices"

	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// RunbookStep is a step that is not a Kubernetes object: files and flags on
// nodes, done by a person (or a node agent) with the commands given.
type RunbookStep struct {
	Title    string   `json:"title"`
	Why      string   `json:"why"`
	Commands []string `json:"commands"`
}

const (
	pki       = "/etc/kubernetes/pki"
	bundle    = pki + "/ca-bundle.crt"
	manifests = "/etc/kubernetes/manifests"
)

// fetchBundle is the command that writes the phase's trusted set to a node
// from what GitOps applied, so nodes and objects cannot disagree.
func fetchBundle(rot *spec.CARotation) string {
	for _, b := range rot.Spec.Bundles {
		if b.Kind == "ConfigMap" && (b.AllNamespaces || slices.Contains(b.Namespaces, "kube-system")) {
			return fmt.Sprintf(`kubectl -n kube-system get configmap %s -o jsonpath='{.data.%s}' > %s`, b.Name, escapeJSONPath(b.Key), bundle)
		}
	}
	return fmt.Sprintf(`kubectl -n kube-public get configmap cluster-info -o jsonpath='{.data.kubeconfig}' | sed -n 's/^ *certificate-authority-data: //p' | base64 -d > %s`, bundle)
}

func escapeJSONPath(k string) string {
	out := ""
	for _, r := range k {
		if r == '.' {
			out += `\.`
		} else {
			out += string(r)
		}
	}
	return out
}

// kubernetesRunbook lists the node-level steps of a cluster-CA move, after
// the Kubernetes manual CA rotation procedure. Trust flags point at one
// bundle file whose content follows the phase; ca.crt/ca.key hold the
// signing CA (kube-controller-manager's --client-ca-file and
// --cluster-signing-cert-file cannot be bundles: kubeadm issue 1350).
func kubernetesRunbook(rot *spec.CARotation, from, to phases.Phase) []RunbookStep {
	a, _ := phases.Lookup(rot.Spec.Scope, from)
	b, _ := phases.Lookup(rot.Spec.Scope, to)
	var steps []RunbookStep
	if !slices.Equal(a.Trusted, b.Trusted) {
		steps = append(steps,
			RunbookStep{
				Title: "Write the trusted set of " + string(to) + " to every node",
				Why:   "every trust flag below reads this one file; it is fetched from the bundle GitOps applied, so nodes and objects hold the same set",
				Commands: []string{fetchBundle(rot),
					"openssl crl2pkcs7 -nocrl -certfile " + bundle + " | openssl pkcs7 -print_certs -noout | grep subject   # expect the trusted set of " + string(to)},
			},
			RunbookStep{
				Title: "kube-controller-manager: --root-ca-file (every control-plane node)",
				Why:   "new ServiceAccount tokens and the kube-root-ca.crt ConfigMaps of every namespace carry this set",
				Commands: []string{
					`sed -i 's#--root-ca-file=.*#--root-ca-file=` + bundle + `#' ` + manifests + `/kube-controller-manager.yaml   # the static pod restarts`,
				},
			},
			RunbookStep{
				Title: "kube-apiserver: --client-ca-file and --kubelet-certificate-authority (one control-plane node at a time)",
				Why:   "API servers must accept client certificates and kubelet serving certificates of both generations while pods of both phases run",
				Commands: []string{
					`sed -i -e 's#--client-ca-file=.*#--client-ca-file=` + bundle + `#' -e 's#--kubelet-certificate-authority=.*#--kubelet-certificate-authority=` + bundle + `#' ` + manifests + `/kube-apiserver.yaml`,
					"kubectl get --raw /readyz   # wait until this API server is ready before the next node",
				},
			},
			RunbookStep{
				Title:    "kube-scheduler: --client-ca-file (every control-plane node)",
				Why:      "the scheduler authenticates callers against the same set",
				Commands: []string{`sed -i 's#--client-ca-file=.*#--client-ca-file=` + bundle + `#' ` + manifests + `/kube-scheduler.yaml`},
			},
			RunbookStep{
				Title: "kubelet: clientCAFile and kubelet.conf (every node, one at a time)",
				Why:   "kubelets verify the API server and its clients with this set; rolling node by node keeps workloads scheduled",
				Commands: []string{
					`sed -i 's#clientCAFile: .*#clientCAFile: ` + bundle + `#' /var/lib/kubelet/config.yaml`,
					`kubectl config set-cluster kubernetes --kubeconfig /etc/kubernetes/kubelet.conf --certificate-authority ` + bundle + ` --embed-certs`,
					"systemctl restart kubelet && kubectl wait --for=condition=Ready node/$(hostname) --timeout=5m",
				},
			},
			RunbookStep{
				Title: "kubeconfig files: certificate-authority-data (control-plane nodes and users)",
				Why:   "clients of the API server trust it through these files",
				Commands: []string{
					`for f in admin.conf super-admin.conf controller-manager.conf scheduler.conf; do [ -f /etc/kubernetes/$f ] && kubectl config set-cluster kubernetes --kubeconfig /etc/kubernetes/$f --certificate-authority ` + bundle + ` --embed-certs; done`,
					"# users: the same set-cluster command on each kubeconfig handed out",
				},
			},
		)
	}
	if a.Signer != b.Signer {
		gen := b.Signer
		ca := fmt.Sprintf("%s/ca-%s.yaml", rot.Spec.MaterialDir, gen)
		key := "tls.key"
		if rot.Spec.CA.Secret != nil {
			key = rot.Spec.CA.Secret.Keys.Key
		}
		steps = append(steps,
			RunbookStep{
				Title: fmt.Sprintf("Install the %s CA as the signing CA (every control-plane node)", gen),
				Why:   "ca.crt/ca.key sign certificates from now on; trust flags already read the bundle, so this changes no trust",
				Commands: []string{
					fmt.Sprintf(`sops -d --extract '["certificate"]' %s > %s/ca.crt`, ca, pki),
					fmt.Sprintf(`sops -d --extract '["data"]["%s"]' %s | base64 -d > %s/ca.key && chmod 600 %s/ca.key`, key, ca, pki, pki),
				},
			},
			RunbookStep{
				Title: "Re-issue the API server's certificates and restart API servers one at a time",
				Why:   "clients already trust both CAs, so a server presenting the new CA's certificate is accepted; one at a time keeps the API available",
				Commands: []string{
					"kubeadm certs renew apiserver && kubeadm certs renew apiserver-kubelet-client",
					"crictl pods --name kube-apiserver -q | xargs crictl stopp   # the kubelet restarts the static pod",
					"kubectl get --raw /readyz   # before the next node",
				},
			},
			RunbookStep{
				Title: "kube-controller-manager and kube-scheduler: restart with the new signer and client certificates",
				Why:   "the controller-manager signs CSRs (kubelet client certificates) with ca.crt/ca.key",
				Commands: []string{
					"kubeadm certs renew controller-manager.conf && kubeadm certs renew scheduler.conf && kubeadm certs renew admin.conf",
					"crictl pods --name kube-controller-manager -q | xargs crictl stopp && crictl pods --name kube-scheduler -q | xargs crictl stopp",
				},
			},
			RunbookStep{
				Title:    "kubelet client certificates",
				Why:      "with rotateCertificates: true kubelets renew through CSRs signed by the new CA; otherwise re-issue /var/lib/kubelet/pki/kubelet-client-current.pem with it",
				Commands: []string{"grep rotateCertificates /var/lib/kubelet/config.yaml"},
			},
		)
	}
	if b.Phase == phases.Cleanup && a.Phase == phases.DistrustOld {
		steps = append(steps, RunbookStep{
			Title:    "Remove the old CA from the nodes",
			Why:      "nothing trusts or uses it any more; keep an offline backup until the next rotation",
			Commands: []string{"grep -rl 'ca-old' " + manifests + " /var/lib/kubelet/config.yaml || echo 'no flag references the old CA'"},
		})
	}
	return steps
}
