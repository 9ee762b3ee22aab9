package rotate

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/atomicfile"
	"github.com/carousel-dev/carousel/pkg/krmio"
	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// Package is a CARotation file and the material directory beside it.
type Package struct {
	// File is the path of the file holding the CARotation.
	File     string
	Node     *yaml.RNode
	Rotation *spec.CARotation
	// unwritten holds the CARotation file's bytes while the file does not
	// exist yet (init --preset): init writes it with the package.
	unwritten []byte
}

// MaterialDir is the absolute material directory.
func (p *Package) MaterialDir() string {
	return filepath.Join(filepath.Dir(p.File), p.Rotation.Spec.MaterialDir)
}

// Load reads and validates the CARotation in file.
func Load(file string) (*Package, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return load(file, b)
}

// LoadPending validates the CARotation file b, which file is to hold and
// does not yet (init --preset): Init writes it, after everything it makes
// is made, so a refused init writes nothing. A nil b is Load.
func LoadPending(file string, b []byte) (*Package, error) {
	if b == nil {
		return Load(file)
	}
	p, err := load(file, b)
	if err != nil {
		return nil, err
	}
	p.unwritten = b
	return p, nil
}

// specBytes is the CARotation file's content.
func (p *Package) specBytes() ([]byte, error) {
	if p.unwritten != nil {
		return p.unwritten, nil
	}
	return os.ReadFile(p.File)
}

func load(file string, b []byte) (*Package, error) {
	nodes, err := (&kio.ByteReader{Reader: bytes.NewReader(b), OmitReaderAnnotations: true}).Read()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var found *yaml.RNode
	for _, n := range nodes {
		if id := krmio.Identity(n); id.Kind == spec.Kind && id.APIVersion == spec.APIVersion {
			if found != nil {
				return nil, fmt.Errorf("%s holds more than one CARotation", file)
			}
			found = n
		}
	}
	if found == nil {
		return nil, fmt.Errorf("%s holds no %s %s", file, spec.APIVersion, spec.Kind)
	}
	rot, err := spec.Load(found)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return &Package{File: file, Node: found, Rotation: rot}, nil
}

// Material reads the KeyPairs of the rotation that material/kustomization.yaml
// lists: exactly what kustomize hands the function. Files it does not list
// are leftovers of an interrupted command, invisible until a rerun
// completes or removes them.
func (p *Package) Material() (*material.Set, error) {
	st, err := p.materialState()
	if err != nil {
		return nil, err
	}
	return st.set, nil
}

// materialState is the committed material: the pairs, the file each one
// is listed under, and the other entries of the kustomization (kept as
// they are when carousel rewrites it).
type materialState struct {
	set    *material.Set
	files  map[string]material.KeyPair // listed file -> pair
	others []string
}

const kustomizationFile = "kustomization.yaml"

func (p *Package) materialState() (*materialState, error) {
	st := &materialState{files: map[string]material.KeyPair{}}
	entries, err := p.listed()
	if err != nil {
		return nil, err
	}
	var pairs []material.KeyPair
	for _, e := range entries {
		path := filepath.Join(p.MaterialDir(), e)
		if fi, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			// Listed but gone (deleted by hand): not material. kustomize
			// says so when it builds; the next commit drops the entry.
			continue
		} else if err != nil {
			return nil, err
		} else if fi.IsDir() || !strings.HasSuffix(e, ".yaml") {
			st.others = append(st.others, e)
			continue
		}
		n, err := yaml.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if err := krmio.CheckShape(n); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if !material.IsKeyPair(n) || material.RotationOf(n) != p.Rotation.Metadata.Name {
			st.others = append(st.others, e)
			continue
		}
		k, err := material.Parse(n)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		st.files[e] = k
		pairs = append(pairs, k)
	}
	if st.set, err = material.NewSet(pairs); err != nil {
		return nil, err
	}
	return st, nil
}

// listed returns the resources of material/kustomization.yaml (none when
// it does not exist yet).
func (p *Package) listed() ([]string, error) {
	path := filepath.Join(p.MaterialDir(), kustomizationFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var k struct {
		Resources []string `yaml:"resources"`
	}
	if err := yaml.Unmarshal(b, &k); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k.Resources, nil
}

// commit rewrites material/kustomization.yaml to list exactly these KeyPair
// files (and the other entries it listed): the single atomic step at which
// material appears in, or leaves, what kustomize builds.
func (p *Package) commit(rep *Report, st *materialState, pairFiles []string) error {
	files := slices.Concat(st.others, pairFiles)
	slices.Sort(files)
	files = slices.Compact(files)
	var b strings.Builder
	b.WriteString("# Written by carousel: the key material of rotation " + p.Rotation.Metadata.Name + ".\n")
	b.WriteString("# The carousel function consumes these KeyPairs; they never reach the cluster.\n")
	b.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n")
	if len(files) == 0 {
		b.WriteString("resources: []\n") // backend cert-manager before its first pull
	} else {
		b.WriteString("resources:\n")
	}
	for _, f := range files {
		b.WriteString("- " + f + "\n")
	}
	path := filepath.Join(p.MaterialDir(), kustomizationFile)
	if err := atomicfile.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return err
	}
	addOnce(&rep.Written, path)
	return nil
}

// pairFile matches the names carousel gives KeyPair files.
var pairFile = regexp.MustCompile(`^(ca|cross|leaf-.+)-(old|new)\.yaml$`)

// cleanLeftovers removes, after a commit, the KeyPair files the material
// kustomization no longer lists (what an interrupted run, or a promotion,
// left behind) and interrupted temporary files. Nothing removed here is
// built, so the removals change no output.
func (p *Package) cleanLeftovers(rep *Report) error {
	listed, err := p.listed()
	if err != nil {
		return err
	}
	entries, err := os.ReadDir(p.MaterialDir())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, e := range entries {
		if e.IsDir() || !pairFile.MatchString(e.Name()) || slices.Contains(listed, e.Name()) {
			continue
		}
		path := filepath.Join(p.MaterialDir(), e.Name())
		if err := atomicfile.Remove(path); err != nil {
			return err
		}
		rep.Removed = append(rep.Removed, path)
	}
	return p.cleanTemps(rep)
}

// cleanTemps removes the temporary files of interrupted writes.
func (p *Package) cleanTemps(rep *Report) error {
	for _, dir := range []string{filepath.Dir(p.File), p.MaterialDir(), p.PendingDir()} {
		removed, err := atomicfile.CleanTemps(dir)
		rep.Removed = append(rep.Removed, removed...)
		if err != nil {
			return err
		}
	}
	return nil
}

func addOnce(list *[]string, s string) {
	if !slices.Contains(*list, s) {
		*list = append(*list, s)
	}
}
