package advance

import (
	"context"
	"fmt"

	"github.com/carousel-dev/carousel/pkg/gate"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/plan"
	"github.com/carousel-dev/carousel/pkg/status"
)

// gates runs what must hold before a move forward, and returns what was
// not checked (by an explicit override) for the pull request to say. Each
// gate that cannot look refuses: no cluster configured, a kubeconfig that
// does not load, an API server that does not answer.
//
//   - live: the current phase converged (carousel status), consumer
//     packages of other applications included; moving on before runs pods
//     of three phases at once.
//   - node-published: before a step whose pods restart reading in-cluster
//     config, the node steps put the step's set on kube-root-ca.crt.
func gates(ctx context.Context, r Request, ph *gate.Phase, pl *plan.Plan, step *plan.Step, target phases.Position) ([]string, error) {
	current := phases.Position{Phase: pl.Current, Step: pl.CurrentStep}
	if r.Skip.NoCluster {
		return []string{fmt.Sprintf("The live gate was not checked: this pull request was written with `carousel advance --no-cluster`. Before merging, `carousel status` must say %s converged.", pl.Label(current))}, nil
	}
	if !r.Cluster.Configured() {
		return nil, fmt.Errorf("no cluster configured (--kubeconfig, $KUBECONFIG, ~/.kube/config, in-cluster): the live gate cannot check that %s converged; configure one, or pass --no-cluster to write the pull request without it (its body then says the gate was not checked)", pl.Label(current))
	}
	client, err := r.Cluster.Client()
	if err != nil {
		return nil, fmt.Errorf("the live gate could not be checked: %w; fix the cluster configuration, or pass --no-cluster", err)
	}
	var ok bool
	if ph.Out, ok = pl.Rendered(current); !ok {
		// The plan renders the current position or fails: never compare
		// the cluster with an empty render, which nothing could fail.
		return nil, fmt.Errorf("the live gate has no render of %s to compare the cluster with", pl.Label(current))
	}
	rep, err := gate.Check(ctx, ph, client)
	if err != nil {
		return nil, fmt.Errorf("the live gate could not be checked: %w; fix the cluster configuration, or pass --no-cluster", err)
	}
	var unchecked []string
	if rep.Verdict != status.Converged {
		if !r.Skip.Force {
			return nil, &gate.Refusal{Wait: rep.Verdict == status.Progressing, Report: rep,
				Err: fmt.Errorf("%s has not converged (%s): wait (carousel status --wait), fix what blocks it, or pass --force", pl.Current, rep.Verdict)}
		}
		unchecked = append(unchecked, fmt.Sprintf("The live gate said %s is %s; `carousel advance --force` moved on anyway.", pl.Label(current), rep.Verdict))
	}
	// Before an in-cluster-config step its pods restart reading
	// kube-root-ca.crt: the node steps must have published the step's set
	// there (docs/phases.md, "Steps within a phase").
	if step.RunbookBefore && ph.Package.Rotation.Features().NodeTrust {
		next, _ := pl.Rendered(target)
		if err := status.CheckPublished(ctx, client, "kube-system", next.NodePublished); err != nil {
			if !r.Skip.Force {
				return nil, &gate.Refusal{Err: fmt.Errorf("not advancing to %s: %w; or pass --force", step.Label, err)}
			}
			unchecked = append(unchecked, fmt.Sprintf("The node steps had not published %s's trusted set (%v); `carousel advance --force` moved on anyway.", step.Label, err))
		}
	}
	return unchecked, nil
}
