package advance

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/carousel-dev/carousel/pkg/gate"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/rotate"
	"github.com/carousel-dev/carousel/pkg/status"
)

// window holds a cluster of a shared root (spec.sharedRoot) to the fleet
// window before it moves from one phase to another, forward or back
// (docs/fleet.md, "Clusters that talk: the fleet window"): every peer, a
// cluster sharing one of its groups, must be at from or beyond it in the
// move's direction, as the repository holds their rotations, and each peer
// at from must have converged there, as its own cluster says (carousel
// status in the peer's kubeconfig context). A rollback is held too: a
// cluster moving back from sign-new while a peer is at distrust-old would
// serve leaves that peer no longer trusts.
//
// It returns what was not checked, for the pull request to say: with
// --no-cluster the peers' convergence (their phases still are), with
// --force a window that refused. A peer that cannot be asked refuses, as
// the live gate does.
func window(ctx context.Context, r Request, f *rotate.Fleet, scope phases.Scope, from, to phases.Phase) ([]string, error) {
	if f == nil || f.Self == nil || from == to {
		return nil, nil
	}
	var peers []phases.Peer
	var unasked []string
	for _, c := range f.Peers() {
		pp, err := rotate.Load(f.File(c))
		if err != nil {
			return nil, fmt.Errorf("the fleet window cannot place peer %s: %w", c.Name, err)
		}
		if pp.Rotation.Spec.Scope != scope {
			return nil, fmt.Errorf("the fleet window cannot compare peer %s: it rotates in scope %s, this cluster in %s", c.Name, pp.Rotation.Spec.Scope, scope)
		}
		peer := phases.Peer{Name: c.Name, Phase: pp.Rotation.Spec.Phase, Converged: true}
		// Only a peer at from can hold pods two phases from to
		// (phases.CheckWindow); the others are placed by their phase.
		if peer.Phase == from {
			switch {
			case r.Skip.NoCluster:
				unasked = append(unasked, c.Name)
			case c.Context == "":
				return nil, &gate.Refusal{Err: fmt.Errorf("peer %s is at %s and has no kubeconfig context in the shared root's spec.clusters: the fleet window cannot check that it converged; add its context, or pass --no-cluster", c.Name, from)}
			default:
				rep, err := gate.Status(ctx, f.File(c), gate.Cluster{Kubeconfig: r.Cluster.Kubeconfig, Context: c.Context}, r.Now)
				if err != nil {
					return nil, fmt.Errorf("the fleet window could not ask peer %s (context %s): %w; fix the cluster configuration, or pass --no-cluster", c.Name, c.Context, err)
				}
				peer.Converged = rep.Verdict == status.Converged
			}
		}
		peers = append(peers, peer)
	}
	var notes []string
	if len(unasked) > 0 {
		notes = append(notes, fmt.Sprintf("The fleet window did not ask whether %s, at %s, converged there (`carousel advance --no-cluster`). Before merging, `carousel status` in each of their contexts must say %s converged.", strings.Join(unasked, ", "), from, from))
	}
	err := phases.CheckWindow(scope, from, to, peers)
	var werr *phases.WindowError
	if errors.As(err, &werr) {
		if !r.Skip.Force {
			// Waiting helps when every peer in the way is only converging
			// or is behind and will move on.
			return nil, &gate.Refusal{Wait: true, Err: err}
		}
		return append(notes, fmt.Sprintf("The fleet window refused (%v); `carousel advance --force` moved on anyway.", err)), nil
	}
	return notes, err
}
