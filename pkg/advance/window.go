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
	// Never behind the root: it records the phase every cluster has
	// reached, and the cluster's render reads it (docs/fleet.md, "The
	// root's published state").
	root := f.Root.Rotation.Spec
	if i, err := phases.Index(scope, to); err == nil {
		if r, err := phases.Index(root.Scope, root.Phase); err == nil && root.Scope == scope && i < r {
			return nil, fmt.Errorf("%s is behind the shared root's phase %s, the phase every cluster has reached: move the root back first (`carousel advance --to` on %s)", to, root.Phase, f.Root.File)
		}
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

// rootWindow holds a shared root's forward move to phase to: the root's
// phase is the phase every cluster has reached (docs/fleet.md, "The root's
// published state"), which each cluster's render reads from the root's
// state, so the root moves to to only when every cluster's committed phase
// is to or beyond, and each cluster at to has converged there (asked in
// its context, as window asks a peer). Moving the root back lowers what it
// records, which no cluster can be behind, so it is not held.
//
// It returns what was not checked: with --no-cluster the clusters'
// convergence, with --force a refusal moved past.
func rootWindow(ctx context.Context, r Request, f *rotate.Fleet, to phases.Phase) ([]string, error) {
	scope := f.Root.Rotation.Spec.Scope
	want, err := phases.Index(scope, to)
	if err != nil {
		return nil, err
	}
	var behind, converging, unasked []string
	for _, c := range f.Root.Rotation.Spec.Clusters {
		cp, err := rotate.Load(f.File(c))
		if err != nil {
			return nil, fmt.Errorf("the shared root cannot place cluster %s: %w", c.Name, err)
		}
		if cp.Rotation.Spec.Scope != scope {
			return nil, fmt.Errorf("the shared root cannot compare cluster %s: it rotates in scope %s, the root in %s", c.Name, cp.Rotation.Spec.Scope, scope)
		}
		at := cp.Rotation.Spec.Phase
		i, err := phases.Index(scope, at)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: %w", c.Name, err)
		}
		switch {
		case i < want:
			behind = append(behind, fmt.Sprintf("%s is at %s", c.Name, at))
		case i > want:
			// Beyond to: it left to behind, so it converged there
			// before it moved on (the fleet window held it).
		case r.Skip.NoCluster:
			unasked = append(unasked, c.Name)
		case c.Context == "":
			return nil, &gate.Refusal{Err: fmt.Errorf("cluster %s is at %s and has no kubeconfig context in spec.clusters: the root cannot check that it converged; add its context, or pass --no-cluster", c.Name, at)}
		default:
			rep, err := gate.Status(ctx, f.File(c), gate.Cluster{Kubeconfig: r.Cluster.Kubeconfig, Context: c.Context}, r.Now)
			if err != nil {
				return nil, fmt.Errorf("the shared root could not ask cluster %s (context %s): %w; fix the cluster configuration, or pass --no-cluster", c.Name, c.Context, err)
			}
			if rep.Verdict != status.Converged {
				converging = append(converging, fmt.Sprintf("%s is %s at %s", c.Name, rep.Verdict, at))
			}
		}
	}
	var notes []string
	if len(unasked) > 0 {
		notes = append(notes, fmt.Sprintf("The shared root did not ask whether %s converged at %s (`carousel advance --no-cluster`). Before merging, `carousel status` on the root must say every cluster converged.", strings.Join(unasked, ", "), to))
	}
	if len(behind)+len(converging) == 0 {
		return notes, nil
	}
	err = fmt.Errorf("the shared root records the phase every cluster has reached, and not every cluster has reached %s: %s", to, strings.Join(append(behind, converging...), "; "))
	if r.Skip.Force {
		return append(notes, fmt.Sprintf("The shared root's gate refused (%v); `carousel advance --force` moved on anyway.", err)), nil
	}
	return nil, &gate.Refusal{Wait: true, Err: err}
}
