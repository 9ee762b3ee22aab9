package rotate

import (
	"fmt"
	"path/filepath"
	"slices"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
)

// A promotion turns a finished rotation (at cleanup, or reissue for scope
// leaf) into steady: its new material becomes the old generation, what it
// replaces goes, and spec.phase returns to steady. It changes the material
// kustomization and the CARotation file, so it is a sequence of atomic
// steps, each leaving a package that renders exactly as the finished phase
// (F: cleanup or reissue) or as steady after the promotion (S):
//
//  1. The kustomization stops listing the old files the new ones replace
//     (a leaf carried forward unchanged keeps its old file throughout).
//     F renders only the new generation (cleanup: the new CA and leaves;
//     reissue: the old CA, which stays, and the new leaves), so F's
//     output does not change.
//  2. The old files, now unlisted, are overwritten with the promoted
//     material: the new material under the old generation's names, each
//     CA with its ID (asGeneration), so its objects keep their names.
//     Unlisted files are not built.
//  3. The kustomization lists the promoted files beside the new ones. The
//     old generation now holds the same certificates as the new one (and
//     the same CA ID, which material.NewSet allows for one certificate), so
//     every check holds, and F still renders only the new generation: F.
//  4. spec.phase becomes steady (and spec.scope the next rotation's), in
//     one write. Steady renders the old generation, which is now the
//     promoted material, and never the new one: S.
//  5. The kustomization stops listing the new files (S), and a last sweep
//     removes the unlisted files (S).
//
// A rerun of `start` at F redoes the promotion from whatever step was
// reached (the steps are idempotent). A rerun at steady recognises step 4's
// state, new material identical to the old, as an interrupted promotion and
// goes on from step 5, instead of refusing "already holds new material".
type promotion struct {
	st       *materialState
	finished bool     // steps 1-4 are done: the phase is steady
	keep     []string // listed pair files the promotion does not touch
	replaced []string // listed old files the new material replaces
	promoted []staged // the new material as the old generation
	newFiles []string // the listed new files
	result   *material.Set
}

func (p *Package) planPromotion(st *materialState) (*promotion, error) {
	pr := &promotion{st: st}
	// replaces reports whether k (old) is replaced by a new pair with a
	// different certificate; a leaf carried forward unchanged by a re-issue
	// of other leaves is not replaced: its old file stays listed throughout.
	replaces := func(k material.KeyPair) bool {
		gens := st.set.CA
		if k.Role == material.RoleLeaf {
			gens = st.set.Leaves[k.Leaf]
		}
		nw, ok := gens[phases.New]
		return ok && pki.Fingerprint(nw.Cert()) != pki.Fingerprint(k.Cert())
	}
	var pairs []material.KeyPair
	for _, f := range sortedKeys(st.files) {
		k := st.files[f]
		switch {
		case k.Role == material.RoleCross:
			// The cross-certificate leaves with its rotation: the
			// promoted CA is the new one, trusted on its own.
			pr.newFiles = append(pr.newFiles, f)
		case k.Generation == phases.New:
			pr.newFiles = append(pr.newFiles, f)
			if !replacesOther(st.set, k) {
				continue // the same certificate as its listed old pair, which stays
			}
			moved, n, err := asGeneration(k, phases.Old)
			if err != nil {
				return nil, err
			}
			if err := markPromoted(n); err != nil {
				return nil, err
			}
			pr.promoted = append(pr.promoted, nodeFile(filepath.Join(p.MaterialDir(), moved.FileName()), n, k.Encrypted()))
			pairs = append(pairs, moved)
		case replaces(k):
			pr.replaced = append(pr.replaced, f)
		default:
			pr.keep = append(pr.keep, f)
			pairs = append(pairs, k)
		}
	}
	var err error
	pr.result, err = material.NewSet(pairs)
	return pr, err
}

// replacesOther reports whether a new pair replaces a different certificate
// (not one carried forward unchanged by a leaf re-issue of other leaves).
// Its consumers have then carried the restart annotation since the rotation
// began, and the promoted pair is marked so they keep it at steady
// (material.AnnotationPromoted): finishing a rotation rolls nothing. The
// mark also keeps step 3 rendering as the finished phase, whose restart
// hashes the old generation, now equal to the new one, would otherwise read
// as unchanged since before the rotation.
func replacesOther(set *material.Set, k material.KeyPair) bool {
	gens := set.CA
	if k.Role == material.RoleLeaf {
		gens = set.Leaves[k.Leaf]
	}
	old, ok := gens[phases.Old]
	return !ok || pki.Fingerprint(old.Cert()) != pki.Fingerprint(k.Cert())
}

func markPromoted(n *yaml.RNode) error {
	anns := n.GetAnnotations()
	anns[material.AnnotationPromoted] = "true"
	return n.SetAnnotations(anns)
}

// interruptedPromotion recognises the state a promotion killed after step 4
// leaves: at steady, every new pair is the same certificate as its old
// one. A real start never leaves that: it makes at least one new pair.
func interruptedPromotion(set *material.Set) bool {
	same := func(gens map[phases.Generation]material.KeyPair) (hasNew, ok bool) {
		nw, isNew := gens[phases.New]
		if !isNew {
			return false, true
		}
		old, isOld := gens[phases.Old]
		return true, isOld && pki.Fingerprint(old.Cert()) == pki.Fingerprint(nw.Cert())
	}
	any := false
	if n, ok := same(set.CA); !ok {
		return false
	} else if n {
		any = true
	}
	for _, gens := range set.Leaves {
		n, ok := same(gens)
		if !ok {
			return false
		}
		any = any || n
	}
	return any
}

// finishPromotion is the rest (step 5) of a promotion interrupted at steady.
func finishPromotion(st *materialState) *promotion {
	pr := &promotion{st: st, finished: true}
	var pairs []material.KeyPair
	for _, f := range sortedKeys(st.files) {
		k := st.files[f]
		if k.Generation == phases.New {
			pr.newFiles = append(pr.newFiles, f)
			continue
		}
		pr.keep = append(pr.keep, f)
		pairs = append(pairs, k)
	}
	pr.result, _ = material.NewSet(pairs)
	return pr
}

// oldFiles are the listed old files after the promotion.
func (pr *promotion) oldFiles() []string {
	out := slices.Clone(pr.keep)
	for _, f := range pr.promoted {
		out = append(out, filepath.Base(f.path))
	}
	return out
}

// apply runs the steps (see promotion); edits go into step 4's write.
func (pr *promotion) apply(p *Package, rep *Report, edits ...specField) error {
	if !pr.finished {
		if len(pr.replaced) > 0 {
			if err := p.commit(rep, pr.st, slices.Concat(pr.keep, pr.newFiles)); err != nil { // 1
				return err
			}
		}
		if err := writeAll(rep, pr.promoted); err != nil { // 2
			return err
		}
		if err := p.commit(rep, pr.st, slices.Concat(pr.oldFiles(), pr.newFiles)); err != nil { // 3
			return err
		}
		if err := p.editSpec(append([]specField{{"phase", string(phases.Steady)}}, edits...)...); err != nil { // 4
			return err
		}
		addOnce(&rep.Written, p.File)
	}
	return p.commit(rep, pr.st, pr.oldFiles()) // 5
}

// Promote finishes a completed rotation (at its last phase): its new
// material becomes the current one and the phase returns to steady.
func (p *Package) Promote() (Report, error) {
	var rep Report
	seq, err := phases.Sequence(p.Rotation.Spec.Scope)
	if err != nil {
		return rep, err
	}
	if p.Rotation.Spec.Phase != seq[len(seq)-1] {
		return rep, fmt.Errorf("the rotation is at %s, not finished at %s", p.Rotation.Spec.Phase, seq[len(seq)-1])
	}
	st, err := p.materialState()
	if err != nil {
		return rep, err
	}
	pr, err := p.planPromotion(st)
	if err != nil {
		return rep, err
	}
	if err := p.checkSpecEdits(specField{"phase", string(phases.Steady)}); err != nil { // step 4, before step 1
		return rep, err
	}
	if err := p.cleanTemps(&rep); err != nil {
		return rep, err
	}
	if err := pr.apply(p, &rep); err != nil {
		return rep, err
	}
	return rep, p.cleanLeftovers(&rep)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
