package gen

import (
	"crypto/x509"
	"fmt"
	"maps"
	"slices"
	"time"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/kio/kioutil"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/spec"
	"github.com/carousel-dev/carousel/pkg/targets"
)

// Input is everything a render reads.
type Input struct {
	Rotation *spec.CARotation
	// Config is the CARotation resource, for result references.
	Config *yaml.RNode
	Items  []*yaml.RNode
	// Now is only used to warn about expiry; it never reaches the output.
	Now time.Time
}

// Output is the rendered phase. When Results holds an error, Items is nil:
// a failed render writes nothing rather than half a phase.
type Output struct {
	Items   []*yaml.RNode
	Results framework.Results
	// Restarts lists the workloads annotated, with the hash they carry.
	Restarts []Restart
	State    phases.State
	// Signer is the CA certificate that signs the phase's leaves; Leaves
	// the leaf certificate each spec leaf serves in the phase; KnownLeaves
	// maps the fingerprint of every leaf generation in the material to its
	// leaf's name. Live checks compare what a server presents with these.
	Signer      *x509.Certificate
	Leaves      map[string]*x509.Certificate
	KnownLeaves map[string]string
	// Cross is the rotation's cross-certificate (scope cross-sign), nil
	// when the material has none; State.Cross says whether the phase
	// serves it after every leaf.
	Cross *x509.Certificate
	// NodePublished is the set the nodes publish to in-cluster-config
	// consumers at this position (kube-controller-manager's
	// --root-ca-file): what kube-root-ca.crt must hold before its
	// in-cluster-config step is merged.
	NodePublished []*x509.Certificate
	// Managed lists the objects the rotation manages in the phase, in the
	// order of Items: status verifies exactly these against the cluster.
	Managed []Managed
	// Published is what consumers in other packages need to roll and
	// render exactly as they would in this one (`carousel publish`).
	Published *Published
	// Certificates are the certificates the phase uses (the CAs it
	// trusts, the leaves it serves): what spec.alerts alerts on and
	// `carousel status -o openmetrics` reports the expiry of.
	Certificates []Certificate
}

// Published is the public part of a rendered phase: the trusted set and
// the consumption digests (ConsumptionDigests), and the same for the
// baseline, so a consumer package applies the owner's adoption rule.
type Published struct {
	Trusted []*x509.Certificate
	Digests map[string]string
	// Baseline is nil when the owner has none (every consumer is
	// annotated); Promoted lists its consumptions that were promoted.
	Baseline *PublishedBaseline
	// Roots, for a shared root (spec.clusters), are the roots its
	// clusters may trust (rootRoots).
	Roots []*x509.Certificate
}

// PublishedBaseline is the steady phase over the same material.
type PublishedBaseline struct {
	Trusted  []*x509.Certificate
	Digests  map[string]string
	Promoted []string
}

// Managed is an object the rotation manages in the phase: one it renders,
// or an input object it edits (a caBundle, a kubeconfig, cluster-info, a
// service-account token Secret).
type Managed struct {
	Kind, Namespace, Name string
	// Carries says what the object holds: "trust" (the trusted set),
	// "leaf:<name>" (a leaf, its key and usually the trusted set) or "ca"
	// (a CA, its key and the trusted set).
	Carries string
	// Digest names the content a consumer of the object sees in the phase.
	// Restart hashes are made of these, so a workload rolls when, and only
	// when, something it reads changes.
	Digest string
	// Object is the object as rendered (one of Items).
	Object *yaml.RNode
}

func (m Managed) id() objID { return objID{m.Kind, m.Namespace, m.Name} }

// Failed reports whether any result is an error.
func (o Output) Failed() bool {
	for _, r := range o.Results {
		if r.Severity == framework.Error {
			return true
		}
	}
	return false
}

// renderer is what every step of one render reads: the rotation, the
// phase, its material and trusted set, and the input items (KeyPairs
// aside). Steps report problems into results; what they render or manage
// they return to Render.
// kinds is the rotation's registry of kinds: the built-in ones and those
// spec.workloadKinds declares.
func (r *renderer) kinds() targets.Registry {
	if r.rot == nil {
		return targets.Builtin()
	}
	return r.rot.Spec.Kinds()
}

type renderer struct {
	in    Input
	rot   *spec.CARotation
	state phases.State
	set   *material.Set
	trust trustSet
	// published is the set the nodes publish to in-cluster-config
	// consumers at this position (state.Published): the trusted set,
	// except before a node step has published it.
	published trustSet
	// items are the input items, this rotation's KeyPairs taken out, in
	// input order. Renderers edit some of them in place.
	items   []*yaml.RNode
	results framework.Results
	// byID indexes items by id for emit (built on first use); before holds
	// a copy of each input object emit took over, as the input held it.
	byID   map[objID]*yaml.RNode
	before map[*yaml.RNode]*yaml.RNode
	// digests are the phase's consumption digests (consumptionDigests):
	// made from the material for the owner, read from the published state
	// for a consumer package.
	digests map[string]string
	// consumer renders a consumer package (RenderConsumer): no material,
	// only bundles, caBundles and restarts; knownCAs are the fingerprints
	// of the CAs its state names.
	consumer bool
	knownCAs map[string]bool
	// rootStates are the input's shared root states this cluster's
	// rotation names (spec.rootState), consumed: checkRootState.
	rootStates []*yaml.RNode
}

// Render renders the phase named in the rotation's spec.
func Render(in Input) Output {
	r := &renderer{in: in, rot: in.Rotation}
	if _, err := phases.Lookup(r.rot.Spec.Scope, r.rot.Spec.Phase); err != nil {
		r.configError("spec.phase", err)
		return r.finish(nil, nil, nil)
	}
	state, err := phases.LookupAt(r.rot.Spec.Scope, r.rot.Position(), r.rot.Features())
	if err != nil {
		r.configError("spec.step", err)
		return r.finish(nil, nil, nil)
	}
	r.state = state
	if r.rot.Spec.Backend.KeysInCluster() {
		if r.rot.Spec.RootState != "" {
			r.configError("spec.rootState", fmt.Errorf("is set with backend cert-manager: a shared root's cluster holds its intermediate in git (backend material), which the root's owner signs"))
			return r.finish(nil, nil, nil)
		}
		return r.renderCertManager()
	}
	if !r.loadMaterial() {
		return r.finish(nil, nil, nil)
	}
	r.trust = newTrustSet(r.trustCerts(state.Trusted))
	r.published = newTrustSet(r.trustCerts(state.Published))
	r.checkRootState()
	r.checkCompromised()
	if r.hasErrors() {
		return r.finish(nil, nil, nil)
	}
	r.warnExpiry()
	// The alerts last, and not among renderParts, which the baseline
	// renders too: they manage nothing, and the steady phase's may lack
	// the material the alerts name.
	rendered, managed := compose(append(r.renderParts(), r.renderAlerts(r.inUse())))
	// Then what reads them all: a workload rolls on the digest of every
	// managed object its pods read, whichever renderer manages it; a
	// caBundle is unmanaged only if no renderer manages it.
	base := r.baseline(managed)
	restarts := r.rollWorkloads(managed, base)
	r.warnUnmanaged(managed)
	o := r.finish(rendered, managed, restarts)
	if !o.Failed() {
		// A shared root renders nothing of its own (every object is its
		// clusters'), and still publishes.
		o.Published = r.publicState(base)
	}
	return o
}

func (r *renderer) publicState(base *baseline) *Published {
	p := &Published{Trusted: r.trust.certs, Digests: r.consumptionDigests()}
	if len(r.rot.Spec.Clusters) > 0 {
		p.Roots = r.rootRoots()
	}
	if base != nil {
		p.Baseline = &PublishedBaseline{Trusted: base.r.trust.certs, Digests: base.r.consumptionDigests(), Promoted: slices.Sorted(maps.Keys(base.promoted))}
	}
	return p
}

// renderParts runs the renderers of the output families. Each reads only
// the rotation, the phase's material and the input, never another's output,
// so none depends on another having run. Their order is the order of the new
// objects after the input items (CA Secrets, leaf Secrets, bundles,
// cluster-info) and of their results, which the goldens pin.
func (r *renderer) renderParts() []part {
	if r.consumer {
		return []part{r.renderBundles(), r.injectCABundles()}
	}
	return []part{
		r.renderCASecrets(),
		r.renderLeafSecrets(),
		r.renderBundles(),
		r.renderClusterInfo(),
		r.injectCABundles(),
		r.updateKubeconfigs(),
		r.updateServiceAccountTokens(),
		r.renderMeshRootCertificates(),
	}
}

// compose joins the renderers' parts: the new objects in order, and every
// managed object by id. Two parts manage one id only when they edit the
// same input object with the same trusted set (a kubeconfig Secret that
// also asks for injection); any other overlap within one rotation is
// refused by Validate (across rotations, see claimedByAnother).
func compose(parts []part) ([]*yaml.RNode, map[objID]Managed) {
	var rendered []*yaml.RNode
	managed := map[objID]Managed{}
	for _, p := range parts {
		rendered = append(rendered, p.rendered...)
		for _, m := range p.managed {
			managed[m.id()] = m
		}
	}
	return rendered, managed
}

func (r *renderer) finish(rendered []*yaml.RNode, managed map[objID]Managed, restarts []Restart) Output {
	o := Output{Results: r.results, State: r.state}
	for _, res := range o.Results {
		if res.Severity == framework.Error {
			return o
		}
	}
	o.Items = append(r.items, rendered...)
	for _, n := range o.Items {
		if m, ok := managed[idOf(n)]; ok && m.Object == n {
			o.Managed = append(o.Managed, m)
		}
	}
	o.Restarts = restarts
	if r.set == nil {
		return o // a consumer package: no material
	}
	o.Signer = r.set.CA[r.state.Signer].Cert()
	if k, ok := r.set.Cross[phases.New]; ok {
		o.Cross = k.Cert()
	}
	o.Certificates = r.inUse()
	o.NodePublished = r.published.certs
	o.Leaves, o.KnownLeaves = map[string]*x509.Certificate{}, map[string]string{}
	for name, gens := range r.set.Leaves {
		for g, k := range gens {
			o.KnownLeaves[pki.Fingerprint(k.Cert())] = name
			if g == r.state.Leaves {
				o.Leaves[name] = k.Cert()
			}
		}
	}
	return o
}

// configError reports a problem with a field of the CARotation.
func (r *renderer) configError(field string, err error) {
	r.results = append(r.results, result(framework.Error, r.in.Config, field, err.Error()))
}

func (r *renderer) errorAt(n *yaml.RNode, field string, err error) {
	r.results = append(r.results, result(framework.Error, n, field, err.Error()))
}

func (r *renderer) warnAt(n *yaml.RNode, field, format string, args ...any) {
	r.results = append(r.results, result(framework.Warning, n, field, fmt.Sprintf(format, args...)))
}

// result builds a KRM result pointing at a resource, its field and its file.
func result(sev framework.Severity, n *yaml.RNode, field, msg string) *framework.Result {
	res := &framework.Result{Severity: sev, Message: msg}
	if n != nil {
		id := yaml.ResourceIdentifier{
			TypeMeta: yaml.TypeMeta{APIVersion: n.GetApiVersion(), Kind: n.GetKind()},
			NameMeta: yaml.NameMeta{Name: n.GetName(), Namespace: n.GetNamespace()},
		}
		res.ResourceRef = &id
		if p, _, err := kioutil.GetFileAnnotations(n); err == nil && p != "" {
			res.File = &framework.File{Path: p}
		}
	}
	if field != "" {
		res.Field = &framework.Field{Path: field}
	}
	return res
}
