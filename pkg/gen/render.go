// Package gen renders one phase of a rotation: from the CARotation, the phase
// model and the committed material it produces the phase's KRM resources and
// edits the input's consumers (caBundles, kubeconfigs, pod templates).
//
// Rendering is a pure function of its input: no clock reaches the rendered
// resources (only expiry warnings look at time), no randomness, and every
// set is sorted, so the same package renders byte-identical every time and
// GitOps tools see no drift.
package gen

import (
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/kio/kioutil"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/spec"
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
}

// Failed reports whether any result is an error.
func (o Output) Failed() bool {
	for _, r := range o.Results {
		if r.Severity == framework.Error {
			return true
		}
	}
	return false
}

// renderer carries one render's state.
type renderer struct {
	in      Input
	rot     *spec.CARotation
	state   phases.State
	set     *material.Set
	trust   trustSet
	results framework.Results
	// managed are the objects this render owns, by id, with the digest of
	// the content a consumer of each sees.
	managed map[objID]consumption
	out     []*yaml.RNode
	gen     []*yaml.RNode
	// Restarts found.
	restarts []Restart
}

// Render renders the phase named in the rotation's spec.
func Render(in Input) Output {
	r := &renderer{in: in, rot: in.Rotation, managed: map[objID]consumption{}}
	state, err := phases.Lookup(r.rot.Spec.Scope, r.rot.Spec.Phase)
	if err != nil {
		r.configError("spec.phase", err)
		return r.finish()
	}
	r.state = state
	if !r.loadMaterial() {
		return r.finish()
	}
	r.trust = newTrustSet(r.caCerts(state.Trusted))
	r.warnExpiry()
	r.renderCASecrets()
	r.renderLeafSecrets()
	r.renderBundles()
	r.renderClusterInfo()
	r.injectCABundles()
	r.updateKubeconfigs()
	r.checkConflicts()
	r.rollWorkloads()
	r.warnUnmanaged()
	return r.finish()
}

func (r *renderer) finish() Output {
	o := Output{Results: r.results, State: r.state}
	for _, res := range o.Results {
		if res.Severity == framework.Error {
			return o
		}
	}
	o.Items = append(r.out, r.gen...)
	o.Restarts = r.restarts
	o.Signer = r.set.CA[r.state.Signer].Cert()
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

// ResultsFromSpecError turns a spec load error into results on the config.
func ResultsFromSpecError(config *yaml.RNode, err error) framework.Results {
	var fe spec.FieldErrors
	if !errors.As(err, &fe) {
		return framework.Results{result(framework.Error, config, "", err.Error())}
	}
	out := make(framework.Results, 0, len(fe))
	for _, e := range fe {
		out = append(out, result(framework.Error, config, e.Path, e.Message))
	}
	return out
}
