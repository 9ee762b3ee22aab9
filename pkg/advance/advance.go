package advance

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/atomicfile"
	"github.com/carousel-dev/carousel/pkg/fleet"
	"github.com/carousel-dev/carousel/pkg/fninput"
	"github.com/carousel-dev/carousel/pkg/gate"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/plan"
	"github.com/carousel-dev/carousel/pkg/rotate"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// Request is one `carousel advance`.
type Request struct {
	// File is the CARotation file; the caller holds the package lock.
	File string
	// To is where to move: "" the next step, else a phase (its first step,
	// or its last when rolling back into it) or "phase/step".
	To string
	// PRBody, if set, is the file the pull-request body is written to.
	PRBody string
	// Cluster is where the live gate looks, and Skip what it may skip.
	Cluster gate.Cluster
	Skip    gate.Overrides
	Now     time.Time
	// Log receives the live report of a refusing gate and other notes.
	Log io.Writer
}

// Result is a move made.
type Result struct {
	From, To  phases.Position
	Direction phases.Direction
	Title     string
	Body      string
	// Published is the state file written, "" when the rotation does not publish.
	Published string
}

// Load reads a package and plans its current phase, from what kustomize
// hands the function (not every file in the folder).
func Load(file string, now time.Time) (*rotate.Package, []*yaml.RNode, *plan.Plan, error) {
	p, err := rotate.Load(file)
	if err != nil {
		return nil, nil, nil, err
	}
	items, err := fninput.Build(file)
	if err != nil {
		return nil, nil, nil, err
	}
	pl, err := plan.Build(p.Rotation, p.Node, items, now)
	if err != nil {
		return nil, nil, nil, err
	}
	return p, items, pl, nil
}

// Run checks the move, then writes it: the pull-request body (if asked
// for), the published state (if the rotation publishes), and last the
// spec. Nothing is written when any check fails.
func Run(ctx context.Context, r Request) (*Result, error) {
	p, items, pl, err := Load(r.File, r.Now)
	if err != nil {
		return nil, err
	}
	target, err := Target(p.Rotation, r.To, pl)
	if err != nil {
		return nil, err
	}
	feat := p.Rotation.Features()
	from := phases.Position{Phase: pl.Current, Step: pl.CurrentStep}
	dir, err := phases.CheckStep(p.Rotation.Spec.Scope, from, target, feat)
	if err != nil {
		return nil, err
	}
	var step *plan.Step
	switch dir {
	case phases.Forward:
		step = pl.Next
		if err := pl.CheckForward(); err != nil {
			return nil, err
		}
	case phases.Back:
		step = pl.Rollback
	default:
		return nil, fmt.Errorf("the rotation is already at %s", target)
	}
	// A cluster of a shared root moves only within the fleet window, either
	// way; its own cluster is the context the root names for it, unless
	// the command names one. Asked before the render, whose failure for a
	// cluster behind the root would say less.
	f, err := rotate.LoadFleet(p)
	if err != nil {
		return nil, err
	}
	if f != nil && f.Self != nil && r.Cluster.Context == "" {
		r.Cluster.Context = f.Self.Context
	}
	unchecked, err := window(ctx, r, f, p.Rotation.Spec.Scope, from.Phase, target.Phase)
	if err != nil {
		return nil, err
	}
	if step == nil {
		return nil, fmt.Errorf("%s cannot be rendered (missing material?): see `carousel plan %s`", target, r.File)
	}
	isRoot := f != nil && f.Self == nil
	if isRoot && dir == phases.Forward && from.Phase != target.Phase {
		// The shared root is applied to no cluster: its gate is its
		// clusters having reached the phase it records.
		more, err := rootWindow(ctx, r, f, target.Phase)
		if err != nil {
			return nil, err
		}
		unchecked = append(unchecked, more...)
	}
	if dir == phases.Forward && !isRoot {
		// A rollback is always safe within the cluster and never gated:
		// it returns to the phase whose pods are still running beside
		// this one's.
		more, err := gates(ctx, r, &gate.Phase{Package: p, Items: items, Now: r.Now}, pl, step, target)
		if err != nil {
			return nil, err
		}
		unchecked = append(unchecked, more...)
	}
	res := &Result{From: from, To: target, Direction: dir}
	res.Title, res.Body = pl.PullRequest(step, unchecked)

	// Everything is checked: compute what is written, then write it, the
	// spec last (it is what makes the move).
	var state []byte
	if p.Rotation.Spec.Publish != "" {
		out, ok := pl.Rendered(target)
		if !ok {
			return nil, fmt.Errorf("%s does not render: its state cannot be published", target)
		}
		moved := *p.Rotation
		moved.Spec.Phase, moved.Spec.Step = target.Phase, target.Step
		if state, err = fleet.Document(&moved, out); err != nil {
			return nil, err
		}
		res.Published = fleet.Path(p)
	}
	if r.PRBody != "" {
		if err := atomicfile.WriteFile(r.PRBody, []byte(res.Body), 0o644); err != nil {
			return nil, fmt.Errorf("writing the pull-request body (spec.phase is unchanged): %w", err)
		}
	}
	if state != nil {
		if _, err := fleet.WriteState(res.Published, state); err != nil {
			return nil, fmt.Errorf("publishing the state of %s (spec.phase is unchanged): %w", target, err)
		}
	}
	steps, _ := phases.Steps(p.Rotation.Spec.Scope, target.Phase, feat)
	if err := p.SetPosition(target, len(steps) > 1, r.Now); err != nil {
		return nil, err
	}
	return res, nil
}

// Target is where a move goes: the next position, or --to as "phase" (its
// first step, or its last when rolling back into it) or "phase/step".
func Target(rot *spec.CARotation, to string, pl *plan.Plan) (phases.Position, error) {
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
	return phases.Resolve(rot.Spec.Scope, pos, rot.Features())
}
