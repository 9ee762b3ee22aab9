package rotate

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/carousel-dev/carousel/pkg/spec"
)

// Fleet is a shared root's clusters (docs/fleet.md, "Clusters that talk:
// the fleet window"), as the root's package or one of its clusters' sees
// them.
type Fleet struct {
	// Root is the shared root's package, the one listing spec.clusters.
	Root *Package
	// Self is the cluster the package loaded is, nil when it is the root.
	Self *spec.Cluster
}

// LoadFleet returns the fleet p is part of: itself, when it lists
// spec.clusters; its shared root's, when it names one (spec.sharedRoot),
// which must list it; nil when neither.
func LoadFleet(p *Package) (*Fleet, error) {
	s := &p.Rotation.Spec
	switch {
	case len(s.Clusters) > 0:
		return &Fleet{Root: p}, nil
	case s.SharedRoot == "":
		return nil, nil
	}
	file := filepath.Join(filepath.Dir(p.File), filepath.FromSlash(s.SharedRoot))
	root, err := Load(file)
	if err != nil {
		if os.IsNotExist(err) {
			err = fmt.Errorf("%s does not exist", file)
		}
		return nil, fmt.Errorf("spec.sharedRoot: %w", err)
	}
	if len(root.Rotation.Spec.Clusters) == 0 {
		return nil, fmt.Errorf("spec.sharedRoot: %s lists no spec.clusters", file)
	}
	f := &Fleet{Root: root}
	self, err := filepath.Abs(p.File)
	if err != nil {
		return nil, err
	}
	for i, c := range root.Rotation.Spec.Clusters {
		if other, err := filepath.Abs(f.File(c)); err == nil && other == self {
			f.Self = &root.Rotation.Spec.Clusters[i]
			return f, nil
		}
	}
	return nil, fmt.Errorf("spec.sharedRoot: %s does not list this package (%s) among its spec.clusters", file, p.File)
}

// File is cluster c's CARotation file.
func (f *Fleet) File(c spec.Cluster) string {
	return filepath.Join(filepath.Dir(f.Root.File), filepath.FromSlash(c.Rotation))
}

// Peers are the clusters sharing a group with Self, in spec order: those
// whose pods Self's pods talk to.
func (f *Fleet) Peers() []spec.Cluster {
	var out []spec.Cluster
	groups := f.Root.Rotation.Spec.ClusterGroups()
	for _, c := range f.Root.Rotation.Spec.Clusters {
		if f.Self == nil || c.Name == f.Self.Name {
			continue
		}
		for _, members := range groups {
			if slices.Contains(members, c.Name) && slices.Contains(members, f.Self.Name) {
				out = append(out, c)
				break
			}
		}
	}
	return out
}
