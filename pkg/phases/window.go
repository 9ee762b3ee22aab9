package phases

import (
	"fmt"
	"slices"
	"strings"
)

// The fleet window: clusters that talk to each other (a multi-cluster mesh
// whose clusters share one root, each with its own intermediate under it)
// rotate that root on their own commits, one cluster at a time. A cluster's
// own phases are safe because adjacent phases interoperate and its pods
// only ever span two adjacent phases (docs/phases.md). Across clusters the
// same must hold for every pair of pods that talk, and nothing per cluster
// makes it hold: a cluster at sign-new serves leaves chained to the new
// root, which a peer still at steady does not trust.
//
// The window keeps every pod of a group of connected clusters within two
// adjacent phases: a cluster moves forward from phase i only when every
// peer is at i or later, and those at i have converged there (no pod of
// i-1 runs); back from i only when every peer is at i or earlier, and those
// at i have converged (no pod of i+1 runs). Then the phases of the group's live pods are always
// {i, i+1} for some i, every cross-cluster pair is an adjacent pair, and
// adjacent pairs handshake (TestEveryPodTheWindowAllowsHandshakesAcrossClusters
// walks every state a group of three clusters can reach).

// Peer is a cluster connected to the one that moves, as the window sees it.
type Peer struct {
	Name  string
	Phase Phase
	// Converged: every pod of the cluster runs its phase (its gate
	// passed); a cluster that has just moved still runs pods of the phase
	// it left.
	Converged bool
}

// Handshakes reports whether a pod of phase a and a pod of phase b, in two
// clusters under one root being rotated, complete mutual TLS: each one's
// leaf chains to its signer (or, renewed in place, to either certificate of
// the one key: State.ChainsTo), which the other's trusted set must hold.
func Handshakes(scope Scope, a, b Phase) (bool, error) {
	sa, err := Lookup(scope, a)
	if err != nil {
		return false, err
	}
	sb, err := Lookup(scope, b)
	if err != nil {
		return false, err
	}
	return sb.Accepts(sa) && sa.Accepts(sb), nil
}

// WindowError is a move the window refuses: the peers in the way.
type WindowError struct {
	From, To Phase
	Forward  bool
	// Behind are the peers at another phase than the one the move needs
	// them at or past; Unconverged those still rolling.
	Behind, Unconverged []Peer
}

func (e *WindowError) Error() string {
	var parts []string
	for _, p := range e.Behind {
		parts = append(parts, fmt.Sprintf("%s is at %s", p.Name, p.Phase))
	}
	for _, p := range e.Unconverged {
		parts = append(parts, fmt.Sprintf("%s has not converged at %s", p.Name, p.Phase))
	}
	return fmt.Sprintf("moving from %s to %s would put pods two phases apart across clusters that talk: %s; wait for them (every peer must be at %s or %s, and converged when at %s)",
		e.From, e.To, strings.Join(parts, ", "), e.From, map[bool]string{true: "later", false: "earlier"}[e.Forward], e.From)
}

// CheckWindow checks one cluster's move from phase from to phase to (a
// legal move, Check) against its peers: forward, every peer must be at
// from or later; back, at from or earlier; and a peer at from must have
// converged there.
// Staying put needs nothing. The error is a *WindowError naming the peers
// in the way.
func CheckWindow(scope Scope, from, to Phase, peers []Peer) error {
	dir, err := Check(Move{Scope: scope, From: from, To: to})
	if err != nil || dir == Stay {
		return err
	}
	i, _ := Index(scope, from)
	werr := &WindowError{From: from, To: to, Forward: dir == Forward}
	for _, p := range peers {
		j, err := Index(scope, p.Phase)
		if err != nil {
			return fmt.Errorf("peer %s: %w", p.Name, err)
		}
		switch {
		case dir == Forward && j < i, dir == Back && j > i:
			werr.Behind = append(werr.Behind, p)
		case j == i && !p.Converged:
			// Its unrolled pods run the phase on the other side of
			// from: two apart from to. A peer already at to runs pods
			// of from and to, both adjacent to to.
			werr.Unconverged = append(werr.Unconverged, p)
		}
	}
	if len(werr.Behind)+len(werr.Unconverged) > 0 {
		return werr
	}
	return nil
}

// CheckSpread checks the committed phases of clusters that talk to each
// other, as a pull request leaves them: no two more than one phase apart.
// It is what a repository can show; whether each cluster has converged is
// for the live gate (CheckWindow).
func CheckSpread(scope Scope, clusters map[string]Phase) error {
	names := make([]string, 0, len(clusters))
	for n := range clusters {
		names = append(names, n)
	}
	slices.Sort(names)
	lo, hi := "", ""
	var li, hj int
	for _, n := range names {
		i, err := Index(scope, clusters[n])
		if err != nil {
			return fmt.Errorf("cluster %s: %w", n, err)
		}
		if lo == "" || i < li {
			lo, li = n, i
		}
		if hi == "" || i > hj {
			hi, hj = n, i
		}
	}
	if hj-li > 1 {
		return fmt.Errorf("clusters that talk to each other are %d phases apart: %s is at %s, %s at %s; move %s on first (at most one phase apart, so every cross-cluster pair is an adjacent pair)",
			hj-li, lo, clusters[lo], hi, clusters[hi], lo)
	}
	return nil
}

// GroupError is a group of clusters that talk (by name, with its members)
// whose phases CheckSpread refuses.
type GroupError struct {
	Group   string
	Members []string
	Err     error
}

func (e GroupError) Error() string {
	return fmt.Sprintf("group %s (%s): %v", e.Group, strings.Join(e.Members, ", "), e.Err)
}

// CheckGroups holds every group of clusters (groups: by name, its members)
// to CheckSpread over the clusters' phases in at, groups in name order. A
// member missing from at is left out: whoever placed the clusters has
// refused it already.
func CheckGroups(scope Scope, groups map[string][]string, at map[string]Phase) []GroupError {
	var out []GroupError
	names := make([]string, 0, len(groups))
	for g := range groups {
		names = append(names, g)
	}
	slices.Sort(names)
	for _, g := range names {
		members := map[string]Phase{}
		for _, n := range groups[g] {
			if ph, ok := at[n]; ok {
				members[n] = ph
			}
		}
		if err := CheckSpread(scope, members); err != nil {
			out = append(out, GroupError{Group: g, Members: groups[g], Err: err})
		}
	}
	return out
}
