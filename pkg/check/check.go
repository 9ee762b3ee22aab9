// Package check is the pull-request check: it compares a rotation at a base
// git ref with the working tree and refuses changes that would break the
// phase model's promise, each with what to do instead.
package check

import (
	"bytes"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/backend"
	"github.com/carousel-dev/carousel/pkg/fleet"
	"github.com/carousel-dev/carousel/pkg/fninput"
	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/rotate"
	"github.com/carousel-dev/carousel/pkg/sops"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// Refusal is one reason the change may not merge.
type Refusal struct {
	Rule    string `json:"rule"`
	Message string `json:"message"`
	Fix     string `json:"fix"`
}

// Rules, in the order they are checked.
const (
	RuleMove      = "one-step"
	RuleShape     = "shape-in-flight"
	RuleMaterial  = "material"
	RuleRender    = "renders"
	RuleKeys      = "keys"
	RulePlaintext = "plaintext-key"
	RuleStale     = "rendered-output"
	RulePublish   = "published-state"
	// RuleCompromised refuses a pull request removing a compromise mark
	// (spec.compromised); one trusting a marked CA does not render.
	RuleCompromised = "compromised"
	// RuleWindow is in window.go.
)

// Report is the outcome of a check: the refusals (none: it may merge) and
// notes on what was not checked, and why.
type Report struct {
	Refusals []Refusal
	Notes    []string
}

// Options of a check.
type Options struct {
	// File is the CARotation file in the working tree.
	File string
	// Base is the git ref the pull request merges into.
	Base string
	// Rendered, if set, is a committed `kustomize build` output of the
	// package that must equal a fresh build.
	Rendered string
	// Kustomize is the kustomize binary for the Rendered check.
	Kustomize string
	Now       time.Time
	// SkipKeys skips comparing encrypted keys with their certificates,
	// and the report says so. Without it, a check that has no age
	// identity is an error in CI (CI true) and a note elsewhere.
	SkipKeys bool
	// CI says the check runs in a pipeline (the CI=true convention of
	// GitHub Actions, GitLab CI and others), where nobody reads a note.
	CI bool
}

// Run checks the change and returns its refusals (none: it may merge).
func Run(o Options) (*Report, error) {
	head, err := rotate.Load(o.File)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(o.File)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(abs)
	root, err := git(dir, "rev-parse", "--show-toplevel")
	if err != nil {
		return nil, fmt.Errorf("not in a git repository: %w", err)
	}
	root = strings.TrimSpace(root)
	rel, err := filepath.Rel(root, abs)
	if err != nil {
		return nil, err
	}
	var out []Refusal
	baseText, err := git(dir, "show", o.Base+":"+filepath.ToSlash(rel))
	var base *spec.CARotation
	if err == nil {
		n, perr := yaml.Parse(baseText)
		if perr != nil {
			return nil, fmt.Errorf("%s at %s: %w", rel, o.Base, perr)
		}
		if base, err = spec.Load(n); err != nil {
			return nil, fmt.Errorf("%s at %s: %w", rel, o.Base, err)
		}
	} else if _, verr := git(dir, "rev-parse", "--verify", o.Base+"^{commit}"); verr != nil {
		return nil, fmt.Errorf("base %q is not a commit: %w", o.Base, verr)
	}
	cur := head.Rotation
	if base == nil {
		// A new rotation starts at the beginning.
		if seq, _ := phases.Sequence(cur.Spec.Scope); len(seq) > 0 && cur.Spec.Phase != seq[0] {
			out = append(out, Refusal{RuleMove, fmt.Sprintf("a new rotation starts at %s, not %s", seq[0], cur.Spec.Phase), "set spec.phase: " + string(seq[0])})
		}
	} else {
		out = append(out, checkMove(base, cur)...)
		matDir := filepath.ToSlash(filepath.Join(filepath.Dir(rel), cur.Spec.MaterialDir))
		changed, err := changedFiles(dir, o.Base, matDir)
		if err != nil {
			return nil, err
		}
		if r := unpromoted(base, cur, changed); r != nil {
			out = append(out, *r)
		}
		if len(changed) > 0 {
			baseSet, err := materialAt(dir, o.Base, matDir, base.Metadata.Name)
			if err != nil {
				return nil, err
			}
			headSet, err := head.Material()
			if err != nil {
				return nil, err
			}
			out = append(out, checkMaterial(base, cur, changed, baseSet, headSet)...)
		}
	}
	out = append(out, checkWindow(head)...)
	// What kustomize hands the function, not every file in the folder.
	rep := &Report{}
	items, err := fninput.Build(o.File)
	if err != nil {
		// A package kustomize cannot build cannot merge either.
		rep.Refusals = append(out, Refusal{RuleRender, fmt.Sprintf("the package does not build: %v", err), "fix the kustomization (`kustomize build` fails the same way)"})
		return rep, nil
	}
	pairs := rotationPairs(items, cur.Metadata.Name)
	out = append(out, plaintextKeys(cur, pairs)...)
	keys, note, err := checkKeys(pairs, o)
	if err != nil {
		return nil, err
	}
	if note != "" {
		rep.Notes = append(rep.Notes, note)
	}
	out = append(out, keys...)
	r := gen.Render(gen.Input{Rotation: cur, Config: head.Node, Items: items, Now: o.Now})
	// The render's warnings are the reviewer's to read: they do not refuse.
	for _, res := range r.Results {
		if res.Severity == framework.Warning {
			rep.Notes = append(rep.Notes, "warning: "+res.Message)
		}
	}
	if r.Failed() {
		out = append(out, Refusal{RuleRender, fmt.Sprintf("phase %s does not render: %v", cur.Spec.Phase, r.Results), "fix the errors above (`kustomize build` shows the same results)"})
	} else {
		why, err := fleet.Stale(head, r)
		if err != nil {
			return nil, err
		}
		if why != "" {
			out = append(out, Refusal{RulePublish, why, fmt.Sprintf("run `carousel publish %s` and commit %s with the change", o.File, cur.Spec.Publish)})
		}
	}
	if o.Rendered != "" {
		ref, err := stale(o, dir)
		if err != nil {
			return nil, err
		}
		if ref != nil {
			out = append(out, *ref)
		}
	}
	rep.Refusals = out
	return rep, nil
}

// rotationPairs parses the rotation's KeyPairs among the items; a pair that
// does not parse is left to the render, which reports it with its field.
func rotationPairs(items []*yaml.RNode, rotation string) []material.KeyPair {
	var pairs []material.KeyPair
	for _, n := range items {
		if !material.IsKeyPair(n) || material.RotationOf(n) != rotation {
			continue
		}
		if k, err := material.Parse(n); err == nil {
			pairs = append(pairs, k)
		}
	}
	return pairs
}

// checkKeys proves every encrypted private key belongs to its certificate.
// The function cannot (it never decrypts), so a key swapped in from another
// KeyPair would otherwise render and ship. It needs an age identity, which
// CI has when it is given one (SOPS_AGE_KEY). It fails closed: without an
// identity it is an error in CI, skipped only with SkipKeys (and the note
// says so), and a note on a workstation; an identity variable naming a file
// that does not exist is always an error. A value sops cannot decrypt for
// its own reasons (a corrupted ciphertext or MAC) is refused as corrupted,
// not blamed on the identity. Plaintext keys are checked by the render.
func checkKeys(pairs []material.KeyPair, o Options) ([]Refusal, string, error) {
	var encrypted []material.KeyPair
	for _, k := range pairs {
		if k.Encrypted() {
			encrypted = append(encrypted, k)
		}
	}
	if len(encrypted) == 0 {
		return nil, "", nil
	}
	if o.SkipKeys {
		return nil, fmt.Sprintf("keys: not checked (--skip-keys): the %d encrypted private keys were not compared with their certificates", len(encrypted)), nil
	}
	if err := sops.IdentityMissing(); err != nil {
		return nil, "", err
	}
	if sops.AgeIdentity() == "" {
		if o.CI {
			return nil, "", fmt.Errorf("keys: no age identity in the environment (SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, or sops's keys.txt) and CI=true: the %d encrypted private keys cannot be compared with their certificates; give the job the identity, or pass --skip-keys to merge without the check (the output then says so)", len(encrypted))
		}
		return nil, fmt.Sprintf("keys: not checked: no age identity in the environment (SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, or sops's keys.txt), so the %d encrypted private keys were not compared with their certificates", len(encrypted)), nil
	}
	bin, err := sops.Binary()
	if err != nil {
		return nil, "", fmt.Errorf("checking the encrypted keys: %w", err)
	}
	// Each encrypted key is decrypted once: sops runs per key. A corrupted
	// one is refused as such and left out of the comparison.
	var out []Refusal
	var readable []material.KeyPair
	var keys []crypto.Signer
	for _, k := range pairs {
		if !k.HasKey() {
			continue // a CA held externally has no key to check
		}
		key, err := sops.PrivateKey(bin, k)
		var corrupt *sops.CorruptError
		switch {
		case errors.As(err, &corrupt):
			out = append(out, Refusal{RuleKeys, fmt.Sprintf("KeyPair %s: its encrypted data.%s is corrupted: %v", k.Source.GetName(), k.KeyField, corrupt),
				"restore the KeyPair file from git history (the value or its sops metadata was edited), or make new material with `carousel start` at steady"})
		case err != nil:
			return nil, "", fmt.Errorf("checking the encrypted keys with the identity of the environment (%s): %w", sops.AgeIdentity(), err)
		default:
			readable = append(readable, k)
			keys = append(keys, key)
		}
	}
	ms := sops.MatchKeys(readable, keys)
	for _, m := range ms {
		out = append(out, Refusal{RuleKeys, m.Error(),
			"put each private key back in its own KeyPair (git history has them), or make new material with `carousel start` at steady"})
	}
	return out, "", nil
}

// plaintextKeys refuses private keys committed unencrypted, unless the
// spec opts in (spec.plaintextKeys: a throwaway demo, a test fixture).
func plaintextKeys(rot *spec.CARotation, pairs []material.KeyPair) []Refusal {
	if rot.Spec.PlaintextKeys {
		return nil
	}
	var out []Refusal
	for _, k := range pairs {
		if k.HasKey() && !k.Encrypted() {
			out = append(out, Refusal{RulePlaintext, fmt.Sprintf("KeyPair %s holds its private key (data.%s) unencrypted: anyone who can clone the repository can read it", k.Source.GetName(), k.KeyField),
				"encrypt it with sops (docs/secrets.md, \"Existing plaintext material\"), or, for a throwaway demo, say so with spec.plaintextKeys: true"})
		}
	}
	return out
}

// unpromoted refuses a rotation that ends by an edit of spec.phase: from
// the last phase back to the first without `carousel start` promoting the
// finished rotation's new CA (or, with backend cert-manager, its new
// generation) to the one in use. The first phase would then render the
// old CA, already distrusted, as the only trusted and signing one: every
// consumer rolls onto a CA no leaf in use chains to.
func unpromoted(base, cur *spec.CARotation, materialChanged []string) *Refusal {
	if !promotion(base, cur) {
		return nil
	}
	fix := "undo the edit of spec.phase and run `carousel start` on the finished rotation: it promotes the new CA to the one in use and sets spec.phase itself"
	// What a promotion changes is the backend's: the material backend's
	// checkMaterial proves the promotion is the finished rotation's.
	if why := backend.For(base).Unpromoted(base, cur, materialChanged); why != "" {
		return &Refusal{RuleMove, why, fix}
	}
	return nil
}

// promotion reports a `carousel start` after a finished rotation: the last
// phase back to the first, with the new material promoted.
func promotion(base, cur *spec.CARotation) bool {
	seq, _ := phases.Sequence(base.Spec.Scope)
	return len(seq) > 0 && base.Spec.Phase == seq[len(seq)-1] && cur.Spec.Phase == seq[0]
}

func checkMove(base, cur *spec.CARotation) []Refusal {
	var out []Refusal
	if base.Spec.Scope != cur.Spec.Scope {
		if base.Spec.Phase != phases.Steady && !promotion(base, cur) {
			return []Refusal{{RuleShape, fmt.Sprintf("spec.scope changed from %s to %s while the rotation is at %s", base.Spec.Scope, cur.Spec.Scope, base.Spec.Phase),
				"finish (or roll back) the rotation to steady first, then change the scope in its own pull request"}}
		}
		return nil
	}
	if !promotion(base, cur) {
		if _, err := phases.Check(phases.Move{Scope: cur.Spec.Scope, From: base.Spec.Phase, To: cur.Spec.Phase}); err != nil {
			out = append(out, Refusal{RuleMove, err.Error(), "move one phase per pull request (`carousel advance`), merging each after its gate holds"})
		} else if _, err := phases.CheckStep(cur.Spec.Scope, base.Position(), cur.Position(), cur.Features()); err != nil {
			// Steps within a phase are commits too: one per pull request.
			out = append(out, Refusal{RuleMove, err.Error(), "move one step per pull request (`carousel advance`), merging each after its gate holds"})
		}
	}
	if moved := base.Position() != cur.Position(); moved && cur.Spec.Alerts != nil && base.Spec.Alerts != nil &&
		cur.Spec.PhaseSince.String() == base.Spec.PhaseSince.String() && !promotion(base, cur) {
		// The phase-stuck alert counts from spec.phaseSince: left as it
		// was, it would count from the move before this one.
		out = append(out, Refusal{RuleMove, fmt.Sprintf("spec.phase moved to %s but spec.phaseSince did not: the phase-stuck alert (spec.alerts) would count from the move before", cur.Spec.Phase),
			"move with `carousel advance`, which records it, or set spec.phaseSince to now (RFC 3339, UTC)"})
	}
	for _, fp := range base.Spec.Compromised {
		if !slices.Contains(cur.Spec.Compromised, fp) {
			out = append(out, Refusal{RuleCompromised, fmt.Sprintf("spec.compromised no longer lists %s: a CA marked compromised is never trusted again, and the mark is what keeps it out", fp),
				"restore the mark; a mark is never removed (its CA's material is gone once the rotation that replaced it is done)"})
		}
	}
	b, c := base.Spec, cur.Spec
	b.Phase, c.Phase = "", ""
	b.Step, c.Step = "", ""
	// A compromise may be marked at any phase, with the move that stops
	// trusting it (removals are refused above).
	b.Compromised, c.Compromised = nil, nil
	// spec.phaseSince records when the position changed: part of the move.
	b.PhaseSince, c.PhaseSince = spec.Timestamp{}, spec.Timestamp{}
	bj, _ := json.Marshal(b)
	cj, _ := json.Marshal(c)
	midFlight := base.Spec.Phase != phases.Steady && !promotion(base, cur)
	if !bytes.Equal(bj, cj) && midFlight {
		out = append(out, Refusal{RuleShape, fmt.Sprintf("the rotation's spec changed (beyond spec.phase) while it is at %s", base.Spec.Phase),
			"revert the spec change; change the rotation's shape only at steady, in its own pull request"})
	}
	if !bytes.Equal(bj, cj) && base.Spec.Phase != cur.Spec.Phase && !midFlight && !promotion(base, cur) {
		out = append(out, Refusal{RuleShape, "the spec changed in the same pull request as the phase",
			"split it: the spec change at steady first, then the phase move"})
	}
	return out
}

// checkMaterial allows material to change only the way `carousel start`
// (`renew`, `import`) changes it: at steady, in a pull request that does not
// move the phase, adding the next rotation's material without touching the
// material in use; or promoting a finished rotation's material.
func checkMaterial(base, cur *spec.CARotation, changed []string, baseSet, headSet *material.Set) []Refusal {
	list := strings.Join(changed, ", ")
	if promotion(base, cur) {
		// The finished rotation's new material must be the current one now.
		for id, fp := range fingerprints(baseSet, phases.New) {
			if got := fingerprints(headSet, phases.Old)[id]; got != fp {
				return []Refusal{{RuleMaterial, fmt.Sprintf("starting the next rotation must promote the finished one's new %s to current", id),
					"run `carousel start` on the finished rotation instead of editing material by hand"}}
			}
		}
		if r := keptCAID(baseSet, phases.New, headSet); r != nil {
			return []Refusal{*r}
		}
		return nil
	}
	if base.Spec.Phase != cur.Spec.Phase {
		return []Refusal{{RuleMaterial, fmt.Sprintf("material changed (%s) in the same pull request as a phase move", list),
			"commit `carousel start`/`renew`/`import` in its own pull request at steady, then advance"}}
	}
	if base.Spec.Phase != phases.Steady {
		return []Refusal{{RuleMaterial, fmt.Sprintf("material changed (%s) while the rotation is at %s: pods of this phase are using it", list, base.Spec.Phase),
			"revert the material change; roll back to steady (or finish the rotation) before making new material"}}
	}
	var out []Refusal
	headOld := fingerprints(headSet, phases.Old)
	for id, fp := range fingerprints(baseSet, phases.Old) {
		if got, ok := headOld[id]; !ok || got != fp {
			out = append(out, Refusal{RuleMaterial, fmt.Sprintf("the current (old) %s changed or disappeared: it is in use", id),
				"restore it from the base; `carousel start` only adds the next rotation's material"})
		}
	}
	if r := keptCAID(baseSet, phases.Old, headSet); r != nil {
		out = append(out, *r)
	}
	return out
}

// keptCAID refuses a change of the ID of the CA that was generation g in
// base and is the current (old) one in head: objects named after that CA
// (<secret>-<ID>, and what points at them) would be renamed while it lives.
func keptCAID(baseSet *material.Set, g phases.Generation, headSet *material.Set) *Refusal {
	was, ok := baseSet.CA[g]
	now, ok2 := headSet.CA[phases.Old]
	if !ok || !ok2 || pki.Fingerprint(was.Cert()) != pki.Fingerprint(now.Cert()) || was.CAID == now.CAID {
		return nil
	}
	return &Refusal{RuleMaterial, fmt.Sprintf("the ID of the current CA changed from %q to %q (%s): the objects named after it (<secret>-<ID>) would be renamed while it is in use", was.CAID, now.CAID, material.AnnotationCAID),
		"restore the annotation from the base; a CA keeps its ID for its whole life"}
}

func fingerprints(s *material.Set, g phases.Generation) map[string]string {
	out := map[string]string{}
	if k, ok := s.CA[g]; ok {
		out["CA"] = pki.Fingerprint(k.Cert())
	}
	for name, gens := range s.Leaves {
		if k, ok := gens[g]; ok {
			out["leaf "+name] = pki.Fingerprint(k.Cert())
		}
	}
	return out
}

// changedFiles lists files under dir that differ between base and the
// working tree, untracked ones included.
func changedFiles(cwd, base, dir string) ([]string, error) {
	top, _ := git(cwd, "rev-parse", "--show-toplevel")
	top = strings.TrimSpace(top)
	diff, err := git(top, "diff", "--name-only", base, "--", dir)
	if err != nil {
		return nil, err
	}
	untracked, err := git(top, "ls-files", "--others", "--exclude-standard", "--", dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range strings.Split(diff+untracked, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out, nil
}

// materialAt reads the KeyPairs of a rotation under dir at a git ref.
func materialAt(cwd, ref, dir, rotation string) (*material.Set, error) {
	top, _ := git(cwd, "rev-parse", "--show-toplevel")
	top = strings.TrimSpace(top)
	names, err := git(top, "ls-tree", "--name-only", ref, dir+"/")
	if err != nil {
		return material.NewSet(nil)
	}
	var pairs []material.KeyPair
	for _, f := range strings.Fields(names) {
		if !strings.HasSuffix(f, ".yaml") || strings.HasSuffix(f, "kustomization.yaml") {
			continue
		}
		text, err := git(top, "show", ref+":"+f)
		if err != nil {
			return nil, err
		}
		n, err := yaml.Parse(text)
		if err != nil || !material.IsKeyPair(n) || material.RotationOf(n) != rotation {
			continue
		}
		k, err := material.Parse(n)
		if err != nil {
			return nil, fmt.Errorf("%s at %s: %w", f, ref, err)
		}
		pairs = append(pairs, k)
	}
	return material.NewSet(pairs)
}

// stale compares the committed rendered output with a fresh build.
func stale(o Options, dir string) (*Refusal, error) {
	want, err := os.ReadFile(o.Rendered)
	if err != nil {
		return nil, err
	}
	bin := o.Kustomize
	if bin == "" {
		bin = "kustomize"
	}
	cmd := exec.Command(bin, "build", "--enable-alpha-plugins", "--enable-exec", dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("kustomize build %s: %v: %s", dir, err, stderr.String())
	}
	if bytes.Equal(stdout.Bytes(), want) {
		return nil, nil
	}
	return &Refusal{RuleStale, fmt.Sprintf("%s is not what the package renders now", o.Rendered),
		fmt.Sprintf("re-render and commit: kustomize build --enable-alpha-plugins --enable-exec %s > %s", dir, o.Rendered)}, nil
}

func git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}
