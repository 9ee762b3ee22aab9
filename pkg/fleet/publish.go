// Package fleet shares one rotation across packages owned by different
// teams or repositories: the owner publishes the rotation's public state
// (State, Publish), consumer packages render from it (gen.RenderConsumer)
// and report the phase they rendered (a marker annotation), and the owner
// advances only when every consumer has caught up (Lagging).
package fleet

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	k8syaml "sigs.k8s.io/yaml"

	"github.com/carousel-dev/carousel/pkg/atomicfile"
	"github.com/carousel-dev/carousel/pkg/fninput"
	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/rotate"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// State is the published state of a rendered phase. It is made from the
// render's own digests (gen.ConsumptionDigests), never recomputed here.
func State(rot *spec.CARotation, out gen.Output) spec.CARotationState {
	p := out.Published
	s := spec.CARotationState{
		APIVersion: spec.APIVersion,
		Kind:       spec.StateKind,
		Metadata:   spec.Metadata{Name: rot.Metadata.Name},
		Spec: spec.StateSpec{
			Scope:   rot.Spec.Scope,
			Phase:   out.State.Phase,
			Signer:  out.State.Signer,
			Trusted: string(pki.EncodeCerts(p.Trusted...)),
			Digests: maps.Clone(p.Digests),
		},
	}
	if out.Signer != nil {
		s.Spec.SignerFingerprint = pki.Fingerprint(out.Signer)
	}
	if len(out.Leaves) > 0 {
		s.Spec.Leaves = map[string]string{}
		for name, c := range out.Leaves {
			s.Spec.Leaves[name] = pki.Fingerprint(c)
		}
	}
	if len(p.Roots) > 0 {
		s.Spec.Roots = string(pki.EncodeCerts(p.Roots...))
	}
	if b := p.Baseline; b != nil {
		s.Spec.Baseline = &spec.StateBaseline{Trusted: string(pki.EncodeCerts(b.Trusted...)), Digests: maps.Clone(b.Digests), Promoted: slices.Clone(b.Promoted)}
	}
	return s
}

// header says what the file is and how it is made: reviewers of the
// owner's pull request see it change with the phase.
const header = "# The public state of a CA rotation, written by `carousel publish`: do not edit.\n" +
	"# Consumer packages (kind: CARotationConsumer) render from it; docs/fleet.md.\n"

// Marshal writes a state as YAML: keys sorted, PEM as literal blocks, so
// the same state is the same bytes on every run.
func Marshal(s spec.CARotationState) ([]byte, error) {
	b, err := k8syaml.Marshal(s)
	if err != nil {
		return nil, err
	}
	return append([]byte(header), b...), nil
}

// Render renders the owner's package at its phase and returns the state
// document `publish` writes. A phase that does not render publishes nothing.
func Render(file string, now time.Time) (*rotate.Package, []byte, error) {
	p, err := rotate.Load(file)
	if err != nil {
		return nil, nil, err
	}
	items, err := fninput.Build(file)
	if err != nil {
		return nil, nil, err
	}
	out := gen.Render(gen.Input{Rotation: p.Rotation, Config: p.Node, Items: items, Now: now})
	b, err := Document(p.Rotation, out)
	return p, b, err
}

// Document is the state document of a rendered phase of rot, refused
// when the phase does not render or has no public state yet.
func Document(rot *spec.CARotation, out gen.Output) ([]byte, error) {
	if out.Failed() {
		return nil, fmt.Errorf("phase %s does not render: %v", rot.Spec.Phase, out.Results)
	}
	if out.Published == nil {
		// Backend cert-manager before the phase's trusted CAs are in
		// git: refused rather than written half.
		return nil, fmt.Errorf("phase %s has no public state: the certificates of its trusted CA generations are not all in git yet; run `carousel pull` and commit the CACertificates it writes", rot.Spec.Phase)
	}
	return Marshal(State(rot, out))
}

// WriteState writes a state document to path, atomically, unless the file
// already holds it, and reports whether it changed.
func WriteState(path string, b []byte) (bool, error) {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, b) {
		return false, nil
	}
	return true, atomicfile.WriteFile(path, b, 0o644)
}

// writeStateKustomization makes the state's directory a kustomize package
// when it is not one yet (a kustomization listing the state file), so a
// consumer or a shared root's cluster lists the directory among its
// resources. One the owner wrote is left as it is.
func writeStateKustomization(state string) error {
	dir := filepath.Dir(state)
	for _, name := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return nil
		}
	}
	b := fmt.Sprintf("# The published state of a CA rotation as a kustomize package, written by\n# `carousel publish`: list this directory among a package's resources.\nresources:\n- %s\n", filepath.Base(state))
	return atomicfile.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(b), 0o644)
}

// Path is where the owner publishes: spec.publish, from the directory of
// the CARotation's file ("" when it does not publish).
func Path(p *rotate.Package) string {
	if p.Rotation.Spec.Publish == "" {
		return ""
	}
	return filepath.Join(filepath.Dir(p.File), filepath.FromSlash(p.Rotation.Spec.Publish))
}

// Publish writes the state to out (spec.publish when empty), atomically,
// and reports whether the file changed.
func Publish(file, out string, now time.Time) (string, bool, error) {
	p, b, err := Render(file, now)
	if err != nil {
		return "", false, err
	}
	own := out == ""
	if own {
		out = Path(p)
	}
	if out == "" {
		return "", false, fmt.Errorf("%s: set spec.publish (where the state goes, from this file's directory) or pass --out", file)
	}
	changed, err := WriteState(out, b)
	if err == nil && own {
		err = writeStateKustomization(out)
	}
	return out, changed, err
}

// Stale compares the published file with the state of a render of the
// package: "" when it is current (or the rotation does not publish), else
// why not.
func Stale(p *rotate.Package, out gen.Output) (string, error) {
	path := Path(p)
	if path == "" {
		return "", nil
	}
	b, err := Marshal(State(p.Rotation, out))
	if err != nil {
		return "", err
	}
	old, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return fmt.Sprintf("spec.publish names %s, which does not exist", p.Rotation.Spec.Publish), nil
	}
	if err != nil {
		return "", err
	}
	if !bytes.Equal(old, b) {
		return fmt.Sprintf("%s is not the state of phase %s as the package renders it: consumers would render another phase than the owner", p.Rotation.Spec.Publish, p.Rotation.Spec.Phase), nil
	}
	return "", nil
}
