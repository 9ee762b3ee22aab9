package rotate

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// StartRequest says what rotation to start.
type StartRequest struct {
	// Scope of the rotation; empty keeps spec.scope. It is written into the
	// spec only once everything else has been checked and made.
	Scope phases.Scope
	// Only re-issues these leaves (scope leaf); empty: every leaf.
	Only []string
}

// Start makes the material of the next rotation: for scope ca a new CA and
// every leaf signed by it; for scope leaf new leaves (all, or only those
// named) from the current CA; for scope renew a new certificate for the
// current CA over its own key (renewinplace.go), every leaf carried forward. A rotation that finished (cleanup, reissue) is
// first promoted: its new material becomes the current one.
//
// Every check, key, certificate and encryption happens before the first
// write. Then, in order: the promotion (promote.go), spec.scope, the new
// KeyPair files (unlisted: steady does not build them), and the material
// kustomization listing them, the commit. Steady renders the same output
// before and after, so a kill anywhere leaves it unchanged, and a rerun
// either starts afresh (nothing was committed) or reports that the
// rotation was started.
func Start(p *Package, o Options, req StartRequest) (Report, error) {
	var rep Report
	rot := p.Rotation
	scope := req.Scope
	if scope == "" {
		scope = rot.Spec.Scope
	}
	if _, err := phases.Sequence(scope); err != nil {
		return rep, err
	}
	if routes := rot.Spec.Routes; len(routes) > 0 && !slices.Contains(routes, scope) {
		return rep, fmt.Errorf("scope %s is not among spec.routes (%v): the system behind this rotation is not known to support it; the comment above spec.routes (from its preset) says why", scope, routes)
	}
	only, err := resolveLeaves(rot, req.Only)
	if err != nil {
		return rep, err
	}
	if len(only) > 0 && scope != phases.ScopeLeaf {
		return rep, errors.New("naming leaves re-issues them under the same CA: set spec.scope: leaf (start --scope leaf)")
	}
	seq, err := phases.Sequence(rot.Spec.Scope)
	if err != nil {
		return rep, err
	}
	st, err := p.materialState()
	if err != nil {
		return rep, err
	}
	var prom *promotion
	switch rot.Spec.Phase {
	case phases.Steady:
		if interruptedPromotion(st.set) {
			prom = finishPromotion(st)
		}
	case seq[len(seq)-1]:
		if prom, err = p.planPromotion(st); err != nil {
			return rep, err
		}
	default:
		return rep, fmt.Errorf("a rotation is in flight (phase %s): finish it (or roll it back to steady) before starting another", rot.Spec.Phase)
	}
	// cur is the material the rotation starts from, after any promotion.
	// kept are the listed files the commit lists again.
	cur, kept := st.set, sortedKeys(st.files)
	if prom != nil {
		cur, kept = prom.result, prom.oldFiles()
	}
	// A recovery reads nothing of the old generation but its certificate
	// (recover.go): its keys may be lost, its leaves expired.
	recovering, why := scope == phases.ScopeRecover, ""
	if recovering {
		if why, err = o.checkRecover(rot, cur); err != nil {
			return rep, err
		}
	}
	// Every listed pair, as the files on disk name them: the promotion
	// makes the finished rotation's new pairs current.
	if err := o.verifyKeys(pairsOf(st.set)); err != nil && !recovering {
		return rep, err
	}
	// A new CA imported (csr --ca, import) and leaves still to issue: start
	// issues them with it, the rest of the external-intermediate flow.
	importedCA, fill := cur.CA[phases.New]
	fill = fill && prom == nil && !allLeavesNew(rot, cur)
	if fill && (scope != phases.ScopeCA || len(only) > 0) {
		return rep, fmt.Errorf("%s holds an imported new CA: `carousel start` (scope ca, no --leaf) issues every new leaf with it; a leaf re-issue (--scope leaf, --leaf) is for a rotation that makes no new CA", p.MaterialDir())
	}
	if hasNew(cur) && !fill {
		return rep, fmt.Errorf("%s already holds new material: the rotation was started; advance it, or delete the new material (and its lines in %s) to start over", p.MaterialDir(), kustomizationFile)
	}
	// A renewal in place encrypts no key (its new KeyPair carries the
	// current one's ciphertext): it needs an encoder only to issue a leaf
	// that lacks its current generation.
	w, encErr := o.encoder(p)
	if encErr != nil && (scope != phases.ScopeRenew || fill) {
		return rep, encErr
	}
	oldCA, ok := cur.CA[phases.Old]
	if !ok {
		return rep, errors.New("there is no current CA: run `carousel init` first")
	}
	if err := checkEmergency(rot, scope, oldCA.Cert()); err != nil {
		return rep, err
	}
	oldPair, oldErr := o.readablePair(oldCA)
	needOld := func() error {
		if !oldCA.HasKey() {
			return fmt.Errorf("the current CA %q is held externally (its KeyPair holds no key): carousel cannot issue leaves with it. Request them instead: `carousel csr %s --leaf NAME` writes CSRs under %s for the CA to sign, then `carousel import %s --cert FILE`",
				oldCA.Cert().Subject.CommonName, p.File, p.PendingDir(), p.File)
		}
		if oldErr != nil {
			return fmt.Errorf("issuing with the current CA needs its key: %w", oldErr)
		}
		return nil
	}
	var files []staged
	add := func(f staged, err error) error {
		if err == nil {
			files = append(files, f)
		}
		return err
	}
	if scope == phases.ScopeRenew && !fill {
		// Refused before any leaf is issued or key decrypted.
		if err := p.checkRenewable(oldCA); err != nil {
			return rep, err
		}
	}
	if scope == phases.ScopeCrossSign && !fill {
		if err := p.checkCrossSignable(oldCA); err != nil {
			return rep, err
		}
	}
	// Every leaf needs an old generation to fall back to.
	issuedOld := map[string]bool{}
	issuedOldFiles := map[string]staged{}
	for _, l := range rot.Spec.Leaves {
		if _, ok := cur.Leaves[l.Name][phases.Old]; ok || recovering {
			continue
		}
		if err := needOld(); err != nil {
			return rep, err
		}
		if encErr != nil {
			return rep, encErr
		}
		f, err := p.issue(w, oldPair, l, phases.Old)
		if err := add(f, err); err != nil {
			return rep, err
		}
		issuedOld[l.Name] = true
		issuedOldFiles[l.Name] = f
	}
	switch {
	case fill:
		// A leaf requested from the external CA is imported, not issued:
		// issuing it here would leave a request whose certificate no
		// longer has a place.
		pending, err := p.pending()
		if err != nil {
			return rep, err
		}
		for _, k := range pending {
			if k.pair.Role == material.RoleLeaf && k.pair.Generation == phases.New {
				return rep, fmt.Errorf("leaf %q is requested from the external CA (%s): import its certificate (`carousel import`) before `start` issues the other leaves, or remove the request", k.pair.Leaf, k.file)
			}
		}
		ca, err := o.readablePair(importedCA)
		if err != nil {
			return rep, fmt.Errorf("issuing the new leaves with the imported CA needs its key: %w", err)
		}
		for _, l := range rot.Spec.Leaves {
			if _, ok := cur.Leaves[l.Name][phases.New]; ok {
				continue // imported already, signed externally
			}
			if err := add(p.issue(w, ca, l, phases.New)); err != nil {
				return rep, err
			}
		}
	case scope == phases.ScopeCA || scope == phases.ScopeEmergency || scope == phases.ScopeRecover:
		ca, err := newCA(rot)
		if err != nil {
			return rep, err
		}
		if err := add(p.pairFile(w, material.KeyPair{Rotation: rot.Metadata.Name, Role: material.RoleCA, Generation: phases.New, CAID: material.NextCAID(cur)}, ca, caKeyField(rot))); err != nil {
			return rep, err
		}
		for _, l := range rot.Spec.Leaves {
			if err := add(p.issue(w, ca, l, phases.New)); err != nil {
				return rep, err
			}
		}
	case scope == phases.ScopeRenew:
		// The same key under a new certificate: no leaf is re-issued.
		// Every leaf carries its certificate forward as the new
		// generation, so the new material is complete (a rerun says the
		// rotation was started) and the promotion keeps every leaf file.
		if err := add(p.renewCA(o, cur)); err != nil {
			return rep, err
		}
		for _, l := range rot.Spec.Leaves {
			k, ok := cur.Leaves[l.Name][phases.Old]
			if !ok {
				if k, err = stagedPair(issuedOldFiles[l.Name]); err != nil {
					return rep, err
				}
			}
			if err := add(p.carryForward(k)); err != nil {
				return rep, err
			}
		}
	case scope == phases.ScopeCrossSign:
		if err := needOld(); err != nil {
			return rep, err
		}
		made, err := p.crossSign(o, w, oldPair, cur)
		if err != nil {
			return rep, err
		}
		files = append(files, made...)
	case scope == phases.ScopeLeaf:
		if err := needOld(); err != nil {
			return rep, err
		}
		for _, l := range rot.Spec.Leaves {
			if len(only) > 0 && !slices.Contains(only, l.Name) && !issuedOld[l.Name] {
				// Leaves not re-issued carry their current certificate
				// forward, so the reissue phase changes only the named ones.
				if err := add(p.carryForward(cur.Leaves[l.Name][phases.Old])); err != nil {
					return rep, err
				}
				continue
			}
			if err := add(p.issue(w, oldPair, l, phases.New)); err != nil {
				return rep, err
			}
		}
	}

	// The spec edits are made in memory too: one carousel cannot make in
	// place is refused here, before the promotion's first write.
	var edits []specField
	if prom != nil && !prom.finished {
		edits = append(edits, specField{"phase", string(phases.Steady)})
	}
	if (prom != nil && !prom.finished) || scope != rot.Spec.Scope {
		edits = append(edits, specField{"scope", string(scope)})
	}
	if err := p.checkSpecEdits(edits...); err != nil {
		return rep, err
	}

	// Everything is made: the writes begin.
	if err := p.cleanTemps(&rep); err != nil {
		return rep, err
	}
	if prom != nil {
		if err := prom.apply(p, &rep, specField{"scope", string(scope)}); err != nil {
			return rep, err
		}
	}
	if scope != rot.Spec.Scope {
		if err := p.SetScope(scope); err != nil {
			return rep, err
		}
		addOnce(&rep.Written, p.File)
	}
	if err := writeAll(&rep, files); err != nil {
		return rep, err
	}
	if err := p.commit(&rep, st, slices.Concat(kept, baseNames(files))); err != nil {
		return rep, err
	}
	if recovering {
		fmt.Fprintf(o.stderr(), "carousel: %s: recovered with a new CA and every leaf under it; `carousel plan` says what replace changes (with spec.runbook, the node steps to run first)\n", why)
	}
	return rep, p.cleanLeftovers(&rep)
}

// resolveLeaves turns names given on the command line (leaf names or group
// names, spec.leaves[].group) into leaf names, each once, in spec order.
func resolveLeaves(rot *spec.CARotation, names []string) ([]string, error) {
	want := map[string]bool{}
	for _, name := range names {
		ls := rot.Spec.LeavesNamed(name)
		if len(ls) == 0 {
			return nil, fmt.Errorf("%q is not in spec.leaves: neither a leaf's name nor a group's (spec.leaves[].group)", name)
		}
		for _, l := range ls {
			want[l.Name] = true
		}
	}
	var out []string
	for _, l := range rot.Spec.Leaves {
		if want[l.Name] {
			out = append(out, l.Name)
		}
	}
	return out, nil
}

// allLeavesNew reports whether every leaf of the spec has a new generation.
func allLeavesNew(rot *spec.CARotation, set *material.Set) bool {
	for _, l := range rot.Spec.Leaves {
		if _, ok := set.Leaves[l.Name][phases.New]; !ok {
			return false
		}
	}
	return true
}

func hasNew(set *material.Set) bool {
	if _, ok := set.CA[phases.New]; ok {
		return true
	}
	for _, gens := range set.Leaves {
		if _, ok := gens[phases.New]; ok {
			return true
		}
	}
	return false
}

// stagedPair reads back a KeyPair staged (issued) by this command.
func stagedPair(f staged) (material.KeyPair, error) {
	n, err := yaml.Parse(string(f.data))
	if err != nil {
		return material.KeyPair{}, fmt.Errorf("%s: %w", f.path, err)
	}
	return material.Parse(n)
}

// carryForward stages an old leaf again as the new generation, unchanged.
func (p *Package) carryForward(k material.KeyPair) (staged, error) {
	moved, n, err := asGeneration(k, phases.New)
	if err != nil {
		return staged{}, err
	}
	return nodeFile(p.path(moved), n, k.Encrypted()), nil
}

func (p *Package) path(k material.KeyPair) string {
	return filepath.Join(p.MaterialDir(), k.FileName())
}
