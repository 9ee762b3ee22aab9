package rotate

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	goyaml "go.yaml.in/yaml/v3"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/atomicfile"
	"github.com/carousel-dev/carousel/pkg/cmbackend"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// Pull commits the public certificates of the rotation's in-cluster CA
// generations (cert-manager backend) as CACertificate files in the material
// directory, listed in its kustomization. Only certificates: the keys stay
// in the cluster. A generation already in git must be the very certificate
// the cluster holds: a name never changes meaning, so a different one is
// refused (the CA behind the name was replaced, its trust never reviewed).
// The files are written first and the kustomization last, atomically, so a
// kill leaves the package as it was or complete. It is the cert-manager
// backend's (pkg/backend calls it for no other).
func (p *Package) Pull(certs map[int]*x509.Certificate) (*Report, error) {
	if !p.Rotation.Spec.Backend.KeysInCluster() {
		return nil, fmt.Errorf("pull reads CA certificates cert-manager issued: %s uses backend %q, whose material is committed by carousel start", p.Rotation.Metadata.Name, p.Rotation.Spec.Backend)
	}
	st, err := p.materialState()
	if err != nil {
		return nil, err
	}
	rep := &Report{}
	nums := make([]int, 0, len(certs))
	for n := range certs {
		nums = append(nums, n)
	}
	sort.Ints(nums)
	var files []string
	for _, n := range nums {
		file := cmbackend.FileName(n)
		path := filepath.Join(p.MaterialDir(), file)
		if b, err := os.ReadFile(path); err == nil {
			old, err := yaml.Parse(string(b))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			prev, prob := cmbackend.Parse(old)
			if prob != nil {
				return nil, fmt.Errorf("%s: %s: %s", path, prob.Field, prob.Message)
			}
			if !prev.Cert.Equal(certs[n]) {
				return nil, fmt.Errorf("%s records CA generation %d as %s, but the cluster holds %s: the CA behind %s was replaced (a deleted Secret makes cert-manager issue a new key); its trust was never reviewed, so carousel does not record it: restore the Secret or start a new generation",
					path, n, cmbackend.Fingerprint(prev.Cert)[:16], cmbackend.Fingerprint(certs[n])[:16], cmbackend.GenerationName(p.Rotation.Metadata.Name, n))
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		} else {
			node, err := cmbackend.New(p.Rotation.Metadata.Name, n, certs[n])
			if err != nil {
				return nil, err
			}
			s, err := node.String()
			if err != nil {
				return nil, err
			}
			if err := os.MkdirAll(p.MaterialDir(), 0o755); err != nil {
				return nil, err
			}
			if err := atomicfile.WriteFile(path, []byte("# The public certificate of a CA generation cert-manager issued (carousel pull): no key.\n"+s), 0o644); err != nil {
				return nil, err
			}
			rep.Written = append(rep.Written, path)
		}
		files = append(files, file)
	}
	listed, err := p.listed()
	if err != nil {
		return nil, err
	}
	missing := slices.ContainsFunc(files, func(f string) bool { return !slices.Contains(listed, f) })
	if missing || len(listed) == 0 {
		if err := p.commit(rep, st, files); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// StartCertManager begins a rotation of the cert-manager backend: it
// announces generation old+1 in spec.certManager.generations.new. The CA
// itself is made by cert-manager once the steady phase with it is applied;
// `carousel pull` then commits its certificate, and trust-new renders.
func (p *Package) StartCertManager() error {
	cm := p.Rotation.Spec.CertManager
	if cm == nil {
		return errors.New("spec.certManager is not set")
	}
	if p.Rotation.Spec.Phase != phases.Steady {
		return fmt.Errorf("the rotation is at %s: a new generation starts from steady", p.Rotation.Spec.Phase)
	}
	if cm.Generations.New != 0 {
		return fmt.Errorf("generation %d is already announced: apply steady, run `carousel pull`, then advance", cm.Generations.New)
	}
	return p.setGenerations(cm.Generations.Old, cm.Generations.Old+1)
}

// FinishCertManager ends a finished rotation (at cleanup): the new
// generation becomes the one in use and the phase steady, in one atomic
// write. Nothing rendered changes: cleanup's objects are steady's.
func (p *Package) FinishCertManager() error {
	cm := p.Rotation.Spec.CertManager
	if cm == nil || cm.Generations.New == 0 || p.Rotation.Spec.Phase != phases.Cleanup {
		return errors.New("only a rotation at cleanup, with a new generation, can be finished")
	}
	return p.setGenerations(cm.Generations.New, 0, specField{"phase", string(phases.Steady)})
}

// setGenerations rewrites spec.certManager.generations (old, and new or no
// new for 0) in place, with the other fields, in one atomic write.
func (p *Package) setGenerations(old, new int, fields ...specField) error {
	b, err := os.ReadFile(p.File)
	if err != nil {
		return err
	}
	out, err := setGenerationsText(b, old, new)
	if err != nil {
		return fmt.Errorf("%s: %w", p.File, err)
	}
	for _, f := range fields {
		if out, err = setSpecScalar(out, f.key, f.value); err != nil {
			return fmt.Errorf("%s: %w", p.File, err)
		}
	}
	if err := atomicfile.WriteFile(p.File, out, 0o644); err != nil {
		return err
	}
	p.Rotation.Spec.CertManager.Generations = spec.CMGenerations{Old: old, New: new}
	for _, f := range fields {
		if f.key == "phase" {
			p.Rotation.Spec.Phase = phases.Phase(f.value)
		}
	}
	return nil
}

// setGenerationsText replaces the generations block mapping's lines by
// `old: N` (and `new: M`) at the same indentation.
func setGenerationsText(b []byte, old, new int) ([]byte, error) {
	root, err := carouselRoot(b)
	if err != nil {
		return nil, err
	}
	cm := field(field(root, "spec"), "certManager")
	gens := field(cm, "generations")
	if gens == nil || gens.Kind != goyaml.MappingNode || gens.Style&goyaml.FlowStyle != 0 || len(gens.Content) == 0 {
		return nil, errors.New("spec.certManager.generations must be a block mapping carousel can edit")
	}
	first, last := gens.Content[0].Line, gens.Content[len(gens.Content)-1].Line
	indent := strings.Repeat(" ", gens.Content[0].Column-1)
	lines := bytes.SplitAfter(b, []byte("\n"))
	repl := indent + "old: " + strconv.Itoa(old) + "\n"
	if new != 0 {
		repl += indent + "new: " + strconv.Itoa(new) + "\n"
	}
	out := slices.Concat(lines[:first-1], [][]byte{[]byte(repl)}, lines[last:])
	return bytes.Join(out, nil), nil
}
