package gen

import (
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/spec"
)

// kubeconfig is the cluster-info shape kubeadm's discovery reads.
const clusterInfoKubeconfig = `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: CA
    server: SERVER
  name: ""
contexts: null
current-context: ""
kind: Config
preferences: {}
users: null
`

// renderClusterInfo writes kube-public/cluster-info. An input cluster-info is
// updated in place so keys carousel does not own (the bootstrap signer's
// jws-kubeconfig-*) stay as they are.
func (r *renderer) renderClusterInfo() part {
	var p part
	ci := r.rot.Spec.ClusterInfo
	if ci == nil {
		return p
	}
	kc := yaml.MustParse(clusterInfoKubeconfig)
	cluster, _ := kc.Pipe(yaml.Lookup("clusters", "[name=]", "cluster"))
	_ = cluster.PipeE(yaml.SetField("certificate-authority-data", yaml.NewStringRNode(b64(r.trust.pem))))
	_ = cluster.PipeE(yaml.SetField("server", yaml.NewStringRNode(ci.Server)))
	text := yaml.NewStringRNode(kc.MustString())
	text.YNode().Style = yaml.LiteralStyle

	id := objID{"ConfigMap", "kube-public", "cluster-info"}
	var target *yaml.RNode
	for _, n := range r.items {
		if idOf(n) == id {
			target = n
		}
	}
	if target == nil {
		target = r.labelled(yaml.MustParse("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cluster-info\n  namespace: kube-public\n  labels: {}\n"))
		p.rendered = append(p.rendered, target)
	}
	_ = target.PipeE(yaml.LookupCreate(yaml.MappingNode, "data"), yaml.SetField("kubeconfig", text))
	p.manage(target, spec.Trust, r.trust.digest)
	return p
}
