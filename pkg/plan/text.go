package plan

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/carousel-dev/carousel/pkg/phases"
)

func gens(g []phases.Generation) string {
	s := make([]string, len(g))
	for i, x := range g {
		s[i] = string(x)
	}
	return strings.Join(s, " + ")
}

// Text writes the plan for people.
func (p *Plan) Text(w io.Writer) {
	fmt.Fprintf(w, "Rotation %s (scope %s), current phase: %s\n\n", p.Rotation, p.Scope, p.label(phases.Position{Phase: p.Current, Step: p.CurrentStep}))
	fmt.Fprintf(w, "   %-13s %-10s %-6s %s\n", "PHASE", "TRUSTED", "SIGNS", "")
	for _, r := range p.Phases {
		mark := "  "
		if r.Current {
			mark = "->"
		}
		fmt.Fprintf(w, "%s %-13s %-10s %-6s %s\n", mark, r.Phase, gens(r.Trusted), r.Signer, r.Summary)
		if len(r.Steps) > 1 {
			for i, st := range r.Steps {
				smark := " "
				if r.Current && st.Name == p.CurrentStep {
					smark = ">"
				}
				fmt.Fprintf(w, "     %s step %d: %s: %s\n", smark, i+1, st.Name, st.Summary)
				if st.Before != "" {
					fmt.Fprintf(w, "         before it: %s\n", st.Before)
				}
			}
		}
	}
	if p.OldTrust != nil {
		fmt.Fprintf(w, "\n%s\n", p.OldTrust.Text())
	}
	for _, warn := range p.Warnings {
		fmt.Fprintf(w, "\nwarning: %s\n", warn)
	}
	for _, note := range p.Notes {
		fmt.Fprintf(w, "\nnote: %s\n", note)
	}
	for _, s := range []*Step{p.Next, p.Rollback} {
		if s == nil {
			continue
		}
		title := "Next"
		if s.Direction == phases.Back.String() {
			title = "Rollback"
		}
		fmt.Fprintf(w, "\n== %s: %s -> %s\n%s\n", title, p.label(phases.Position{Phase: s.From, Step: s.FromStep}), s.Label, s.Summary)
		s.text(w, p.Scope)
	}
	if !phases.RollsBack(p.Scope) && len(p.Phases) > 0 && p.Current != p.Phases[0].Phase {
		fmt.Fprintf(w, "\n== Rollback: none: the %s route has no rollback, which would trust %s; fix forward.\n", p.Scope, untrustable(p.Scope, "spec.compromised"))
	}
	switch {
	case p.Next == nil && len(p.Unready) > 0:
		// The next phase exists but does not render yet (the warnings above
		// say what it lacks): not the end of the rotation.
		fmt.Fprintf(w, "\n%s cannot be planned yet: see the warnings above.\n", p.Unready[0].Phase)
	case p.Next == nil:
		fmt.Fprintf(w, "\n%s is the last phase: `carousel start` begins the next rotation.\n", p.Current)
	}
}

func (s *Step) text(w io.Writer, scope phases.Scope) {
	fmt.Fprintf(w, "\nObjects that change (%d):\n", len(s.Changes))
	if len(s.Changes) == 0 {
		fmt.Fprintln(w, "  none")
	}
	for _, c := range s.Changes {
		fmt.Fprintf(w, "  %-7s %s\n", c.Action, c)
	}
	fmt.Fprintln(w, "\nWaves:")
	if len(s.Waves) == 0 {
		fmt.Fprintln(w, "  nothing rolls")
	}
	for _, wv := range s.Waves {
		fmt.Fprintf(w, "  %s (%s)\n", wv.Name, wv.Why)
		for _, o := range wv.Objects {
			fmt.Fprintf(w, "    - %s\n", o)
		}
	}
	if len(s.Outage) > 0 {
		fmt.Fprintln(w, "\nOutage while it rolls out (pods of both phases run side by side):")
		s.outageMatrix(w, "  ")
		fmt.Fprintln(w, "  It lasts from the first pod of the new phase to the last pod of the old one: every wave below, until `carousel status` says converged.")
	}
	fmt.Fprintln(w, "\nGate, before merging:")
	for _, g := range s.Gate {
		fmt.Fprintf(w, "  %s\n", g)
	}
	if len(s.Runbook) > 0 {
		if s.RunbookBefore {
			fmt.Fprintf(w, "\nRunbook (node-level steps, BEFORE this commit is merged: %s):\n", runbookBeforeWhy(scope, "its rolls read what they publish"))
		} else {
			fmt.Fprintln(w, "\nRunbook (node-level steps, after the objects are applied):")
		}
		for i, r := range s.Runbook {
			fmt.Fprintf(w, "  %d. %s\n     why: %s\n", i+1, r.Title, r.Why)
			// A heredoc's lines are printed as they are: indenting them
			// would change what a pasted command writes.
			for _, c := range r.Commands {
				fmt.Fprintf(w, "     $ %s\n", c)
			}
			for _, c := range r.Verify {
				fmt.Fprintf(w, "     check: $ %s\n", c)
			}
		}
	}
}

// Mermaid draws the phases as a gitGraph: each step of each phase is one
// commit on the rotation's branch, the one being merged highlighted. GitHub
// renders it in a pull request.
func (p *Plan) Mermaid(highlight phases.Position) string {
	var b strings.Builder
	b.WriteString("gitGraph\n")
	for _, r := range p.Phases {
		for _, st := range r.Steps {
			id := string(r.Phase)
			if len(r.Steps) > 1 {
				id += "/" + string(st.Name)
			}
			fmt.Fprintf(&b, "  commit id: \"%s\"", id)
			if r.Phase == highlight.Phase && st.Name == highlight.Step {
				b.WriteString(" type: HIGHLIGHT tag: \"this PR\"")
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

// PullRequest returns a title and Markdown body for merging step s.
// unchecked lists the gates an explicit override let through: the body
// says so first, so no reviewer mistakes an unchecked gate for a passed one.
// The plan's warnings follow, where the reviewer reads.
func (p *Plan) PullRequest(s *Step, unchecked []string) (title, body string) {
	verb := "advance"
	if s.Direction == phases.Back.String() {
		verb = "roll back"
	}
	title = fmt.Sprintf("carousel: %s %s to %s", verb, p.Rotation, s.Label)
	var b strings.Builder
	from := phases.Position{Phase: s.From, Step: s.FromStep}
	fmt.Fprintf(&b, "Moves rotation `%s` from **%s** to **%s** (%s): %s.\n\n", p.Rotation, p.label(from), s.Label, s.Direction, s.Summary)
	if steps := p.steps[s.To]; len(steps) > 1 {
		fmt.Fprintf(&b, "Phase %s is %d commits, one pull request each, in this order (reverse order on rollback):\n\n", s.To, len(steps))
		for i, st := range steps {
			mark := ""
			if st.Name == s.ToStep {
				mark = " (this PR)"
			}
			fmt.Fprintf(&b, "%d. `%s`%s: %s.", i+1, st.Name, mark, st.Summary)
			if st.Before != "" {
				fmt.Fprintf(&b, " Before it: %s.", st.Before)
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	if len(unchecked) > 0 {
		b.WriteString("> [!WARNING]\n> **Not checked before this pull request was written:**\n")
		for _, u := range unchecked {
			fmt.Fprintf(&b, "> - %s\n", u)
		}
		b.WriteString("\n")
	}
	if len(p.Warnings) > 0 {
		b.WriteString("### Warnings\n\n")
		for _, w := range p.Warnings {
			fmt.Fprintf(&b, "- %s\n", w)
		}
		b.WriteString("\n")
	}
	if p.OldTrust != nil {
		fmt.Fprintf(&b, "### Clients on the old trust\n\n%s\n\n", p.OldTrust.Text())
	}
	fmt.Fprintf(&b, "```mermaid\n%s```\n\n", p.Mermaid(s.ToPosition()))
	b.WriteString("### Gate: confirm before merging\n\n")
	for _, g := range s.Gate {
		if strings.HasPrefix(g, "  ") {
			fmt.Fprintf(&b, "  - `%s`\n", strings.TrimSpace(g))
			continue
		}
		fmt.Fprintf(&b, "- [ ] %s\n", g)
	}
	fmt.Fprintf(&b, "\n### What changes (%d objects)\n\n", len(s.Changes))
	for _, wv := range s.Waves {
		fmt.Fprintf(&b, "**%s**: %s\n\n", wv.Name, wv.Why)
		for _, o := range wv.Objects {
			fmt.Fprintf(&b, "- %s\n", o)
		}
		b.WriteString("\n")
	}
	if len(s.Waves) == 0 {
		b.WriteString("Nothing rolls.\n\n")
	}
	if len(s.Runbook) > 0 {
		if s.RunbookBefore {
			fmt.Fprintf(&b, "### Runbook: node-level steps BEFORE merging (%s)\n\n", runbookBeforeWhy(p.Scope, "this commit's rolls read what they publish"))
		} else {
			b.WriteString("### Runbook: node-level steps after the objects are applied\n\n")
		}
		for i, r := range s.Runbook {
			fmt.Fprintf(&b, "%d. **%s**: %s\n\n", i+1, r.Title, r.Why)
			if len(r.Commands) > 0 {
				codeBlock(&b, r.Commands)
			}
			if len(r.Verify) > 0 {
				b.WriteString("   Then check:\n\n")
				codeBlock(&b, r.Verify)
			}
		}
	}
	if len(s.Outage) > 0 {
		b.WriteString("### Outage: what breaks, and for how long\n\n")
		b.WriteString(outageLead(p.Scope) + " While it rolls out, pods of both phases run side by side and refuse each other:\n\n```\n")
		s.outageMatrix(&b, "")
		b.WriteString("```\n\nFrom the first pod of the new phase to the last pod of the old one: every wave above, until `carousel status` says converged. Roll with as few old pods left as the workloads allow (maxSurge, maxUnavailable).\n\n")
	}
	b.WriteString("### Rollback\n\n")
	if !phases.RollsBack(p.Scope) && s.Direction != phases.Back.String() {
		fmt.Fprintf(&b, "None: the %s route has no rollback, which would trust %s. Fix forward.\n", p.Scope, untrustable(p.Scope, "`spec.compromised`"))
		return title, b.String()
	}
	if s.Direction == phases.Back.String() {
		fmt.Fprintf(&b, "This PR is the rollback. To go forward again, revert it (`carousel advance --to %s`).\n", p.arg(from))
	} else {
		fmt.Fprintf(&b, "Revert this PR (or `carousel advance --to %s`): one step back is as safe as this step, and rolls the same workloads.\n", p.arg(from))
	}
	return title, b.String()
}

// arg is how `advance --to` names a position: the phase, with /step when
// the phase has several.
func (p *Plan) arg(pos phases.Position) string {
	if len(p.steps[pos.Phase]) > 1 {
		return pos.String()
	}
	return string(pos.Phase)
}

// codeBlock writes commands as a fenced block inside a list item. Every line
// (a heredoc's too) is indented like the fence, which Markdown strips, so
// what a reviewer copies is exactly the command.
func codeBlock(b *strings.Builder, cmds []string) {
	b.WriteString("   ```sh\n")
	for _, c := range cmds {
		for _, line := range strings.Split(c, "\n") {
			fmt.Fprintf(b, "   %s\n", line)
		}
	}
	b.WriteString("   ```\n\n")
}

// outageMatrix prints, for a step with an outage, which client phase
// accepts which server phase: clients down, servers across.
func (s *Step) outageMatrix(w io.Writer, indent string) {
	ps := []phases.Phase{s.From, s.To}
	fmt.Fprintf(w, "%s%-16s", indent, "client \\ server")
	for _, srv := range ps {
		fmt.Fprintf(w, " %-14s", srv)
	}
	fmt.Fprintln(w)
	for _, cl := range ps {
		fmt.Fprintf(w, "%s%-16s", indent, cl)
		for _, srv := range ps {
			v := "ok"
			if slices.Contains(s.Outage, phases.Outage{Client: cl, Server: srv}) {
				v = "FAILS"
			}
			fmt.Fprintf(w, " %-14s", v)
		}
		fmt.Fprintln(w)
	}
}

// untrustable says what a route without rollback would trust again by
// moving back: the compromised CA (marked in the field named), or the
// expired (or keyless) one a recovery replaces.
func untrustable(scope phases.Scope, mark string) string {
	if scope == phases.ScopeRecover {
		return phases.Unsafe(scope) + " again, which nothing it signed gets past"
	}
	return phases.Unsafe(scope) + " again (" + mark + ")"
}

// outageLead says why a disruptive route's outage is the price.
func outageLead(scope phases.Scope) string {
	if scope == phases.ScopeRecover {
		return "The expired (or keyless) CA already fails every handshake through it, so there are none to keep: this route brings them back in one phase."
	}
	return "This route trades handshakes for time."
}

// runbookBeforeWhy says why a move's node steps run before its commit:
// for a recovery, that nothing can be applied before; else why, as given.
func runbookBeforeWhy(scope phases.Scope, why string) string {
	if scope == phases.ScopeRecover {
		return "the API server accepts no one until they have run, so nothing can apply this commit before"
	}
	return why
}
