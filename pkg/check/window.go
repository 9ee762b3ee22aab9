package check

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/rotate"
)

// RuleWindow refuses a change that leaves two clusters that talk to each
// other, under a shared root (spec.clusters), more than one phase apart.
const RuleWindow = "fleet-window"

// checkWindow reads the committed phase of every cluster of the fleet the
// rotation is part of (its own spec.clusters, or its shared root's: each
// cluster package's CARotation in the working tree, as the pull request
// leaves it) and holds every group of clusters that talk (on a cluster's
// check, its own groups) to the fleet window's repository half
// (phases.CheckSpread): at most one phase apart, so every cross-cluster
// pair of pods is an adjacent pair. The live half (every peer converged before a cluster
// moves) is for the commands that see the clusters.
//
// A cluster whose rotation cannot be read, or rotates in another scope,
// refuses: the check cannot tell where it stands. So does one that does
// not name the root back (spec.sharedRoot): its own advance would move it
// without looking at its peers.
//
// The phases alone cannot tell a cluster promoted by `carousel start` after
// cleanup (steady again, over the new material) from one that never
// started, so a group spanning the first and the last phase is refused
// like any other spread: promoting every cluster of a group in one pull
// request keeps it at one phase (promotion changes no trust and no signer).
func checkWindow(head *rotate.Package) []Refusal {
	f, err := rotate.LoadFleet(head)
	if err != nil {
		return []Refusal{{RuleWindow, fmt.Sprintf("the shared root cannot be read, so this cluster's phase cannot be checked against its peers: %v", err),
			"fix spec.sharedRoot (a path from the directory of this file) or the root's spec.clusters"}}
	}
	if f == nil {
		return nil
	}
	root := f.Root.Rotation
	var out []Refusal
	at := map[string]phases.Phase{}
	for i, c := range root.Spec.Clusters {
		p, err := rotate.Load(f.File(c))
		if err != nil {
			if os.IsNotExist(err) {
				err = fmt.Errorf("%s does not exist", c.Rotation)
			}
			out = append(out, Refusal{RuleWindow, fmt.Sprintf("cluster %s: its rotation cannot be read, so its phase cannot be checked against its peers: %v", c.Name, err),
				fmt.Sprintf("fix the root's spec.clusters[%d].rotation (a path from the directory of %s) or the cluster's CARotation", i, filepath.Base(f.Root.File))})
			continue
		}
		if !namesRoot(p, f.Root) {
			// Its own advance and check would not know its peers.
			out = append(out, Refusal{RuleWindow, fmt.Sprintf("cluster %s's rotation does not name the shared root back (spec.sharedRoot): its own advance and check would move it without looking at its peers", c.Name),
				fmt.Sprintf("set spec.sharedRoot in %s to the path of %s from its directory", c.Rotation, filepath.Base(f.Root.File))})
			continue
		}
		if s := p.Rotation.Spec.Scope; s != root.Spec.Scope {
			out = append(out, Refusal{RuleWindow, fmt.Sprintf("cluster %s rotates in scope %s, the shared root in %s: their phases cannot be compared", c.Name, s, root.Spec.Scope),
				fmt.Sprintf("set spec.scope: %s in %s", root.Spec.Scope, c.Rotation)})
			continue
		}
		at[c.Name] = p.Rotation.Spec.Phase
	}
	// The root records the phase every cluster has reached (each
	// cluster's render reads it from the root's state): no cluster may be
	// behind it. A cluster's check holds itself; the root's, every cluster.
	rootAt, err := phases.Index(root.Spec.Scope, root.Spec.Phase)
	for _, c := range root.Spec.Clusters {
		p, ok := at[c.Name]
		if err != nil || !ok || (f.Self != nil && c.Name != f.Self.Name) {
			continue
		}
		if i, err := phases.Index(root.Spec.Scope, p); err == nil && i < rootAt {
			out = append(out, Refusal{RuleWindow, fmt.Sprintf("cluster %s is at %s, behind the shared root's phase %s: the root records the phase every cluster has reached", c.Name, p, root.Spec.Phase),
				fmt.Sprintf("move the root back to %s first, a phase per pull request (`carousel advance --to` on %s), or keep %s at %s", p, filepath.Base(f.Root.File), c.Name, root.Spec.Phase)})
		}
	}
	groups := root.Spec.ClusterGroups()
	if f.Self != nil {
		// A cluster's check holds its own groups; the root's, all.
		maps.DeleteFunc(groups, func(_ string, members []string) bool { return !slices.Contains(members, f.Self.Name) })
	}
	for _, e := range phases.CheckGroups(root.Spec.Scope, groups, at) {
		out = append(out, Refusal{RuleWindow, e.Error(),
			"move one cluster one phase per pull request, each after every peer has caught up and converged (`carousel advance`); clusters promoted by `carousel start` after cleanup: promote the whole group in one pull request"})
	}
	return out
}

// namesRoot reports whether cluster package p's spec.sharedRoot is root's
// file.
func namesRoot(p, root *rotate.Package) bool {
	if p.Rotation.Spec.SharedRoot == "" {
		return false
	}
	named, err1 := filepath.Abs(filepath.Join(filepath.Dir(p.File), filepath.FromSlash(p.Rotation.Spec.SharedRoot)))
	file, err2 := filepath.Abs(root.File)
	return err1 == nil && err2 == nil && named == file
}
