package rotate

import (
	"fmt"
	"time"

	"github.com/carousel-dev/carousel/pkg/phases"
)

// Due is material in use that expires within a renewal window.
type Due struct {
	What     string // "CA" or "leaf <name>"
	Leaf     string // the leaf's name, for leaves
	NotAfter time.Time
}

// InUse returns the generation of CA and leaves the current phase serves,
// for renewal: a rotation in flight has nothing to renew until it finishes.
func (p *Package) InUse() (ca, leaves phases.Generation, err error) {
	st, err := phases.Lookup(p.Rotation.Spec.Scope, p.Rotation.Spec.Phase)
	if err != nil {
		return "", "", err
	}
	seq, _ := phases.Sequence(p.Rotation.Spec.Scope)
	if st.Phase != seq[0] && st.Phase != seq[len(seq)-1] {
		return "", "", fmt.Errorf("a rotation is in flight (phase %s): finish it before renewing", st.Phase)
	}
	return st.Signer, st.Leaves, nil
}

// FindDue lists the material in use that expires before deadline.
func (p *Package) FindDue(deadline time.Time) ([]Due, error) {
	caGen, leafGen, err := p.InUse()
	if err != nil {
		return nil, err
	}
	set, err := p.Material()
	if err != nil {
		return nil, err
	}
	var due []Due
	if k, ok := set.CA[caGen]; ok && k.Cert().NotAfter.Before(deadline) {
		due = append(due, Due{What: "CA", NotAfter: k.Cert().NotAfter})
	}
	for _, l := range p.Rotation.Spec.Leaves {
		if k, ok := set.Leaves[l.Name][leafGen]; ok && k.Cert().NotAfter.Before(deadline) {
			due = append(due, Due{What: "leaf " + l.Name, Leaf: l.Name, NotAfter: k.Cert().NotAfter})
		}
	}
	return due, nil
}

// RenewRequest is the rotation that renews due: a CA that is due starts a
// CA rotation (scope ca: a new CA and every leaf); otherwise the due leaves
// are re-issued under the same CA (scope leaf, only those leaves). Start
// promotes a finished rotation under its own scope first, and writes the
// new scope only once everything is checked.
func RenewRequest(due []Due) StartRequest {
	var leaves []string
	scope := phases.ScopeLeaf
	for _, d := range due {
		if d.Leaf == "" {
			scope = phases.ScopeCA
		}
		leaves = append(leaves, d.Leaf)
	}
	if scope == phases.ScopeCA {
		leaves = nil // a CA rotation re-issues every leaf
	}
	return StartRequest{Scope: scope, Only: leaves}
}
