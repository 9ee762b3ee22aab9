package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/carousel-dev/carousel/pkg/atomicfile"
	"github.com/carousel-dev/carousel/pkg/fleet"
	"github.com/carousel-dev/carousel/pkg/fninput"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/plan"
	"github.com/carousel-dev/carousel/pkg/rotate"
	"github.com/carousel-dev/carousel/pkg/spec"
	"github.com/carousel-dev/carousel/pkg/status"
)

// loadPlan reads a package and plans its current phase.
func loadPlan(file string) (*rotate.Package, *plan.Plan, error) {
	p, err := rotate.Load(file)
	if err != nil {
		return nil, nil, err
	}
	// What kustomize hands the function, not every file in the folder.
	items, err := fninput.Build(file)
	if err != nil {
		return nil, nil, err
	}
	now, err := clock()
	if err != nil {
		return nil, nil, err
	}
	pl, err := plan.Build(p.Rotation, p.Node, items, now)
	if err != nil {
		return nil, nil, err
	}
	return p, pl, nil
}

// targetPosition is where advance moves: the next position, or --to as
// "phase" (its first step, or its last when rolling back into it) or
// "phase/step".
func targetPosition(rot *spec.CARotation, to string, pl *plan.Plan) (phases.Position, error) {
	if to == "" {
		if pl.Next == nil {
			// The next phase may exist but not render yet (its material,
			// or with backend cert-manager the new CA's certificate, is
			// missing): say what it lacks.
			if err := pl.CheckForward(); err != nil {
				return phases.Position{}, err
			}
			return phases.Position{}, fmt.Errorf("%s is the last phase: run `carousel start` to begin the next rotation", pl.Current)
		}
		return pl.Next.ToPosition(), nil
	}
	f := rot.Features()
	ph, st, hasStep := strings.Cut(to, "/")
	pos := phases.Position{Phase: phases.Phase(ph), Step: phases.Step(st)}
	if !hasStep {
		if pos.Phase == pl.Current {
			// Already in the phase: --to names it, not a step of it.
			return phases.Position{Phase: pl.Current, Step: pl.CurrentStep}, nil
		}
		if pl.Rollback != nil && pl.Rollback.To == pos.Phase {
			return pl.Rollback.ToPosition(), nil // the previous phase's last step
		}
		if pl.Next != nil && pl.Next.To == pos.Phase {
			return pl.Next.ToPosition(), nil // the next phase's first step
		}
	}
	return phases.Resolve(rot.Spec.Scope, pos, f)
}

func planCmd() *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "plan CAROTATION_FILE",
		Short: "Show the phase table, and what the next phase (and a rollback) changes, rolls, gates and needs on nodes",
		Long: `plan renders the current phase and both neighbours in-process (from what
kustomize builds for the package, as the function would receive it) and
compares them: the objects that change,
the workloads that roll and in which waves, the gate to confirm before merging,
and, with spec.runbook: kubernetes or kubernetes-front-proxy, the node-level
steps in order, with exact commands.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			_, pl, err := loadPlan(args[0])
			if err != nil {
				return err
			}
			switch output {
			case "text":
				pl.Text(c.OutOrStdout())
				return nil
			case "json":
				enc := json.NewEncoder(c.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(pl)
			}
			return fmt.Errorf("--output must be text or json, not %q", output)
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return c
}

func advanceCmd() *cobra.Command {
	var to, prBody string
	var force bool
	var f clusterFlags
	c := &cobra.Command{
		Use:   "advance CAROTATION_FILE",
		Short: "Move spec.phase one step (forward by default, or --to the previous phase to roll back), keeping comments, and write the pull request",
		Long: `advance edits spec.phase in place (comments and formatting kept), refuses any
move but one step forward or back, and prints a pull-request title (first line)
and Markdown body: the plan's summary, a Mermaid diagram of the phases, the gate
as a checklist, the runbook and the rollback. With --pr-body FILE the body goes
to FILE and only the title is printed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			unlock, err := lockPackage(args[0])
			if err != nil {
				return err
			}
			defer unlock()
			p, pl, err := loadPlan(args[0])
			if err != nil {
				return err
			}
			target, err := targetPosition(p.Rotation, to, pl)
			if err != nil {
				return err
			}
			feat := p.Rotation.Features()
			from := phases.Position{Phase: pl.Current, Step: pl.CurrentStep}
			dir, err := phases.CheckStep(p.Rotation.Spec.Scope, from, target, feat)
			if err != nil {
				return err
			}
			var step *plan.Step
			switch dir {
			case phases.Forward:
				step = pl.Next
			case phases.Back:
				step = pl.Rollback
			default:
				return fmt.Errorf("the rotation is already at %s", target)
			}
			if dir == phases.Forward {
				if err := pl.CheckForward(); err != nil {
					return err
				}
			}
			if step == nil {
				return fmt.Errorf("%s cannot be rendered (missing material?): see `carousel plan %s`", target, args[0])
			}
			// The live gate: moving forward while the current phase has not
			// converged runs pods of three phases at once. A rollback is
			// always safe and never gated.
			if dir == phases.Forward && !force {
				if !f.configured() {
					fmt.Fprintln(c.ErrOrStderr(), "carousel: no cluster configured: the live gate (carousel status) was not checked")
				} else if r, err := liveStatus(c.Context(), args[0], &f); err != nil {
					fmt.Fprintf(c.ErrOrStderr(), "carousel: the cluster could not be checked (%v): the live gate was not checked\n", err)
				} else if r.Verdict != status.Converged {
					_ = printStatus(c.ErrOrStderr(), r, "text")
					return fmt.Errorf("%s has not converged (%s): wait (carousel status --wait), fix what blocks it, or pass --force", pl.Current, r.Verdict)
				}
				// Consumer packages in other applications: each must have
				// rendered the current phase before the owner moves on, so no
				// two applications run phases more than one apart.
				if f.configured() && (p.Rotation.Spec.Publish != "" || len(p.Rotation.Spec.Consumers) > 0) {
					lag, err := consumersLagging(c.Context(), p.Rotation, &f)
					if err != nil {
						return fmt.Errorf("the consumers could not be checked (%v): pass --force to advance without them", err)
					}
					if len(lag) > 0 {
						var apps []string
						for _, l := range lag {
							fmt.Fprintf(c.ErrOrStderr(), "  - %s\n", l.Reason)
							apps = append(apps, l.App)
						}
						return fmt.Errorf("consumers of %s are not at %s: %s; wait for them to sync, or pass --force", p.Rotation.Metadata.Name, pl.Current, strings.Join(apps, ", "))
					}
				}
			}
			steps, _ := phases.Steps(p.Rotation.Spec.Scope, target.Phase, feat)
			// Before an in-cluster-config step its pods restart reading
			// kube-root-ca.crt: the node steps must have published the
			// step's set there (docs/phases.md, "Steps within a phase").
			if dir == phases.Forward && step.RunbookBefore && !force && feat.NodeTrust && f.configured() {
				out, _ := pl.Rendered(target)
				client, err := f.client()
				if err != nil {
					return err
				}
				if err := status.CheckPublished(c.Context(), client, "kube-system", out.NodePublished); err != nil {
					return fmt.Errorf("not advancing to %s: %w; or pass --force", step.Label, err)
				}
			}
			if err := p.SetPosition(target, len(steps) > 1); err != nil {
				return err
			}
			if p.Rotation.Spec.Publish != "" {
				now, err := clock()
				if err != nil {
					return err
				}
				path, _, err := fleet.Publish(args[0], "", now)
				if err != nil {
					return fmt.Errorf("spec.phase is %s but the state was not published (%v): run `carousel publish %s`", target, err, args[0])
				}
				fmt.Fprintf(c.ErrOrStderr(), "carousel: published %s\n", path)
			}
			title, body := pl.PullRequest(step)
			if prBody != "" {
				if err := atomicfile.WriteFile(prBody, []byte(body), 0o644); err != nil {
					return err
				}
				fmt.Fprintln(c.OutOrStdout(), title)
				return nil
			}
			fmt.Fprintf(c.OutOrStdout(), "%s\n\n%s", title, body)
			return nil
		},
	}
	c.Flags().StringVar(&to, "to", "", "the phase (or phase/step) to move to (default: the next step)")
	c.Flags().StringVar(&prBody, "pr-body", "", "write the pull-request body to this file")
	c.Flags().BoolVar(&force, "force", false, "advance even though the live gate says the current phase has not converged")
	f.add(c)
	return c
}
