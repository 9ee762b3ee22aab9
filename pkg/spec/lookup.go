package spec

// LeavesNamed returns the leaves a name selects: the leaf of that name and
// every leaf whose group it is, in spec order (none: the name is unknown).
func (s *Spec) LeavesNamed(name string) []Leaf {
	var out []Leaf
	for _, l := range s.Leaves {
		if l.Name == name || l.Group == name {
			out = append(out, l)
		}
	}
	return out
}

// LeafByName returns the leaf called name.
func (s *Spec) LeafByName(name string) (Leaf, bool) {
	for _, l := range s.Leaves {
		if l.Name == name {
			return l, true
		}
	}
	return Leaf{}, false
}
