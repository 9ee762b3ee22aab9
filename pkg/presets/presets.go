// Package presets holds CARotation specs for the systems carousel knows
// (Linkerd, Istio, OSM, the kubeadm cluster and front-proxy CAs, NeuVector,
// RKE) as data: one embedded, commented YAML file each, whose spec writes out
// every field a reviewer needs (Secret names, keys and types, key algorithm
// and encoding, usages, bundles, restart rules and waves) instead of
// leaving them to defaults. `carousel init --preset NAME FILE` writes one
// as the package's CARotation, then init completes the package as it does
// for any CARotation file. Each preset is kept in step with the example of
// its system under examples/ (presets_test.go compares the specs), so a
// preset is a spec that the examples' tests run against the real systems.
package presets

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/atomicfile"
	"github.com/carousel-dev/carousel/pkg/rotate"
	"github.com/carousel-dev/carousel/pkg/spec"
)

//go:embed *.yaml
var files embed.FS

// Preset is one embedded CARotation.
type Preset struct {
	Name        string
	Description string // the file's leading "# description: " line
	YAML        []byte
}

// ListName is the --preset value that lists the presets instead of writing one.
const ListName = "list"

// All returns every preset, by name.
func All() []Preset {
	entries, err := files.ReadDir(".")
	if err != nil {
		panic(err) // the embedded directory always reads
	}
	var out []Preset
	for _, e := range entries {
		b, err := files.ReadFile(e.Name())
		if err != nil {
			panic(err)
		}
		out = append(out, Preset{Name: strings.TrimSuffix(e.Name(), ".yaml"), Description: description(b), YAML: b})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func description(b []byte) string {
	first, _, _ := bytes.Cut(b, []byte("\n"))
	return strings.TrimPrefix(string(first), "# description: ")
}

// Names are the presets' names, sorted.
func Names() []string {
	var out []string
	for _, p := range All() {
		out = append(out, p.Name)
	}
	return out
}

// Get returns the preset called name; an unknown name is an error that
// lists the known ones.
func Get(name string) (Preset, error) {
	for _, p := range All() {
		if p.Name == name {
			return p, nil
		}
	}
	return Preset{}, fmt.Errorf("no preset %q: the presets are %s (`carousel init --preset list` describes them)", name, strings.Join(Names(), ", "))
}

// metadataName is the preset's metadata.name line; every preset has it as
// the first field under metadata, which presets_test.go checks.
var metadataName = regexp.MustCompile(`(?m)^metadata:\n  name: [^\n]*\n`)

// Render returns the preset's file with metadata.name set to name (the
// preset's own when empty), its comments kept. The result is loaded by
// spec.Load, so a name the spec refuses is refused here, before any write.
func Render(p Preset, name string) ([]byte, error) {
	out := p.YAML
	if name != "" {
		if !metadataName.Match(out) {
			return nil, fmt.Errorf("preset %s: no metadata.name line to set", p.Name)
		}
		out = metadataName.ReplaceAll(out, []byte("metadata:\n  name: "+name+"\n"))
	}
	node, err := yaml.Parse(string(out))
	if err != nil {
		return nil, fmt.Errorf("preset %s: %w", p.Name, err)
	}
	if _, err := spec.Load(node); err != nil {
		return nil, fmt.Errorf("preset %s with name %q: %w", p.Name, name, err)
	}
	return out, nil
}

// Pending returns the preset as the CARotation file path is to hold, or
// nil when path holds it already (the same bytes, or the same bytes with
// the function annotation init adds: the rerun of an interrupted init). A
// different file is refused: it is never overwritten. Nothing is written:
// init writes the file (rotate.LoadPending) once everything it makes is
// made, so a refused init leaves nothing behind.
// The caller holds the package lock (rotate.Lock), so no other carousel
// command writes the file between the check and the write.
func Pending(path string, p Preset, name string) ([]byte, error) {
	out, err := Render(p, name)
	if err != nil {
		return nil, err
	}
	annotated, err := rotate.WithFunctionAnnotation(out)
	if err != nil {
		return nil, fmt.Errorf("preset %s: %w", p.Name, err)
	}
	existing, err := os.ReadFile(path)
	switch {
	case err == nil && (bytes.Equal(existing, out) || bytes.Equal(existing, annotated)):
		return nil, nil
	case err == nil:
		return nil, fmt.Errorf("%s exists and is not the preset %s: it is left as it is, not overwritten (choose another file, or run `carousel init %s` to complete a package that init --preset began)", path, p.Name, path)
	case !errors.Is(err, os.ErrNotExist):
		return nil, err
	}
	return out, nil
}

// Load is the package `carousel init` makes, under the package lock: the
// CARotation file path as it is (preset ""), or as the preset is to make
// it (Pending), which Init writes with the package.
func Load(path, preset, name string) (*rotate.Package, error) {
	var pending []byte
	if preset != "" {
		p, err := Get(preset)
		if err != nil {
			return nil, err
		}
		if pending, err = Pending(path, p, name); err != nil {
			return nil, err
		}
	}
	return rotate.LoadPending(path, pending)
}

// Write writes the preset as the CARotation file path, atomically, unless
// it holds it already (Pending).
func Write(path string, p Preset, name string) (written bool, err error) {
	out, err := Pending(path, p, name)
	if err != nil || out == nil {
		return false, err
	}
	if err := atomicfile.WriteFile(path, out, 0o644); err != nil {
		return false, err
	}
	return true, nil
}
