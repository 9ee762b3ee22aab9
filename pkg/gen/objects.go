package gen

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/krmio"
	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/pki"
)

// trustSet is the trusted set of a phase, written once.
type trustSet struct {
	certs  []*x509.Certificate
	pem    []byte
	digest string
}

func newTrustSet(certs []*x509.Certificate) trustSet {
	sorted := pki.SortedSet(certs...)
	return trustSet{certs: sorted, pem: pki.EncodeCerts(sorted...), digest: digestOf(sorted...)}
}

// digestOf names a set of certificates by their fingerprints.
func digestOf(certs ...*x509.Certificate) string {
	fps := make([]string, len(certs))
	for i, c := range certs {
		fps[i] = pki.Fingerprint(c)
	}
	return hashLines(fps...)
}

func hashLines(lines ...string) string {
	h := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return hex.EncodeToString(h[:])
}

// objID identifies an object by kind, namespace and name.
type objID struct{ kind, namespace, name string }

func (o objID) String() string { return o.kind + "/" + o.namespace + "/" + o.name }

func idOf(n *yaml.RNode) objID { return objID{n.GetKind(), n.GetNamespace(), n.GetName()} }

// part is what one renderer contributes to the phase: the objects it renders
// (new objects, written after the input) and the objects it manages (those
// new objects, or input objects it edits in place) with what a consumer of
// each sees. Renderers hand these back to Render instead of sharing state,
// so what one renderer needs from another is visible in Render.
type part struct {
	rendered []*yaml.RNode
	managed  []Managed
}

// render adds a new object the renderer manages.
func (p *part) render(n *yaml.RNode, carries, digest string) {
	p.rendered = append(p.rendered, n)
	p.manage(n, carries, digest)
}

// manage records an object the renderer manages.
func (p *part) manage(n *yaml.RNode, carries, digest string) {
	p.managed = append(p.managed, Managed{Kind: n.GetKind(), Namespace: n.GetNamespace(), Name: n.GetName(), Carries: carries, Digest: digest, Object: n})
}

// newSecret starts a Secret with deterministic field order.
func newSecret(name, namespace, typ string) *yaml.RNode {
	return yaml.MustParse(fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n  namespace: %s\n  labels: {}\ntype: %s\n",
		name, namespace, typ))
}

func (r *renderer) labelled(n *yaml.RNode) *yaml.RNode {
	labels := n.GetLabels()
	labels[material.LabelRotation] = r.rot.Metadata.Name
	_ = krmio.SetMetadataMap(n, yaml.LabelsField, labels)
	if len(r.rot.Spec.RenderedAnnotations) > 0 {
		anns := n.GetAnnotations()
		for k, v := range r.rot.Spec.RenderedAnnotations {
			anns[k] = v
		}
		_ = krmio.SetMetadataMap(n, yaml.AnnotationsField, anns)
	}
	return n
}

// setAnnotations adds annotations in key order, so output is deterministic.
func setAnnotations(n *yaml.RNode, add map[string]string) {
	if len(add) == 0 {
		return
	}
	a := n.GetAnnotations()
	for _, k := range slices.Sorted(maps.Keys(add)) {
		a[k] = add[k]
	}
	_ = krmio.SetMetadataMap(n, yaml.AnnotationsField, a)
}

func setData(n *yaml.RNode, key, value string) {
	n.PipeE(yaml.LookupCreate(yaml.MappingNode, "data"), yaml.SetField(key, yaml.NewStringRNode(value)))
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// withSops carries a KeyPair's SOPS metadata onto the Secret its key is
// copied into, so the Secret decrypts exactly as the KeyPair file does.
func withSops(n *yaml.RNode, k material.KeyPair) {
	if k.Sops != nil {
		_ = n.PipeE(yaml.SetField(material.SopsField, k.Sops.Copy()))
	}
}
