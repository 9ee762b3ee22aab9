package gen

import (
	"encoding/base64"
	"fmt"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/spec"
	"github.com/carousel-dev/carousel/pkg/targets"
)

// injectCABundles sets caBundle on the named webhook configurations,
// APIServices and CRDs, and on any carrying carousel.dev/inject-ca-from.
// Where each kind keeps its caBundle comes from the targets registry.
func (r *renderer) injectCABundles() part {
	var p part
	bundle := b64(r.trust.pem)
	found := make([]bool, len(r.rot.Spec.CABundles))
	for _, n := range r.items {
		var webhooks []string
		matched := n.GetAnnotations()[spec.InjectAnnotation] == r.rot.Metadata.Name
		for i, t := range r.rot.Spec.CABundles {
			if n.GetKind() == t.Kind && n.GetName() == t.Name {
				matched, found[i] = true, true
				webhooks = t.Webhooks
			}
		}
		if !matched {
			continue
		}
		for _, path := range caBundlePaths(n, webhooks) {
			_ = n.PipeE(yaml.LookupCreate(yaml.MappingNode, path...), yaml.SetField("caBundle", yaml.NewStringRNode(bundle)))
		}
		p.manage(n, spec.Trust, r.trust.digest)
	}
	for i, t := range r.rot.Spec.CABundles {
		if !found[i] {
			r.configError(fmt.Sprintf("spec.caBundles[%d]", i), fmt.Errorf("%s %q is not in the input: list it in the kustomization's resources, or remove it here", t.Kind, t.Name))
		}
	}
	return p
}

// caBundlePaths returns the paths of the maps of n holding caBundle: none
// for a kind without one.
func caBundlePaths(n *yaml.RNode, only []string) [][]string {
	k, ok := targets.Builtin().Lookup(n.GetKind())
	if !ok || k.CABundle == nil {
		return nil
	}
	return k.CABundle.Paths(n, only)
}

// warnUnmanaged warns about caBundles of the input that carry a CA of this
// rotation but are not managed by it: forgotten targets that would break
// when the old CA is distrusted.
func (r *renderer) warnUnmanaged(managed map[objID]Managed) {
	ours := r.knownCAs
	if !r.consumer && r.set != nil { // a consumer and the cert-manager backend have no material
		ours = map[string]bool{}
		for _, k := range r.set.CA {
			ours[pki.Fingerprint(k.Cert())] = true
		}
	}
	for _, n := range r.items {
		if _, ok := managed[idOf(n)]; ok {
			continue
		}
		for _, p := range caBundlePaths(n, nil) {
			v, _ := n.Pipe(yaml.Lookup(append(p, "caBundle")...))
			if v == nil {
				continue
			}
			raw, err := base64.StdEncoding.DecodeString(yaml.GetValue(v))
			if err != nil {
				continue
			}
			certs, err := pki.ParseCerts(raw)
			if err != nil {
				continue
			}
			for _, c := range certs {
				if ours[pki.Fingerprint(c)] {
					r.warnAt(n, strings.Join(p, ".")+".caBundle",
						"this caBundle holds a CA of rotation %q but is not managed by it: add it to spec.caBundles or annotate it %s: %s, or it breaks when the old CA is distrusted",
						r.rot.Metadata.Name, spec.InjectAnnotation, r.rot.Metadata.Name)
					break
				}
			}
		}
	}
}
