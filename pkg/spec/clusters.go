package spec

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// Mesh is the group every cluster is in when no cluster names a group.
const Mesh = "mesh"

// ClusterGroups returns the groups of clusters that talk to each other,
// by group name, each list in spec order: with no group named anywhere,
// one group (Mesh) of every cluster. It assumes Validate passed.
func (s *Spec) ClusterGroups() map[string][]string {
	groups := map[string][]string{}
	named := slices.ContainsFunc(s.Clusters, func(c Cluster) bool { return len(c.Groups) > 0 })
	for _, c := range s.Clusters {
		if !named {
			groups[Mesh] = append(groups[Mesh], c.Name)
			continue
		}
		for _, g := range c.Groups {
			groups[g] = append(groups[g], c.Name)
		}
	}
	return groups
}

// validateClusters checks spec.clusters: named once each, rotation files
// inside the repository's relative paths, and groups that are either named
// by every cluster or by none (a cluster left out of every group would
// silently be held to nobody).
func (s *Spec) validateClusters(errs *FieldErrors) {
	if r := s.SharedRoot; r != "" {
		switch {
		case strings.HasPrefix(r, "/") || !(strings.HasSuffix(r, ".yaml") || strings.HasSuffix(r, ".yml")):
			errs.add("spec.sharedRoot", "%q must be the relative path of the shared root's CARotation file (a .yaml file, from the directory of this file)", r)
		case len(s.Clusters) > 0:
			errs.add("spec.sharedRoot", "is set beside spec.clusters: a shared root lists its clusters and is no cluster of another root")
		}
	}
	switch {
	case s.SharedRoot != "" && s.RootState == "":
		errs.add("spec.rootState", "is empty while spec.sharedRoot is set: name the shared root's published state (its metadata.name) and list the root's state directory among the resources; the render reads it (docs/fleet.md, \"The root's published state\")")
	case s.RootState != "" && s.SharedRoot == "":
		errs.add("spec.rootState", "is set without spec.sharedRoot: only a cluster of a shared root reads the root's state")
	case s.RootState != "" && !dnsSubdomain.MatchString(s.RootState):
		errs.add("spec.rootState", "%q must be the metadata.name of the root's CARotationState", s.RootState)
	}
	if len(s.Clusters) > 0 && s.Publish == "" {
		errs.add("spec.publish", "is empty while spec.clusters is set: a shared root publishes its state (the roots its clusters may trust, and the phase every cluster has reached), which every cluster's render reads")
	}
	named := slices.ContainsFunc(s.Clusters, func(c Cluster) bool { return len(c.Groups) > 0 })
	var names, rotations []string
	for i, c := range s.Clusters {
		p := fmt.Sprintf("spec.clusters[%d]", i)
		if !dnsLabel.MatchString(c.Name) {
			errs.add(p+".name", "%q must be a DNS label of at most 63 characters", c.Name)
		} else if slices.Contains(names, c.Name) {
			errs.add(p+".name", "%q names two clusters", c.Name)
		}
		names = append(names, c.Name)
		r := path.Clean(c.Rotation)
		switch {
		case c.Rotation == "" || strings.HasPrefix(c.Rotation, "/") || !(strings.HasSuffix(r, ".yaml") || strings.HasSuffix(r, ".yml")):
			errs.add(p+".rotation", "%q must be the relative path of the cluster package's CARotation file (a .yaml file, from the directory of this file)", c.Rotation)
		case slices.Contains(rotations, r):
			errs.add(p+".rotation", "%q is the rotation of two clusters", c.Rotation)
		}
		rotations = append(rotations, r)
		if named && len(c.Groups) == 0 {
			errs.add(p+".groups", "is empty while other clusters name groups: name the groups of the clusters %s talks to (without groups anywhere, every cluster talks to every other)", c.Name)
		}
		for j, g := range c.Groups {
			if !dnsLabel.MatchString(g) || slices.Contains(c.Groups[:j], g) {
				errs.add(fmt.Sprintf("%s.groups[%d]", p, j), "%q must be a DNS label, listed once", g)
			}
		}
	}
}
