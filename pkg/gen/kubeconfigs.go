package gen

import (
	"encoding/base64"
	"fmt"
	"slices"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/spec"
	"github.com/carousel-dev/carousel/pkg/targets"
)

// updateKubeconfigs sets certificate-authority-data in kubeconfig Secrets.
func (r *renderer) updateKubeconfigs() part {
	var p part
	for i, k := range r.rot.Spec.Kubeconfigs {
		path := fmt.Sprintf("spec.kubeconfigs[%d]", i)
		var target *yaml.RNode
		for _, n := range r.items {
			if n.GetKind() == targets.Secret && n.GetNamespace() == k.Namespace && n.GetName() == k.Name {
				target = n
			}
		}
		if target == nil {
			r.configError(path, fmt.Errorf("Secret %s/%s is not in the input: list it in the kustomization's resources", k.Namespace, k.Name))
			continue
		}
		if err := r.updateKubeconfig(target, k); err != nil {
			r.errorAt(target, "data."+k.Key, err)
			continue
		}
		p.manage(target, spec.Trust, r.trust.digest)
	}
	return p
}

func (r *renderer) updateKubeconfig(s *yaml.RNode, k spec.Kubeconfig) error {
	field := "data"
	raw, _ := s.Pipe(yaml.Lookup("data", k.Key))
	if raw == nil {
		field = "stringData"
		raw, _ = s.Pipe(yaml.Lookup("stringData", k.Key))
	}
	if raw == nil {
		return fmt.Errorf("the Secret has no key %q", k.Key)
	}
	text := yaml.GetValue(raw)
	if field == "data" {
		b, err := base64.StdEncoding.DecodeString(text)
		if err != nil {
			return fmt.Errorf("not base64: %w", err)
		}
		text = string(b)
	}
	kc, err := yaml.Parse(text)
	if err != nil {
		return fmt.Errorf("not a kubeconfig: %w", err)
	}
	clusters, _ := kc.Pipe(yaml.Lookup("clusters"))
	if clusters == nil {
		return fmt.Errorf("the kubeconfig has no clusters")
	}
	els, _ := clusters.Elements()
	updated := 0
	for _, c := range els {
		var name string
		if f := c.Field("name"); f != nil { // a cluster without a name is matched by an empty selection only
			name = yaml.GetValue(f.Value)
		}
		if len(k.Clusters) > 0 && !slices.Contains(k.Clusters, name) {
			continue
		}
		cl, err := c.Pipe(yaml.LookupCreate(yaml.MappingNode, "cluster"))
		if err != nil {
			return err
		}
		// A file path and inline data together are rejected by client-go.
		_ = cl.PipeE(yaml.Clear("certificate-authority"))
		_ = cl.PipeE(yaml.SetField("certificate-authority-data", yaml.NewStringRNode(b64(r.trust.pem))))
		updated++
	}
	if updated == 0 {
		return fmt.Errorf("no kubeconfig cluster matched %v", k.Clusters)
	}
	out := kc.MustString()
	if field == "data" {
		out = b64([]byte(out))
		return s.PipeE(yaml.Lookup("data"), yaml.SetField(k.Key, yaml.NewStringRNode(out)))
	}
	v := yaml.NewStringRNode(out)
	v.YNode().Style = yaml.LiteralStyle
	return s.PipeE(yaml.Lookup("stringData"), yaml.SetField(k.Key, v))
}
