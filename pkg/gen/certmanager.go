package gen

import (
	"crypto/x509"
	"fmt"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/cmbackend"
	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/spec"
	"github.com/carousel-dev/carousel/pkg/targets"
)

// renderCertManager renders a phase of a rotation whose keys never leave the
// cluster (spec.backend: cert-manager): the input items (this rotation's
// CACertificates taken out, as KeyPairs are) followed by the phase's
// cert-manager and trust-manager objects, which pkg/cmbackend decides.
// No Secret carousel renders carries a key, so none is rendered at all;
// KeyPairs of this rotation are refused: that material belongs to the
// material backend, and rendering it would put a key where cert-manager
// owns one.
func (r *renderer) renderCertManager() Output {
	pulled := map[int]cmbackend.Pulled{}
	for _, n := range r.in.Items {
		switch {
		case cmbackend.IsCACertificate(n) && cmbackend.RotationOf(n) == r.rot.Metadata.Name:
			p, prob := cmbackend.Parse(n)
			if prob != nil {
				r.errorAt(n, prob.Field, fmt.Errorf("%s", prob.Message))
				continue
			}
			if prev, ok := pulled[p.Generation]; ok {
				r.errorAt(n, "metadata.annotations."+cmbackend.LabelGeneration, fmt.Errorf("generation %d is also recorded by CACertificate %s", p.Generation, prev.Source.GetName()))
				continue
			}
			pulled[p.Generation] = p
		case material.IsKeyPair(n) && material.RotationOf(n) == r.rot.Metadata.Name:
			r.errorAt(n, "", fmt.Errorf("rotation %s uses backend %s: its keys never leave the cluster, so it takes no KeyPair (remove it from the package)", r.rot.Metadata.Name, r.rot.Spec.Backend))
		default:
			r.items = append(r.items, n)
		}
	}
	if r.hasErrors() {
		return Output{Results: r.results, State: r.state}
	}
	objs, problems := cmbackend.Objects(cmbackend.Input{Rotation: r.rot, State: r.state, Pulled: pulled})
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
	// Said, not silently ignored: this field is read by the material
	// backend only.
	if len(r.rot.Spec.Probes) > 0 {
		r.results = append(r.results, result(framework.Warning, r.in.Config, "spec.probes",
			"backend cert-manager: status does not dial probes yet"))
	}
	r.knownCAs = map[string]bool{}
	for _, p := range pulled {
		r.knownCAs[pki.Fingerprint(p.Cert)] = true
	}
	complete := r.usePulled(pulled)
	caBundles := r.certManagerCABundles(complete)
	info := r.certManagerClusterInfo(complete)
	managed := r.certManagerManaged(caBundles, info)
	base := r.certManagerBaseline(pulled, managed)
	restarts := r.rollWorkloads(managed, base)
	if !complete && slices.ContainsFunc(restarts, func(w Restart) bool { return w.Hash != "" }) {
		// Only a promoted steady phase annotates without a rotation
		// under way, and it needs the CA it consumes.
		r.configError("spec.certManager.generations.old", fmt.Errorf(
			"generation %d's certificate is not in git, and the workloads consuming it carry the restart annotation of the rotation that brought it in: run `carousel pull` and commit the CACertificate it writes", cmbackend.Number(r.rot, phases.Old)))
	}
	r.warnUnmanaged(managed)
	if r.hasErrors() {
		return Output{Results: r.results, State: r.state}
	}
	certs := r.certManagerInUse(pulled)
	alerts := r.renderAlerts(certs)
	if r.hasErrors() {
		return Output{Results: r.results, State: r.state}
	}
	o := Output{Results: r.results, State: r.state, Items: append(append(append(r.items, objs...), info.rendered...), alerts.rendered...), Restarts: restarts, Certificates: certs}
	for _, n := range append(slices.Clone(r.items), info.rendered...) {
		if m, ok := managed[idOf(n)]; ok && m.Object == n {
			o.Managed = append(o.Managed, m)
		}
	}
	if p, ok := pulled[cmbackend.Number(r.rot, r.state.Signer)]; ok {
		o.Signer = p.Cert
	}
	// The public state (carousel publish) is the pulled trusted
	// certificates and the digests above: nothing of it is made in the
	// cluster. Without every trusted generation in git there is none, and
	// publish refuses rather than write half a state.
	if complete {
		o.Published = r.publicState(base)
	}
	return o
}

// usePulled sets the renderer's trusted set and consumption digests from
// the pulled certificates of the phase's generations, and reports whether
// every trusted generation's certificate is in git. Past steady it always
// is (cmbackend.Objects refuses otherwise); at steady the CA in use may
// not have been issued yet, and then nothing is annotated (see
// renderCertManager) and no caBundle injected.
//
// A leaf's digest is its signer generation's fingerprint, not the leaf's
// own: cert-manager makes the leaf in the cluster, so git never holds it,
// and what changes it is the issuerRef flip to the signer generation at
// sign-new. Its consumers therefore roll exactly when cert-manager is told
// to re-issue, and never when it merely renews (renewBefore), which a
// workload reading its Secret picks up only by reloading it or restarting:
// the same as before carousel.
func (r *renderer) usePulled(pulled map[int]cmbackend.Pulled) bool {
	trusted, complete := pulledCerts(r.rot, pulled, r.state.Trusted)
	r.trust = newTrustSet(trusted)
	var signer *x509.Certificate
	if p, ok := pulled[cmbackend.Number(r.rot, r.state.Signer)]; ok {
		signer = p.Cert
	}
	leaves := map[string]*x509.Certificate{}
	if signer != nil {
		for _, l := range r.rot.Spec.Leaves {
			leaves[l.Name] = signer
		}
	}
	r.digests = ConsumptionDigests(trusted, nil, signer, leaves)
	return complete
}

// pulledCerts are the pulled certificates of generations, in order, and
// whether all of them are in git.
func pulledCerts(rot *spec.CARotation, pulled map[int]cmbackend.Pulled, gens []phases.Generation) ([]*x509.Certificate, bool) {
	var out []*x509.Certificate
	for _, g := range gens {
		p, ok := pulled[cmbackend.Number(rot, g)]
		if !ok {
			return nil, false
		}
		out = append(out, p.Cert)
	}
	return out, true
}

// certManagerCABundles injects the trusted generations' pulled
// certificates into the caBundles (spec.caBundles and objects annotated
// carousel.dev/inject-ca-from), exactly as the material backend injects
// its trusted set. Before the CA in use has been pulled (a first steady
// render, cert-manager not having issued it yet) there is nothing to
// inject: the caBundles are left as the input holds them, with a warning
// that names `carousel pull`.
func (r *renderer) certManagerCABundles(complete bool) part {
	if complete {
		return r.injectCABundles()
	}
	if len(r.rot.Spec.CABundles) > 0 {
		r.results = append(r.results, result(framework.Warning, r.in.Config, "spec.caBundles",
			fmt.Sprintf("generation %d's certificate is not in git yet: the caBundles are left as the input holds them; once cert-manager has issued it, run `carousel pull` and commit the CACertificate it writes", cmbackend.Number(r.rot, phases.Old))))
	}
	return part{}
}

// certManagerClusterInfo renders kube-public/cluster-info from the trusted
// generations' pulled certificates, exactly as the material backend does
// from its trusted set, so `kubeadm join` discovery keeps working through
// the overlap. Before the CA in use has been pulled (a first steady
// render) there is nothing to write: the input's cluster-info is left as
// it is, with a warning that names `carousel pull`.
func (r *renderer) certManagerClusterInfo(complete bool) part {
	if r.rot.Spec.ClusterInfo == nil {
		return part{}
	}
	if complete {
		return r.renderClusterInfo()
	}
	r.results = append(r.results, result(framework.Warning, r.in.Config, "spec.clusterInfo",
		fmt.Sprintf("generation %d's certificate is not in git yet: cluster-info is left as the input holds it; once cert-manager has issued it, run `carousel pull` and commit the CACertificate it writes", cmbackend.Number(r.rot, phases.Old))))
	return part{}
}

// certManagerManaged is what the phase's workloads can read that the
// rotation decides: the caBundles it injected, cluster-info, the Bundle targets
// trust-manager writes (trust) and the leaf Secrets cert-manager writes
// (leaf:<name>). The last two are not in the output (the controllers
// write them), so status does not compare them here (pkg/cmbackend's
// live checks do); they are what pod specs reading them roll on.
func (r *renderer) certManagerManaged(parts ...part) map[objID]Managed {
	managed := map[objID]Managed{}
	for _, p := range parts {
		for _, m := range p.managed {
			managed[m.id()] = m
		}
	}
	for _, b := range r.rot.Spec.Bundles {
		kind := targets.ConfigMap
		if b.Kind == targets.Secret {
			kind = targets.Secret
		}
		nss := b.Namespaces
		if b.AllNamespaces {
			nss = mergeSorted(nss, r.inputNamespaces())
		}
		for _, ns := range nss {
			m := Managed{Kind: kind, Namespace: ns, Name: b.Name, Carries: spec.Trust, Digest: r.trust.digest}
			managed[m.id()] = m
		}
	}
	for _, l := range r.rot.Spec.Leaves {
		what := spec.LeafPrefix + l.Name
		m := Managed{Kind: targets.Secret, Namespace: l.Secret.Namespace, Name: l.Secret.Name, Carries: what, Digest: r.digests[what]}
		managed[m.id()] = m
	}
	return managed
}

// certManagerBaseline is baseline for the cert-manager backend: the steady
// phase over the same generations (the old one trusted and signing), from
// its pulled certificate; nil (every consumer annotated) when it is not in
// git. Generation 1 is the CA carousel found or first made, which
// workloads ran with before any rotation; a later old generation was
// brought in by a rotation, so its consumptions are promoted: they keep
// the annotation at steady and finishing a rotation rolls nothing.
func (r *renderer) certManagerBaseline(pulled map[int]cmbackend.Pulled, managed map[objID]Managed) *baseline {
	promoted := map[string]bool{}
	if cmbackend.Number(r.rot, phases.Old) > 1 {
		for what := range r.digests {
			promoted[what] = true
		}
	}
	steady, err := phases.LookupAt(r.rot.Spec.Scope, phases.Position{Phase: phases.Steady}, r.rot.Features())
	if err != nil {
		return nil
	}
	if r.state.Phase == steady.Phase {
		return &baseline{r: r, managed: managed, promoted: promoted}
	}
	b := &renderer{in: r.in, rot: r.rot, state: steady, items: r.baselineItems(), knownCAs: r.knownCAs}
	if !b.usePulled(pulled) {
		return nil
	}
	bm := b.certManagerManaged(b.injectCABundles(), b.certManagerClusterInfo(true)) // its results are not the phase's: dropped
	return &baseline{r: b, managed: bm, promoted: promoted}
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
// ca.crt (cmbackend.CACrtReads says why that breaks at sign-new).
func (r *renderer) warnCACrtReaders() {
	leaves := map[string]map[string]bool{} // namespace -> Secret names
	for _, l := range r.rot.Spec.Leaves {
		if leaves[l.Secret.Namespace] == nil {
			leaves[l.Secret.Namespace] = map[string]bool{}
		}
		leaves[l.Secret.Namespace][l.Secret.Name] = true
	}
	for _, n := range r.items {
		kind, ok := r.kinds().Of(n)
		if !ok || kind.Workload == nil || leaves[n.GetNamespace()] == nil {
			continue
		}
		podSpec, _ := n.Pipe(yaml.Lookup(kind.Workload.PodSpec()...))
		if podSpec == nil {
			continue
		}
		for _, read := range cmbackend.CACrtReads(podSpec, leaves[n.GetNamespace()]) {
			r.warnAt(n, strings.Join(kind.Workload.PodSpec(), "."), "%s: cert-manager writes only the issuing CA into a leaf Secret's ca.crt, so this pod stops trusting the old CA when sign-new re-issues the leaf while peers still present old certificates: read the trust bundle (spec.bundles, written by trust-manager) instead", read)
		}
	}
}
