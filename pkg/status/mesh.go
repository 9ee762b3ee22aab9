package status

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/spec"
	"github.com/carousel-dev/carousel/pkg/targets"
)

// Why this file: a mesh's proxies hold a workload certificate issued by the
// control plane from one of the rotation's leaves (Linkerd's identity
// issuer, Istio's plug-in CA), in memory, for its whole lifetime (24h by
// default), and renew it only as it nears its end. The issuer's holders
// rolling onto the new signer at sign-new re-issues none of them. A phase
// that distrusts the old CA makes every peer reject the proxies still
// presenting one from the old signer: rollouts alone say nothing of them.
// So in the phase before such a move, every workload's pods must have
// started after the issuer's holders did (they got their certificate from
// the new signer), or the lifetime must have passed since (every
// certificate from before has been renewed).

// distrustsNext reports whether the phase after the current one trusts
// fewer generations than it: the move that would strand workload
// certificates of the old signer.
func distrustsNext(rot *spec.CARotation) bool {
	_, next, err := phases.Neighbours(rot.Spec.Scope, rot.Spec.Phase)
	return err == nil && next != "" && phases.Distrusts(rot.Spec.Scope, rot.Spec.Phase, next)
}

// workloadCertificates holds, in the phase before one that distrusts a
// generation, every workload whose pods may still present a workload
// certificate of the old signer (spec.workloadCertificates). It runs on a
// report whose verdict is folded, and folds what it finds into it.
func workloadCertificates(r *Report, s *snapshot, rot *spec.CARotation, out gen.Output, now time.Time) {
	wc := rot.Spec.WorkloadCertificates
	if wc == nil || !distrustsNext(rot) {
		return
	}
	lifetime := wc.Lifetime.Value()
	consumes := wc.Consumes()
	rolls := func(w gen.Restart) bool {
		k, ok := rot.Spec.Kinds().Lookup(w.Kind)
		return ok && k.Workload != nil && k.Workload.Roll != targets.NextRun
	}
	var switched time.Time // when the last of the issuer's holders' pods started
	var holders []string
	for i, w := range out.Restarts {
		if !slices.Contains(w.Consumes, consumes) || !rolls(w) {
			continue
		}
		holders = append(holders, w.Kind+" "+nsName(w.Namespace, w.Name))
		if r.Workloads[i].State != Converged {
			return // its own rollout holds the gate already
		}
		if live := s.object(w.Kind, w.Namespace, w.Name); live != nil {
			for _, p := range s.podsMatching(w.Namespace, matchLabelsOf(live)) {
				if !p.terminating && p.hash == w.Hash && p.created.After(switched) {
					switched = p.created
				}
			}
		}
	}
	if len(holders) == 0 {
		r.fold(Blocked, fmt.Sprintf("spec.workloadCertificates: no workload the phase rolls consumes %s, so when its holders started signing with the new CA cannot be known; list the issuer's Deployment in spec.restarts with consumes: [%s]", issuerName(wc), consumes))
		return
	}
	if switched.IsZero() {
		r.fold(Progressing, fmt.Sprintf("spec.workloadCertificates: no pod of %s runs this phase's template yet", strings.Join(holders, ", ")))
		return
	}
	renewed := switched.Add(lifetime)
	if !now.Before(renewed) {
		return // every certificate from before the switch has been renewed
	}
	for i, w := range out.Restarts {
		if slices.Contains(w.Consumes, consumes) || !rolls(w) {
			continue
		}
		live := s.object(w.Kind, w.Namespace, w.Name)
		if live == nil {
			continue
		}
		var before []string
		for _, p := range s.podsMatching(w.Namespace, matchLabelsOf(live)) {
			// Whole seconds on both sides: a pod of the same second as the
			// switch may have asked the old issuer.
			if !p.terminating && !p.created.After(switched) {
				before = append(before, p.name)
			}
		}
		if len(before) == 0 {
			continue
		}
		slices.Sort(before)
		st := &r.Workloads[i]
		st.State = Progressing
		detail := fmt.Sprintf(
			"%d pod(s) (%s) started before %s signed with the new CA (%s): their workload certificates may come from the old signer until %s, and the next phase distrusts it; wait until then, or restart them (kubectl -n %s rollout restart %s/%s)",
			len(before), strings.Join(before, ", "), strings.Join(holders, ", "), switched.UTC().Format(time.RFC3339), renewed.UTC().Format(time.RFC3339), w.Namespace, strings.ToLower(w.Kind), w.Name)
		st.Detail = strings.TrimPrefix(st.Detail+"; "+detail, "; ")
		r.fold(Progressing, fmt.Sprintf("%s %s: %s", w.Kind, nsName(w.Namespace, w.Name), detail))
	}
}

// issuerName names spec.workloadCertificates.issuer in messages.
func issuerName(wc *spec.WorkloadCertificates) string {
	if wc.Issuer == spec.IssuerCA {
		return "the rotation's CA (spec.ca.secret)"
	}
	return "leaf " + wc.Issuer
}
