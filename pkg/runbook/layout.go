package runbook

import "github.com/carousel-dev/carousel/pkg/spec"

// The kubeadm layout, as the node's processes see it.
const (
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

// filesOf are the CA files the runbook name edits (false for none).
func filesOf(rb spec.Runbook) (caFiles, bool) {
	switch rb {
	case spec.RunbookKubernetes:
		return clusterCA, true
	case spec.RunbookFrontProxy:
		return frontProxyCA, true
	}
	return caFiles{}, false
}

// frontProxyClient is the leaf name whose pair the front-proxy runbook
// installs as front-proxy-client.crt/.key (kubeadm re-issues it otherwise).
const frontProxyClient = "front-proxy-client"
