package cmbackend

import (
	"fmt"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// CACrtReads lists where a pod spec reads key ca.crt of one of the leaf
// Secrets (names, in the pod's namespace) by name: a Secret volume's or
// projected source's items, or an env secretKeyRef. cert-manager writes
// only the issuing CA there (cert-manager#3619), so such a pod loses trust
// in the old CA the moment sign-new re-issues the leaf, while peers still
// present old certificates: its trust must come from the Bundle's target.
// A whole-Secret mount is not reported: most consumers read tls.crt and
// tls.key from it and their trust elsewhere.
func CACrtReads(podSpec *yaml.RNode, leafSecrets map[string]bool) []string {
	var out []string
	items := func(where, secret string, n *yaml.RNode) {
		its, _ := n.Pipe(yaml.Lookup("items"))
		if its == nil || !leafSecrets[secret] {
			return
		}
		els, _ := its.Elements()
		for _, it := range els {
			if k := it.Field("key"); k != nil && yaml.GetValue(k.Value) == "ca.crt" {
				out = append(out, fmt.Sprintf("%s reads ca.crt of Secret %s", where, secret))
			}
		}
	}
	str := func(n *yaml.RNode, path ...string) string {
		v, _ := n.Pipe(yaml.Lookup(path...))
		if v == nil {
			return ""
		}
		return yaml.GetValue(v)
	}
	if vols, _ := podSpec.Pipe(yaml.Lookup("volumes")); vols != nil {
		els, _ := vols.Elements()
		for _, v := range els {
			if s, _ := v.Pipe(yaml.Lookup("secret")); s != nil {
				items("volume "+str(v, "name"), str(s, "secretName"), s)
			}
			if srcs, _ := v.Pipe(yaml.Lookup("projected", "sources")); srcs != nil {
				ss, _ := srcs.Elements()
				for _, src := range ss {
					if s, _ := src.Pipe(yaml.Lookup("secret")); s != nil {
						items("projected volume "+str(v, "name"), str(s, "name"), s)
					}
				}
			}
		}
	}
	for _, kind := range []string{"containers", "initContainers"} {
		cs, _ := podSpec.Pipe(yaml.Lookup(kind))
		if cs == nil {
			continue
		}
		els, _ := cs.Elements()
		for _, c := range els {
			env, _ := c.Pipe(yaml.Lookup("env"))
			if env == nil {
				continue
			}
			es, _ := env.Elements()
			for _, e := range es {
				if leafSecrets[str(e, "valueFrom", "secretKeyRef", "name")] && str(e, "valueFrom", "secretKeyRef", "key") == "ca.crt" {
					out = append(out, fmt.Sprintf("container %s env %s reads ca.crt of Secret %s", str(c, "name"), str(e, "name"), str(e, "valueFrom", "secretKeyRef", "name")))
				}
			}
		}
	}
	return out
}
