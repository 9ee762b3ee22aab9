package plan

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/runbook"
	"github.com/carousel-dev/carousel/pkg/spec"
	"github.com/carousel-dev/carousel/pkg/targets"
)

// Plan is the phase table and the two moves a reviewer may make next.
type Plan struct {
	Rotation string       `json:"rotation"`
	Scope    phases.Scope `json:"scope"`
	Current  phases.Phase `json:"current"`
	// CurrentStep is the step of the current phase (its first when the
	// spec names none).
	CurrentStep phases.Step `json:"currentStep"`
	Phases      []PhaseRow  `json:"phases"`
	Next        *Step       `json:"next,omitempty"`
	Rollback    *Step       `json:"rollback,omitempty"`
	Warnings    []string    `json:"warnings,omitempty"`
	// OldTrust: in a cross-signed rotation, how long clients that trust
	// only the old CA may stay on it (crosssign.go).
	OldTrust *OldTrust `json:"oldTrust,omitempty"`
	// Notes are the render's info results (an object taken over, a
	// KeyPair passed through for another rotation): worth reading, not
	// warnings.
	Notes []string `json:"notes,omitempty"`
	// Unready lists the phases after the current one that cannot be rendered
	// from the material in the input, with what each lacks.
	Unready []Unready `json:"unready,omitempty"`
	state   map[phases.Position]gen.Output
	steps   map[phases.Phase][]phases.StepInfo
}

// PhaseRow is one row of the phase table.
type PhaseRow struct {
	Phase   phases.Phase        `json:"phase"`
	Current bool                `json:"current"`
	Trusted []phases.Generation `json:"trusted"`
	Signer  phases.Generation   `json:"signer"`
	Summary string              `json:"summary"`
	// Steps are the phase's commits in order (one for most phases).
	Steps []phases.StepInfo `json:"steps"`
}

// Step is one move and everything a reviewer needs to merge it.
type Step struct {
	From      phases.Phase `json:"from"`
	To        phases.Phase `json:"to"`
	FromStep  phases.Step  `json:"fromStep"`
	ToStep    phases.Step  `json:"toStep"`
	Direction string       `json:"direction"`
	Summary   string       `json:"summary"`
	// Label names the target for people: the phase, and its step when the
	// phase has several ("trust-new, step 2 of 2: in-cluster-config").
	Label   string   `json:"label"`
	Changes []Change `json:"changes"`
	Waves   []Wave   `json:"waves"`
	// Gate must hold before this step is merged.
	Gate    []string       `json:"gate"`
	Runbook []runbook.Step `json:"runbook,omitempty"`
	// RunbookBefore: the runbook runs before this commit is merged (it
	// publishes what the commit's rolls read), not after its objects are
	// applied.
	RunbookBefore bool `json:"runbookBefore,omitempty"`
	// Outage lists the directions in which pods of the two phases refuse
	// each other while the step rolls out: empty on every safe route,
	// both directions on an emergency's replace (phases.Outages).
	Outage []phases.Outage `json:"outage,omitempty"`
}

// ToPosition is where the step moves the rotation.
func (s *Step) ToPosition() phases.Position { return phases.Position{Phase: s.To, Step: s.ToStep} }

// Change is one object the move creates, updates or deletes.
type Change struct {
	Action    string `json:"action"` // create, update, delete
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

func (c Change) String() string {
	if c.Namespace == "" {
		return c.Kind + " " + c.Name
	}
	return c.Kind + " " + c.Namespace + "/" + c.Name
}

// Wave is a group of changes applied (or rolled) together, in order.
type Wave struct {
	Name    string   `json:"name"`
	Why     string   `json:"why"`
	Objects []string `json:"objects"`
}

// Build renders the current position (phase and step) and its neighbours
// and compares them.
func Build(rot *spec.CARotation, config *yaml.RNode, items []*yaml.RNode, now time.Time) (*Plan, error) {
	seq, err := phases.Sequence(rot.Spec.Scope)
	if err != nil {
		return nil, err
	}
	f := rot.Features()
	cur, err := phases.Resolve(rot.Spec.Scope, rot.Position(), f)
	if err != nil {
		return nil, err
	}
	p := &Plan{Rotation: rot.Metadata.Name, Scope: rot.Spec.Scope, Current: cur.Phase, CurrentStep: cur.Step,
		state: map[phases.Position]gen.Output{}, steps: map[phases.Phase][]phases.StepInfo{}}
	p.OldTrust = oldTrust(rot, items)
	for _, ph := range seq {
		st, _ := phases.Lookup(rot.Spec.Scope, ph)
		steps, _ := phases.Steps(rot.Spec.Scope, ph, f)
		p.steps[ph] = steps
		p.Phases = append(p.Phases, PhaseRow{Phase: ph, Current: ph == cur.Phase, Trusted: st.Trusted, Signer: st.Signer, Summary: st.Summary, Steps: steps})
	}
	prev, next, err := phases.NeighbourPositions(rot.Spec.Scope, cur, f)
	if err != nil {
		return nil, err
	}
	render := func(pos phases.Position) (gen.Output, error) {
		if out, ok := p.state[pos]; ok {
			return out, nil
		}
		r := *rot
		r.Spec.Phase, r.Spec.Step = pos.Phase, pos.Step
		copies := make([]*yaml.RNode, len(items))
		for i, n := range items {
			copies[i] = n.Copy()
		}
		out := gen.Render(gen.Input{Rotation: &r, Config: config, Items: copies, Now: now})
		if out.Failed() {
			return out, &renderError{phase: pos.Phase, problems: problems(out)}
		}
		p.state[pos] = out
		return out, nil
	}
	curOut, err := render(cur)
	if err != nil {
		return nil, err
	}
	for _, r := range curOut.Results {
		if r.Severity == framework.Info {
			p.Notes = append(p.Notes, r.Message)
		} else {
			p.Warnings = append(p.Warnings, r.Message)
		}
	}
	// What rolled into the current position: workloads whose hash differs
	// from either neighbour's (the rotation may have arrived from either side).
	neighbours := map[phases.Position]gen.Output{}
	for _, to := range []phases.Position{next, prev} {
		if to.Phase == "" {
			continue
		}
		out, err := render(to)
		if err != nil {
			// The neighbour's material may not exist yet (before `start`).
			p.Warnings = append(p.Warnings, fmt.Sprintf("%s cannot be planned yet: %v", p.label(to), err))
			continue
		}
		neighbours[to] = out
	}
	rolledInto := map[string]gen.Restart{}
	for _, out := range neighbours {
		for _, r := range rollingWorkloads(out, curOut) {
			rolledInto[r.Kind+"/"+r.Namespace+"/"+r.Name] = r
		}
	}
	var rolled []gen.Restart
	for _, r := range curOut.Restarts {
		if _, ok := rolledInto[r.Kind+"/"+r.Namespace+"/"+r.Name]; ok {
			rolled = append(rolled, r)
		}
	}
	if prev.Phase == "" {
		rolled = nil // the first position: nothing rolled into it
	}
	for _, to := range []phases.Position{next, prev} {
		out, ok := neighbours[to]
		if !ok || (to == prev && to.Phase != cur.Phase && !phases.RollsBack(rot.Spec.Scope)) {
			// An emergency has no rollback: what rolled in is still
			// counted above, but no step back is offered.
			continue
		}
		step, err := p.buildStep(rot, items, cur, to, curOut, out, rolled)
		if err != nil {
			return nil, err
		}
		if to == next {
			p.Next = step
		} else {
			p.Rollback = step
		}
	}
	// Every later phase, not only the next: a move forward is only worth
	// making when the rotation can also be finished (and each step after it
	// rolled back) from the material in the input.
	idx := slices.Index(seq, cur.Phase)
	for _, ph := range seq[idx+1:] {
		if _, err := render(phases.Position{Phase: ph, Step: p.steps[ph][0].Name}); err != nil {
			var re *renderError
			if !errors.As(err, &re) {
				return nil, err
			}
			p.Unready = append(p.Unready, Unready{Phase: ph, Problems: re.problems})
			if ph != next.Phase { // the next phase is warned about above
				p.Warnings = append(p.Warnings, fmt.Sprintf("%s cannot be planned yet: %v", ph, err))
			}
		}
	}
	return p, nil
}

// Rendered returns the render of a position the plan made (the current
// one and its neighbours).
func (p *Plan) Rendered(pos phases.Position) (gen.Output, bool) {
	out, ok := p.state[pos]
	return out, ok
}

// Label names a position for people: the phase alone when it is one
// step, else the phase and which of its steps.
func (p *Plan) Label(pos phases.Position) string { return p.label(pos) }

// label names a position for people: the phase alone when it is one step,
// else the phase and which of its steps.
func (p *Plan) label(pos phases.Position) string {
	steps := p.steps[pos.Phase]
	if len(steps) <= 1 {
		return string(pos.Phase)
	}
	for i, s := range steps {
		if s.Name == pos.Step {
			return fmt.Sprintf("%s, step %d of %d: %s", pos.Phase, i+1, len(steps), s.Name)
		}
	}
	return pos.String()
}

// stepInfo returns the description of a position's step.
func (p *Plan) stepInfo(pos phases.Position) phases.StepInfo {
	for _, s := range p.steps[pos.Phase] {
		if s.Name == pos.Step {
			return s
		}
	}
	return phases.StepInfo{}
}

// Unready is a later phase that cannot be rendered yet, and why.
type Unready struct {
	Phase    phases.Phase `json:"phase"`
	Problems []string     `json:"problems"`
}

type renderError struct {
	phase    phases.Phase
	problems []string
}

func (e *renderError) Error() string {
	return fmt.Sprintf("phase %s does not render: %s", e.phase, strings.Join(e.problems, "; "))
}

// problems are the error results of a render, with their field paths.
func problems(out gen.Output) []string {
	var ps []string
	for _, r := range out.Results {
		if r.Severity != "error" {
			continue
		}
		msg := r.Message
		if r.Field != nil && r.Field.Path != "" {
			msg = r.Field.Path + ": " + msg
		}
		ps = append(ps, msg)
	}
	return ps
}

// CheckForward refuses a move forward when any phase after the current one
// cannot be rendered, naming each such phase and what it lacks: advancing
// into trust-new with half of sign-new's leaves missing strands the
// rotation in the middle.
func (p *Plan) CheckForward() error {
	if len(p.Unready) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "not advancing from %s: later phases of %s lack material:", p.Current, p.Rotation)
	for _, u := range p.Unready {
		for _, pr := range u.Problems {
			fmt.Fprintf(&b, "\n  %s: %s", u.Phase, pr)
		}
	}
	b.WriteString("\nrun `carousel start` (or import the missing material) and list it in the kustomization, then advance")
	return errors.New(b.String())
}

func key(n *yaml.RNode) string {
	return n.GetKind() + "\x00" + n.GetNamespace() + "\x00" + n.GetName()
}

func (p *Plan) buildStep(rot *spec.CARotation, items []*yaml.RNode, from, to phases.Position, a, b gen.Output, rolledInto []gen.Restart) (*Step, error) {
	f := rot.Features()
	dir, _ := phases.CheckStep(rot.Spec.Scope, from, to, f)
	st, _ := phases.Lookup(rot.Spec.Scope, to.Phase)
	summary := st.Summary
	if len(p.steps[to.Phase]) > 1 {
		if from.Phase != to.Phase {
			summary += "; this step: " + p.stepInfo(to).Summary
		} else {
			summary = p.stepInfo(to).Summary
		}
	}
	s := &Step{From: from.Phase, To: to.Phase, FromStep: from.Step, ToStep: to.Step, Direction: dir.String(), Summary: summary, Label: p.label(to)}
	// The routes that trade handshakes for time say what breaks.
	s.Outage, _ = phases.Outages(rot.Spec.Scope, from.Phase, to.Phase)
	before := map[string]*yaml.RNode{}
	for _, n := range a.Items {
		before[key(n)] = n
	}
	after := map[string]bool{}
	for _, n := range b.Items {
		after[key(n)] = true
		old, ok := before[key(n)]
		switch {
		case !ok:
			s.Changes = append(s.Changes, Change{"create", n.GetKind(), n.GetNamespace(), n.GetName()})
		case old.MustString() != n.MustString():
			s.Changes = append(s.Changes, Change{"update", n.GetKind(), n.GetNamespace(), n.GetName()})
		}
	}
	for _, n := range a.Items {
		if !after[key(n)] {
			s.Changes = append(s.Changes, Change{"delete", n.GetKind(), n.GetNamespace(), n.GetName()})
		}
	}
	s.Waves = waves(rot.Spec.Kinds(), s.Changes, rollingWorkloads(a, b))
	// Whether node steps came with the move into `from` (they moved to the
	// in-cluster-config step when the phase has one).
	nodeSteps := false
	if pf, _, _ := phases.NeighbourPositions(rot.Spec.Scope, from, f); pf.Phase != "" {
		_, _, _, nodeSteps = phases.NodeMove(rot.Spec.Scope, pf, from, f)
	}
	s.Gate = gate(rot, p.label(from), dir, rolledInto, nodeSteps)
	if g := workloadCertificatesGate(rot, from.Phase, to.Phase, dir); g != "" {
		s.Gate = append(s.Gate, g)
	}
	if dir == phases.Forward {
		if b := p.stepInfo(to).Before; b != "" && len(p.steps[to.Phase]) > 1 {
			s.Gate = append(s.Gate, "Before this step: "+b+".")
		}
	}
	if na, nb, runBefore, ok := phases.NodeMove(rot.Spec.Scope, from, to, f); ok {
		rb, err := runbook.Steps(rot, items, na, nb)
		if err != nil {
			return nil, err
		}
		s.Runbook, s.RunbookBefore = rb, runBefore && len(rb) > 0
		if dir == phases.Back && !runBefore && from.Phase != to.Phase && len(p.steps[from.Phase]) > 1 && len(rb) > 0 && rot.Features().NodeTrust {
			s.Gate = append(s.Gate, fmt.Sprintf("The node steps below undo those of %s if they ran (they run before its in-cluster-config step); they are idempotent, so running them after the rollback of that step is harmless.", from.Phase))
		}
		if s.RunbookBefore {
			if dir == phases.Back {
				s.Gate = append(s.Gate, fmt.Sprintf("Before this step: the node steps below (%s -> %s) have run: this step rolls in-cluster-config pods back onto the set they publish.", na, nb))
			}
			if rot.Spec.Runbook == spec.RunbookKubernetes {
				nst, _ := phases.LookupAt(rot.Spec.Scope, to, f)
				s.Gate = append(s.Gate, fmt.Sprintf("kube-root-ca.crt holds the set of %s (%s) in every namespace:", p.label(to), gens(nst.Published)),
					"  kubectl get configmap kube-root-ca.crt -n kube-system -o jsonpath='{.data.ca\\.crt}' | openssl crl2pkcs7 -nocrl -certfile /dev/stdin | openssl pkcs7 -print_certs -noout")
			}
		}
	}
	return s, nil
}

// rollingWorkloads lists workloads whose restart hash differs between renders.
func rollingWorkloads(a, b gen.Output) []gen.Restart {
	was := map[string]string{}
	for _, r := range a.Restarts {
		was[r.Kind+"/"+r.Namespace+"/"+r.Name] = r.Hash
	}
	var out []gen.Restart
	for _, r := range b.Restarts {
		if was[r.Kind+"/"+r.Namespace+"/"+r.Name] != r.Hash {
			out = append(out, r)
		}
	}
	return out
}

// waves orders a move: the material and trust objects first (so a pod that
// rolls finds the phase's material already there), then the workloads by
// the wave their restart rules give them (spec.restarts[].wave: a mesh's
// control plane before its data plane, since proxies fetch their
// certificates from it), and within a wave the cluster's own add-ons in
// kube-system first (kube-proxy and CoreDNS carry every other pod's traffic
// and API access, so they go first and alone), then everything else. A
// plan whose workloads are all in one wave names its waves as before waves
// existed.
func waves(kinds targets.Registry, changes []Change, rolls []gen.Restart) []Wave {
	var material []string
	for _, c := range changes {
		if !kinds.IsWorkload(c.Kind) {
			material = append(material, c.Action+" "+c.String())
		}
	}
	var out []Wave
	if len(material) > 0 {
		out = append(out, Wave{"1. material and trust", "Secrets, bundles, cluster-info, caBundles and kubeconfigs land before any pod rolls, so every new pod finds the phase's material", material})
	}
	byWave := map[int][2][]string{} // wave -> kube-system, the rest
	for _, r := range rolls {
		name := fmt.Sprintf("%s %s/%s", r.Kind, r.Namespace, r.Name)
		g := byWave[r.Wave]
		if r.Namespace == "kube-system" {
			g[0] = append(g[0], name)
		} else {
			g[1] = append(g[1], name)
		}
		byWave[r.Wave] = g
	}
	numbers := slices.Sorted(maps.Keys(byWave))
	for _, n := range numbers {
		g := byWave[n]
		label, after := "", ""
		if len(numbers) > 1 {
			label = fmt.Sprintf(" (wave %d)", n)
			if n != numbers[0] {
				after = fmt.Sprintf("; restart rules put them in wave %d: start once every earlier wave has rolled out", n)
			} else {
				after = fmt.Sprintf("; restart rules put them in wave %d, the first: roll them before the later waves (a mesh's control plane before its proxies)", n)
			}
		}
		if len(g[0]) > 0 {
			out = append(out, Wave{fmt.Sprintf("%d. cluster add-ons%s", len(out)+1, label), "kube-system workloads (kube-proxy, CoreDNS) carry every other pod's traffic: roll them first and watch them" + after, g[0]})
		}
		if len(g[1]) > 0 {
			out = append(out, Wave{fmt.Sprintf("%d. workloads%s", len(out)+1, label), "every other workload whose material changed, rolling at its own pace (maxUnavailable, PodDisruptionBudgets)" + after, g[1]})
		}
	}
	return out
}

// gate is what must hold before a move may merge. Moving forward from k
// runs pods of k and k+1 side by side, which is safe only once every pod
// runs k: every workload that rolled into k is updated and available.
// Rolling back is safe at any point (the two phases are adjacent either way).
func gate(rot *spec.CARotation, from string, dir phases.Direction, rolledInto []gen.Restart, nodeSteps bool) []string {
	if dir == phases.Back {
		return []string{
			fmt.Sprintf("None needed: pods of %s and of the phase before it interoperate at any point of a rollout.", from),
			"Let this rollback's own rollout finish before moving forward again.",
		}
	}
	g := []string{fmt.Sprintf("Phase %s is applied: the GitOps tool reports the last commit synced and healthy.", from)}
	var checks []string
	for _, r := range rolledInto {
		if k, _ := rot.Spec.Kinds().Lookup(r.Kind); k.Workload != nil && k.Workload.Roll == targets.NextRun {
			continue // its next run starts pods of the new template: no rollout to wait for
		}
		checks = append(checks, fmt.Sprintf("kubectl -n %s rollout status %s/%s --timeout=10m", r.Namespace, strings.ToLower(r.Kind), r.Name))
	}
	if len(checks) > 0 {
		g = append(g, fmt.Sprintf("Every workload that rolled into %s is updated and available:", from))
		for _, c := range checks {
			g = append(g, "  "+c)
		}
	}
	if nodeSteps && (rot.Spec.Runbook == spec.RunbookKubernetes || rot.Spec.Runbook == spec.RunbookFrontProxy) {
		g = append(g, fmt.Sprintf("The node-level steps of %s are done on every node, and no component logs TLS errors.", from))
	}
	return g
}

// workloadCertificatesGate is the gate of a move forward that distrusts a
// generation, for a mesh whose control plane issues workload certificates
// from one of the rotation's leaves (spec.workloadCertificates): every
// proxy must hold one from the new signer first, which rollouts alone do
// not show. `carousel status` checks it (pkg/status, mesh.go).
func workloadCertificatesGate(rot *spec.CARotation, from, to phases.Phase, dir phases.Direction) string {
	wc := rot.Spec.WorkloadCertificates
	if wc == nil || dir != phases.Forward {
		return ""
	}
	if !phases.Distrusts(rot.Spec.Scope, from, to) {
		return ""
	}
	issuer := "leaf " + wc.Issuer
	if wc.Issuer == spec.IssuerCA {
		issuer = "the CA (spec.ca.secret)"
	}
	return fmt.Sprintf("Every workload's pods started after the holders of %s rolled onto the new signer in %s, or %s (spec.workloadCertificates.lifetime) passed since: until then a proxy may present a workload certificate of the old signer, which %s makes every peer reject. `carousel status` checks it and names the pods to restart.", issuer, from, wc.Lifetime, to)
}
