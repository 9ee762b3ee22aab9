package gen

import (
	"fmt"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/certmanager"
	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/spec"
	"github.com/carousel-dev/carousel/pkg/targets"
)

// renderCertManager renders a phase of a rotation whose keys never leave the
// cluster (spec.backend: cert-manager): the input items (this rotation's
// CACertificates taken out, as KeyPairs are) followed by the phase's
// cert-manager and trust-manager objects, which pkg/certmanager decides.
// No Secret carousel renders carries a key, so none is rendered at all;
// KeyPairs of this rotation are refused: that material belongs to the
// material backend, and rendering it would put a key where cert-manager
// owns one.
func (r *renderer) renderCertManager() Output {
	pulled := map[int]certmanager.Pulled{}
	for _, n := range r.in.Items {
		switch {
		case certmanager.IsCACertificate(n) && certmanager.RotationOf(n) == r.rot.Metadata.Name:
			p, prob := certmanager.Parse(n)
			if prob != nil {
				r.errorAt(n, prob.Field, fmt.Errorf("%s", prob.Message))
				continue
			}
			if prev, ok := pulled[p.Generation]; ok {
				r.errorAt(n, "metadata.annotations."+certmanager.LabelGeneration, fmt.Errorf("generation %d is also recorded by CACertificate %s", p.Generation, prev.Source.GetName()))
				continue
			}
			pulled[p.Generation] = p
		case material.IsKeyPair(n) && material.RotationOf(n) == r.rot.Metadata.Name:
			r.errorAt(n, "", fmt.Errorf("rotation %s uses backend %s: its keys never leave the cluster, so it takes no KeyPair (remove it from the package)", r.rot.Metadata.Name, spec.BackendCertManager))
		default:
			r.items = append(r.items, n)
		}
	}
	if r.hasErrors() {
		return Output{Results: r.results, State: r.state}
	}
	objs, problems := certmanager.Objects(certmanager.Input{Rotation: r.rot, State: r.state, Pulled: pulled})
	for _, p := range problems {
		n := p.Node
		if n == nil {
			n = r.in.Config
		}
		r.errorAt(n, p.Field, fmt.Errorf("%s", p.Message))
	}
	if r.hasErrors() {
		return Output{Results: r.results, State: r.state}
	}
	r.results = append(r.results, certManagerTakeoverWarnings(r.items, objs)...)
	r.warnCACrtReaders()
	// Said, not silently ignored: these fields are read by the material
	// backend only.
	if len(r.rot.Spec.Restarts) > 0 {
		r.results = append(r.results, result(framework.Warning, r.in.Config, "spec.restarts",
			"backend cert-manager writes no restart annotations yet: these rules roll nothing; workloads see new trust and leaves only when they reload the Bundle target or leaf Secret themselves, or restart"))
	}
	if len(r.rot.Spec.Probes) > 0 {
		r.results = append(r.results, result(framework.Warning, r.in.Config, "spec.probes",
			"backend cert-manager: status does not dial probes yet"))
	}
	o := Output{Results: r.results, State: r.state, Items: append(r.items, objs...)}
	if p, ok := pulled[certmanager.Number(r.rot, r.state.Signer)]; ok {
		o.Signer = p.Cert
	}
	return o
}

// certManagerTakeoverWarnings warns about input objects the controllers
// will write: a bundle target ConfigMap the input also holds (a chart's
// linkerd-identity-trust-roots) would be applied by the GitOps tool and
// rewritten by trust-manager, over and over.
func certManagerTakeoverWarnings(items, objs []*yaml.RNode) framework.Results {
	targets := map[string]bool{}
	for _, o := range objs {
		if o.GetKind() == "Bundle" {
			targets[o.GetName()] = true
		}
	}
	var out framework.Results
	for _, n := range items {
		if (n.GetKind() == "ConfigMap" || n.GetKind() == "Secret") && targets[n.GetName()] {
			out = append(out, result(framework.Warning, n, "", fmt.Sprintf(
				"%s %s/%s is also the target of the trust-manager Bundle %s: trust-manager writes it, so leave it out of the package (the chart's copy would be applied and overwritten in turn)",
				n.GetKind(), n.GetNamespace(), n.GetName(), n.GetName())))
		}
	}
	return out
}

// warnCACrtReaders warns about workloads whose trust is a leaf Secret's
// ca.crt (certmanager.CACrtReads says why that breaks at sign-new).
func (r *renderer) warnCACrtReaders() {
	leaves := map[string]map[string]bool{} // namespace -> Secret names
	for _, l := range r.rot.Spec.Leaves {
		if leaves[l.Secret.Namespace] == nil {
			leaves[l.Secret.Namespace] = map[string]bool{}
		}
		leaves[l.Secret.Namespace][l.Secret.Name] = true
	}
	for _, n := range r.items {
		kind, ok := targets.Of(n)
		if !ok || kind.Workload == nil || leaves[n.GetNamespace()] == nil {
			continue
		}
		podSpec, _ := n.Pipe(yaml.Lookup(kind.Workload.PodSpec()...))
		if podSpec == nil {
			continue
		}
		for _, read := range certmanager.CACrtReads(podSpec, leaves[n.GetNamespace()]) {
			r.warnAt(n, strings.Join(kind.Workload.PodSpec(), "."), "%s: cert-manager writes only the issuing CA into a leaf Secret's ca.crt, so this pod stops trusting the old CA when sign-new re-issues the leaf while peers still present old certificates: read the trust bundle (spec.bundles, written by trust-manager) instead", read)
		}
	}
}
