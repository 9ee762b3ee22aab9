package status

import (
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/kustomize/kyaml/fn/framework"

	"github.com/carousel-dev/carousel/pkg/cmbackend"
	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// EvaluateCertManager is Evaluate for a rotation with backend cert-manager:
// the rendered phase's caBundles and the rollouts its restart annotations
// cause (as Evaluate checks them for the material backend), the
// controllers' side as cmbackend.Check reads it against the certificates
// in git (pulled), and the order of the two (rolledAfterWrites).
func EvaluateCertManager(ctx context.Context, client dynamic.Interface, rot *spec.CARotation, out gen.Output, pulled map[int]*x509.Certificate, now time.Time) (*Report, error) {
	r, live, err := evaluate(ctx, client, rot, out, now)
	if err != nil {
		return nil, err
	}
	_, findings, notes, err := cmbackend.Check(ctx, client, rot, out.State, pulled)
	if err != nil {
		return nil, err
	}
	issued := map[string]bool{} // leaf names cert-manager has issued from the phase's signer
	synced := map[string]bool{} // Bundle name/namespace whose target holds the phase's set
	for _, f := range findings {
		o := ObjectStatus{Kind: f.Kind, Namespace: f.Namespace, Name: f.Name, State: Verdict(f.State), Detail: f.Detail}
		r.Objects = append(r.Objects, o)
		r.fold(o.State, fmt.Sprintf("%s %s: %s", o.Kind, nsName(o.Namespace, o.Name), o.Detail))
		if o.State != Converged {
			continue
		}
		for _, l := range rot.Spec.Leaves {
			if f.Kind == "Certificate" && f.Namespace == l.Secret.Namespace && f.Name == l.Secret.Name {
				issued[l.Name] = true
			}
		}
		for _, b := range rot.Spec.Bundles {
			if f.Kind == b.Kind && f.Name == b.Name {
				synced[f.Name+"/"+f.Namespace] = true
			}
		}
	}
	r.Reasons = append(r.Reasons, notes...)
	r.Reasons = append(r.Reasons, renderWarnings(out)...)
	if err := rolledAfterWrites(ctx, client, rot, out, live, r, issued, synced); err != nil {
		return nil, err
	}
	return r, nil
}

// rolledAfterWrites blocks a workload whose pods of the phase's template
// were created before the controllers wrote what they read. In this
// backend the controllers, not the GitOps tool, write the leaf Secrets and
// Bundle targets, after the commit that rolls their consumers is applied:
// at sign-new the leaf Certificate's issuerRef flips in the same commit as
// its consumers' restart annotation, and a new trusted set reaches the
// Bundle's sources in the same commit as the trust consumers'. A pod that
// started before cert-manager re-issued (or trust-manager re-synced) holds
// the old leaf or the old set, its template already carries the phase's
// annotation, and nothing will roll it again: the rollout reports done,
// and the next phase would break its handshakes. Only an apply order that
// waits (examples/argocd's health checks, examples/flux's healthCheckExprs)
// prevents it; this catches it, and `kubectl rollout restart` repairs it.
//
// The write time is the API server's record of the data field's last
// writer (cmbackend.DataWritten), in whole seconds, as is a pod's
// creationTimestamp: a pod created in the same second as the write counts
// as before it. Which came first is unknowable then, and the cautious
// reading is the one a restart repairs; an apply order that waits puts
// seconds between the two. Only workloads the phase annotates are checked (adoption rolls
// nothing, and a pod that waited for a Secret or ConfigMap to exist read
// it when it appeared). A leaf is checked only in the phases whose signer
// differs from a neighbour's (the phases an issuerRef flip lands in):
// elsewhere cert-manager rewrites a leaf only to renew it, which a
// workload picks up as it did before carousel.
func rolledAfterWrites(ctx context.Context, client dynamic.Interface, rot *spec.CARotation, out gen.Output, live *snapshot, r *Report, issued, synced map[string]bool) error {
	flips, err := signerFlips(rot)
	if err != nil {
		return err
	}
	leafWritten := map[string]time.Time{}
	for _, l := range rot.Spec.Leaves {
		if !flips || !issued[l.Name] {
			continue
		}
		t, ok, err := cmbackend.LeafWritten(ctx, client, l)
		if err != nil {
			return err
		}
		if ok {
			leafWritten[l.Name] = t
		}
	}
	bundleWritten := map[string]time.Time{} // name/namespace
	bundleTime := func(b spec.Bundle, ns string) (time.Time, bool, error) {
		key := b.Name + "/" + ns
		if !synced[key] {
			return time.Time{}, false, nil
		}
		if t, ok := bundleWritten[key]; ok {
			return t, true, nil
		}
		t, ok, err := cmbackend.BundleWritten(ctx, client, b, ns)
		if ok {
			bundleWritten[key] = t
		}
		return t, ok, err
	}
	for i := range r.Workloads {
		st := &r.Workloads[i]
		w, ok := restartOf(out, st)
		if !ok || w.Hash == "" || st.State != Converged {
			continue
		}
		wl := live.object(w.Kind, w.Namespace, w.Name)
		if wl == nil {
			continue
		}
		var reads []string // what the pods read before it was written
		var stale []string
		check := func(what string, t time.Time) {
			for _, p := range live.podsMatching(w.Namespace, matchLabelsOf(wl)) {
				if p.hash == w.Hash && !p.terminating && !p.created.After(t) {
					stale = append(stale, p.name)
					if !slices.Contains(reads, what) {
						reads = append(reads, what)
					}
				}
			}
		}
		for _, c := range w.Consumes {
			switch {
			case strings.HasPrefix(c, spec.LeafPrefix):
				name := strings.TrimPrefix(c, spec.LeafPrefix)
				if t, ok := leafWritten[name]; ok {
					check(fmt.Sprintf("leaf %s (re-issued by cert-manager at %s)", name, t.UTC().Format(time.RFC3339)), t)
				}
			case c == spec.Trust:
				for _, b := range rot.Spec.Bundles {
					if !b.AllNamespaces && !slices.Contains(b.Namespaces, w.Namespace) {
						continue
					}
					t, ok, err := bundleTime(b, w.Namespace)
					if err != nil {
						return err
					}
					if ok {
						check(fmt.Sprintf("trust bundle %s (written by trust-manager at %s)", b.Name, t.UTC().Format(time.RFC3339)), t)
					}
				}
			}
		}
		if len(stale) == 0 {
			continue
		}
		slices.Sort(stale)
		stale = slices.Compact(stale)
		st.State = Blocked
		st.StalePods = stale
		st.Detail = fmt.Sprintf("%d pod(s) of this phase's template started before the %s, so they hold what it replaced, and nothing will roll them again: `kubectl rollout restart %s/%s -n %s`; apply the cert-manager objects in a wave the workloads wait on (Argo CD health checks in examples/argocd/argocd-cm.yaml, Flux healthCheckExprs in examples/flux/clusters/mesh) so it does not recur",
			len(stale), strings.Join(reads, " and the "), strings.ToLower(w.Kind), w.Name, w.Namespace)
		r.fold(Blocked, fmt.Sprintf("%s %s: %s", st.Kind, nsName(st.Namespace, st.Name), st.Detail))
	}
	return nil
}

// restartOf finds the restart a workload status was made from.
func restartOf(out gen.Output, st *WorkloadStatus) (gen.Restart, bool) {
	for _, w := range out.Restarts {
		if w.Kind == st.Kind && w.Namespace == st.Namespace && w.Name == st.Name {
			return w, true
		}
	}
	return gen.Restart{}, false
}

// signerFlips says whether the rotation's current position signs with
// another generation than a neighbouring one: the positions an issuerRef
// flip lands in, forward (sign-new) or back (trust-new).
func signerFlips(rot *spec.CARotation) (bool, error) {
	f := rot.Features()
	pos, err := phases.Resolve(rot.Spec.Scope, rot.Position(), f)
	if err != nil {
		return false, err
	}
	st, err := phases.LookupAt(rot.Spec.Scope, pos, f)
	if err != nil {
		return false, err
	}
	prev, next, err := phases.NeighbourPositions(rot.Spec.Scope, pos, f)
	if err != nil {
		return false, err
	}
	for _, n := range []phases.Position{prev, next} {
		if n.Phase == "" {
			continue
		}
		ns, err := phases.LookupAt(rot.Spec.Scope, n, f)
		if err != nil {
			return false, err
		}
		if ns.Signer != st.Signer {
			return true, nil
		}
	}
	return false, nil
}

// renderWarnings are the render's warnings, said again by status: for this
// backend they name hazards the live check cannot see, such as a pod whose
// trust is a leaf Secret's ca.crt (cert-manager writes only the issuing CA
// there, so at sign-new the pod stops trusting peers that still present
// the old CA's certificates). They do not change the verdict.
func renderWarnings(out gen.Output) []string {
	var w []string
	for _, res := range out.Results {
		if res.Severity != framework.Warning {
			continue
		}
		where := ""
		if res.ResourceRef != nil {
			where = res.ResourceRef.Kind + " " + nsName(res.ResourceRef.Namespace, res.ResourceRef.Name) + ": "
		}
		w = append(w, "warning: "+where+res.Message)
	}
	return w
}
