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
	"github.com/carousel-dev/carousel/pkg/spec"
	"github.com/carousel-dev/carousel/pkg/targets"
)

// Plan is the phase table and the two moves a reviewer may make next.
type Plan struct {
	Rotation string       `json:"rotation"`
	Scope    phases.Scope `json:"scope"`
	Current  phases.Phase `json:"current"`
	Phases   []PhaseRow   `json:"phases"`
	Next     *Step        `json:"next,omitempty"`
	Rollback *Step        `json:"rollback,omitempty"`
	Warnings []string     `json:"warnings,omitempty"`
	// Notes are the render's info results (an object taken over, a
	// KeyPair passed through for another rotation): worth reading, not
	// warnings.
	Notes []string `json:"notes,omitempty"`
	// Unready lists the phases after the current one that cannot be rendered
	// from the material in the input, with what each lacks.
	Unready []Unready `json:"unready,omitempty"`
	state   map[phases.Phase]gen.Output
}

// PhaseRow is one row of the phase table.
type PhaseRow struct {
	Phase   phases.Phase        `json:"phase"`
	Current bool                `json:"current"`
	Trusted []phases.Generation `json:"trusted"`
	Signer  phases.Generation   `json:"signer"`
	Summary string              `json:"summary"`
}

// Step is one move and everything a reviewer needs to merge it.
type Step struct {
	From      phases.Phase `json:"from"`
	To        phases.Phase `json:"to"`
	Direction string       `json:"direction"`
	Summary   string       `json:"summary"`
	Changes   []Change     `json:"changes"`
	Waves     []Wave       `json:"waves"`
	// Gate must hold before this step is merged.
	Gate    []string      `json:"gate"`
	Runbook []RunbookStep `json:"runbook,omitempty"`
}

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

// Build renders the current phase and its neighbours and compares them.
func Build(rot *spec.CARotation, config *yaml.RNode, items []*yaml.RNode, now time.Time) (*Plan, error) {
	seq, err := phases.Sequence(rot.Spec.Scope)
	if err != nil {
		return nil, err
	}
	p := &Plan{Rotation: rot.Metadata.Name, Scope: rot.Spec.Scope, Current: rot.Spec.Phase, state: map[phases.Phase]gen.Output{}}
	for _, ph := range seq {
		st, _ := phases.Lookup(rot.Spec.Scope, ph)
		p.Phases = append(p.Phases, PhaseRow{Phase: ph, Current: ph == rot.Spec.Phase, Trusted: st.Trusted, Signer: st.Signer, Summary: st.Summary})
	}
	prev, next, err := phases.Neighbours(rot.Spec.Scope, rot.Spec.Phase)
	if err != nil {
		return nil, err
	}
	render := func(ph phases.Phase) (gen.Output, error) {
		if out, ok := p.state[ph]; ok {
			return out, nil
		}
		r := *rot
		r.Spec.Phase = ph
		copies := make([]*yaml.RNode, len(items))
		for i, n := range items {
			copies[i] = n.Copy()
		}
		out := gen.Render(gen.Input{Rotation: &r, Config: config, Items: copies, Now: now})
		if out.Failed() {
			return out, &renderError{phase: ph, problems: problems(out)}
		}
		p.state[ph] = out
		return out, nil
	}
	cur, err := render(rot.Spec.Phase)
	if err != nil {
		return nil, err
	}
	for _, r := range cur.Results {
		if r.Severity == framework.Info {
			p.Notes = append(p.Notes, r.Message)
		} else {
			p.Warnings = append(p.Warnings, r.Message)
		}
	}
	// What rolled into the current phase: workloads whose hash differs from
	// either neighbour's (the rotation may have arrived from either side).
	neighbours := map[phases.Phase]gen.Output{}
	for _, to := range []phases.Phase{next, prev} {
		if to == "" {
			continue
		}
		out, err := render(to)
		if err != nil {
			// The neighbour's material may not exist yet (before `start`).
			p.Warnings = append(p.Warnings, fmt.Sprintf("%s cannot be planned yet: %v", to, err))
			continue
		}
		neighbours[to] = out
	}
	rolledInto := map[string]gen.Restart{}
	for _, out := range neighbours {
		for _, r := range rollingWorkloads(out, cur) {
			rolledInto[r.Kind+"/"+r.Namespace+"/"+r.Name] = r
		}
	}
	var rolled []gen.Restart
	for _, r := range cur.Restarts {
		if _, ok := rolledInto[r.Kind+"/"+r.Namespace+"/"+r.Name]; ok {
			rolled = append(rolled, r)
		}
	}
	if prev == "" {
		rolled = nil // the first phase: nothing rolled into it
	}
	for _, to := range []phases.Phase{next, prev} {
		out, ok := neighbours[to]
		if !ok {
			continue
		}
		step, err := buildStep(rot, items, rot.Spec.Phase, to, cur, out, rolled)
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
	idx := slices.Index(seq, rot.Spec.Phase)
	for _, ph := range seq[idx+1:] {
		if _, err := render(ph); err != nil {
			var re *renderError
			if !errors.As(err, &re) {
				return nil, err
			}
			p.Unready = append(p.Unready, Unready{Phase: ph, Problems: re.problems})
			if ph != next { // the next phase is warned about above
				p.Warnings = append(p.Warnings, fmt.Sprintf("%s cannot be planned yet: %v", ph, err))
			}
		}
	}
	return p, nil
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

func buildStep(rot *spec.CARotation, items []*yaml.RNode, from, to phases.Phase, a, b gen.Output, rolledInto []gen.Restart) (*Step, error) {
	dir, _ := phases.Check(phases.Move{Scope: rot.Spec.Scope, From: from, To: to})
	st, _ := phases.Lookup(rot.Spec.Scope, to)
	s := &Step{From: from, To: to, Direction: dir.String(), Summary: st.Summary}
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
	s.Waves = waves(s.Changes, rollingWorkloads(a, b))
	s.Gate = gate(rot, from, dir, rolledInto)
	rb, err := Runbook(rot, items, from, to)
	if err != nil {
		return nil, err
	}
	s.Runbook = rb
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
func waves(changes []Change, rolls []gen.Restart) []Wave {
	var material []string
	for _, c := range changes {
		if !targets.IsWorkload(c.Kind) {
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
func gate(rot *spec.CARotation, from phases.Phase, dir phases.Direction, rolledInto []gen.Restart) []string {
	if dir == phases.Back {
		return []string{
			fmt.Sprintf("None needed: pods of %s and of the phase before it interoperate at any point of a rollout.", from),
			"Let this rollback's own rollout finish before moving forward again.",
		}
	}
	g := []string{fmt.Sprintf("Phase %s is applied: the GitOps tool reports the last commit synced and healthy.", from)}
	var checks []string
	for _, r := range rolledInto {
		if k, _ := targets.Lookup(r.Kind); k.Workload != nil && k.Workload.Roll == targets.NextRun {
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
	if rot.Spec.Runbook == RunbookKubernetes || rot.Spec.Runbook == RunbookFrontProxy {
		g = append(g, fmt.Sprintf("The node-level steps of %s are done on every node, and no component logs TLS errors.", from))
	}
	return g
}
