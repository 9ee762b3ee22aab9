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
	"time"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/spec"
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

func mustWindow(s string) time.Duration { return spec.MustDuration(s) }

// objID identifies an object by kind, namespace and name.
type objID struct{ kind, namespace, name string }

func (o objID) String() string { return o.kind + "/" + o.namespace + "/" + o.name }

func idOf(n *yaml.RNode) objID { return objID{n.GetKind(), n.GetNamespace(), n.GetName()} }

// consumption is what a consumer of a managed object sees: what kind of
// material it is (for plans) and a digest of its content in this phase.
type consumption struct {
	what   string // "trust", "leaf:<name>" or "ca"
	digest string
}

// newSecret starts a Secret with deterministic field order.
func newSecret(name, namespace, typ string) *yaml.RNode {
	return yaml.MustParse(fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n  namespace: %s\n  labels: {}\ntype: %s\n",
		name, namespace, typ))
}

func (r *renderer) labelled(n *yaml.RNode) *yaml.RNode {
	labels := n.GetLabels()
	labels[material.LabelRotation] = r.rot.Metadata.Name
	_ = n.SetLabels(labels)
	if len(r.rot.Spec.RenderedAnnotations) > 0 {
		anns := n.GetAnnotations()
		for k, v := range r.rot.Spec.RenderedAnnotations {
			anns[k] = v
		}
		_ = n.SetAnnotations(anns)
	}
	return n
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

// renderCASecrets renders the signing CA of the phase into spec.ca.secret,
// and each CA generation present into <name>-<generation>.
func (r *renderer) renderCASecrets() {
	t := r.rot.Spec.CA.Secret
	if t == nil {
		return
	}
	r.emitCASecret(t.Name, *t, r.set.CA[r.state.Signer])
	for _, g := range r.state.CAPresent {
		s := r.emitCASecret(t.Name+"-"+string(g), *t, r.set.CA[g])
		if s != nil && slices.Contains(r.state.Trusted, g) {
			setAnnotations(s, r.rot.Spec.CA.TrustedAnnotations)
		}
	}
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
	_ = n.SetAnnotations(a)
}

func (r *renderer) emitCASecret(name string, t spec.SecretTarget, k material.KeyPair) *yaml.RNode {
	if k.KeyField != t.Keys.Key {
		r.errorAt(k.Source, "data", fmt.Errorf("the CA key is stored under %q but spec.ca.secret.keys.key is %q: the key must be made for the Secret it goes into (an encrypted value only decrypts under its own key)", k.KeyField, t.Keys.Key))
		return nil
	}
	s := r.labelled(newSecret(name, t.Namespace, t.Type))
	setData(s, t.Keys.Cert, b64(pki.EncodeCerts(k.Cert())))
	setData(s, t.Keys.Key, k.KeyValue)
	if t.Keys.CA != spec.OmitKey {
		setData(s, t.Keys.CA, b64(r.trust.pem))
	}
	if t.Keys.Chain != "" {
		setData(s, t.Keys.Chain, b64(pki.EncodeCerts(k.Cert())))
	}
	withSops(s, k)
	r.gen = append(r.gen, s)
	r.managed[objID{"Secret", t.Namespace, name}] = consumption{"ca", hashLines(pki.Fingerprint(k.Cert()), r.trust.digest)}
	return s
}

// renderLeafSecrets renders every leaf of the generation the phase serves.
func (r *renderer) renderLeafSecrets() {
	for i, l := range r.rot.Spec.Leaves {
		k := r.set.Leaves[l.Name][r.state.Leaves]
		t := l.Secret
		if k.KeyField != t.Keys.Key {
			r.errorAt(k.Source, "data", fmt.Errorf("leaf %q's key is stored under %q but spec.leaves[%d].secret.keys.key is %q: the key must be made for the Secret it goes into", l.Name, k.KeyField, i, t.Keys.Key))
			continue
		}
		s := r.labelled(newSecret(t.Name, t.Namespace, t.Type))
		setData(s, t.Keys.Cert, b64(pki.EncodeCerts(k.Certs...)))
		setData(s, t.Keys.Key, k.KeyValue)
		lines := []string{pki.Fingerprint(k.Cert())}
		if t.Keys.CA != spec.OmitKey {
			setData(s, t.Keys.CA, b64(r.trust.pem))
			lines = append(lines, r.trust.digest)
		}
		if t.Keys.Chain != "" {
			signer := r.set.CA[r.signerOf(r.state.Leaves)]
			setData(s, t.Keys.Chain, b64(pki.EncodeCerts(k.Cert(), signer.Cert())))
		}
		withSops(s, k)
		r.gen = append(r.gen, s)
		r.managed[objID{"Secret", t.Namespace, t.Name}] = consumption{spec.LeafPrefix + l.Name, hashLines(lines...)}
	}
}

// inputNamespaces lists every namespace the input mentions, sorted.
func (r *renderer) inputNamespaces() []string {
	seen := map[string]bool{}
	for _, n := range r.out {
		if n.GetKind() == "Namespace" && n.GetApiVersion() == "v1" {
			seen[n.GetName()] = true
		} else if ns := n.GetNamespace(); ns != "" {
			seen[ns] = true
		}
	}
	out := make([]string, 0, len(seen))
	for ns := range seen {
		out = append(out, ns)
	}
	slices.Sort(out)
	return out
}

// renderBundles renders each bundle into each of its namespaces.
func (r *renderer) renderBundles() {
	for _, b := range r.rot.Spec.Bundles {
		nss := b.Namespaces
		if b.AllNamespaces {
			nss = mergeSorted(nss, r.inputNamespaces())
		}
		for _, ns := range nss {
			var n *yaml.RNode
			if b.Kind == "Secret" {
				n = r.labelled(newSecret(b.Name, ns, "Opaque"))
				setData(n, b.Key, b64(r.trust.pem))
			} else {
				n = r.labelled(yaml.MustParse(fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: %s\n  labels: {}\n", b.Name, ns)))
				v := yaml.NewStringRNode(string(r.trust.pem))
				v.YNode().Style = yaml.LiteralStyle
				_ = n.PipeE(yaml.LookupCreate(yaml.MappingNode, "data"), yaml.SetField(b.Key, v))
			}
			r.gen = append(r.gen, n)
			r.managed[objID{b.Kind, ns, b.Name}] = consumption{spec.Trust, r.trust.digest}
		}
	}
}

func mergeSorted(a, b []string) []string {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

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
func (r *renderer) renderClusterInfo() {
	ci := r.rot.Spec.ClusterInfo
	if ci == nil {
		return
	}
	kc := yaml.MustParse(clusterInfoKubeconfig)
	cluster, _ := kc.Pipe(yaml.Lookup("clusters", "[name=]", "cluster"))
	_ = cluster.PipeE(yaml.SetField("certificate-authority-data", yaml.NewStringRNode(b64(r.trust.pem))))
	_ = cluster.PipeE(yaml.SetField("server", yaml.NewStringRNode(ci.Server)))
	text := yaml.NewStringRNode(kc.MustString())
	text.YNode().Style = yaml.LiteralStyle

	id := objID{"ConfigMap", "kube-public", "cluster-info"}
	var target *yaml.RNode
	for _, n := range r.out {
		if idOf(n) == id {
			target = n
		}
	}
	if target == nil {
		target = r.labelled(yaml.MustParse("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cluster-info\n  namespace: kube-public\n  labels: {}\n"))
		r.gen = append(r.gen, target)
	}
	_ = target.PipeE(yaml.LookupCreate(yaml.MappingNode, "data"), yaml.SetField("kubeconfig", text))
	r.managed[id] = consumption{spec.Trust, r.trust.digest}
}

// injectCABundles sets caBundle on the named webhook configurations,
// APIServices and CRDs, and on any carrying carousel.dev/inject-ca-from.
func (r *renderer) injectCABundles() {
	bundle := b64(r.trust.pem)
	found := make([]bool, len(r.rot.Spec.CABundles))
	for _, n := range r.out {
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
		r.managed[idOf(n)] = consumption{spec.Trust, r.trust.digest}
	}
	for i, t := range r.rot.Spec.CABundles {
		if !found[i] {
			r.configError(fmt.Sprintf("spec.caBundles[%d]", i), fmt.Errorf("%s %q is not in the input: list it in the kustomization's resources, or remove it here", t.Kind, t.Name))
		}
	}
}

// caBundlePaths returns the paths of the objects holding caBundle.
func caBundlePaths(n *yaml.RNode, only []string) [][]string {
	switch n.GetKind() {
	case "APIService":
		return [][]string{{"spec"}}
	case "CustomResourceDefinition":
		return [][]string{{"spec", "conversion", "webhook", "clientConfig"}}
	case "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration":
		hooks, _ := n.Pipe(yaml.Lookup("webhooks"))
		if hooks == nil {
			return nil
		}
		var out [][]string
		els, _ := hooks.Elements()
		for _, h := range els {
			name := yaml.GetValue(h.Field("name").Value)
			if len(only) > 0 && !slices.Contains(only, name) {
				continue
			}
			out = append(out, []string{"webhooks", "[name=" + name + "]", "clientConfig"})
		}
		return out
	}
	return nil
}

// updateKubeconfigs sets certificate-authority-data in kubeconfig Secrets.
func (r *renderer) updateKubeconfigs() {
	for i, k := range r.rot.Spec.Kubeconfigs {
		p := fmt.Sprintf("spec.kubeconfigs[%d]", i)
		var target *yaml.RNode
		for _, n := range r.out {
			if n.GetKind() == "Secret" && n.GetNamespace() == k.Namespace && n.GetName() == k.Name {
				target = n
			}
		}
		if target == nil {
			r.configError(p, fmt.Errorf("Secret %s/%s is not in the input: list it in the kustomization's resources", k.Namespace, k.Name))
			continue
		}
		if err := r.updateKubeconfig(target, k); err != nil {
			r.errorAt(target, "data."+k.Key, err)
			continue
		}
		r.managed[idOf(target)] = consumption{spec.Trust, r.trust.digest}
	}
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
		name := yaml.GetValue(c.Field("name").Value)
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

// checkConflicts refuses input objects carousel renders itself, so a
// stale copy never shadows (or duplicates) the phase's object.
func (r *renderer) checkConflicts() {
	rendered := map[objID]bool{}
	for _, n := range r.gen {
		rendered[idOf(n)] = true
	}
	for _, n := range r.out {
		if rendered[idOf(n)] {
			r.errorAt(n, "metadata.name", fmt.Errorf("%s %s/%s is rendered by rotation %q: remove it from the input", n.GetKind(), n.GetNamespace(), n.GetName(), r.rot.Metadata.Name))
		}
	}
}
