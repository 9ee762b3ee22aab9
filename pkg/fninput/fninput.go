// Package fninput builds, in-process, the input kustomize hands the carousel
// function for a package: the resources the package's kustomization builds,
// with every transformer listed before the carousel entry applied.
//
// Why: `plan`, `check` and `status` render the phase themselves (to compare
// phases, to refuse a change, to compare with the cluster). They must render
// exactly what `kustomize build` renders, or they plan an unlisted file, miss
// a `../` base, or read a rendered output saved in the folder as input. So
// they ask kustomize (its library, sigs.k8s.io/kustomize/api, the version the
// pinned kustomize CLI is built from) rather than walk the folder.
//
// The build runs on the real filesystem with one file replaced in memory:
// the package's kustomization, with the carousel transformer entry and every
// later transformer removed (they run after the function), and with
// validators and sortOptions removed (they run after transformers). Nothing
// on disk changes and no binary runs.
package fninput

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Build returns the function's input for the package whose kustomization
// lists file (a CARotation) under `transformers:`: the kustomization in
// file's directory.
//
// Items come as the function reads them: in kustomize's accumulation order,
// each re-encoded the way kustomize encodes resources for a function (keys
// in JSON order; SOPS values untouched). kustomize's bookkeeping
// annotations on the wire (config.k8s.io/id, config.kubernetes.io/index)
// are left out: the function does not read them, and kustomize strips them
// from its output.
//
// Known differences from a real run, all after the function in kustomize's
// order and so invisible to it but visible here: generated names carry
// their hash suffix, and resources marked config.kubernetes.io/local-config
// are dropped. Helm charts are not inflated (kustomize needs --enable-helm
// and a helm binary for them too); a package using helmCharts fails here
// with kustomize's own error.
func Build(file string) ([]*yaml.RNode, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(abs)
	kfile, err := kustomizationIn(dir)
	if err != nil {
		return nil, err
	}
	orig, err := os.ReadFile(kfile)
	if err != nil {
		return nil, err
	}
	upTo, err := withoutFunction(orig, dir, abs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kfile, err)
	}
	opts := krusty.MakeDefaultOptions()
	// What `kustomize build --enable-alpha-plugins --enable-exec` runs with,
	// the command the docs give: transformers before carousel may be functions.
	opts.PluginConfig = types.EnabledPluginConfig(types.BploUseStaticallyLinked)
	opts.PluginConfig.FnpLoadingOptions.EnableExec = true
	opts.PluginConfig.HelmConfig.Enabled = false
	opts.Reorder = krusty.ReorderOptionNone
	fs := overlay{FileSystem: filesys.MakeFsOnDisk(), path: kfile, data: upTo}
	m, err := krusty.MakeKustomizer(opts).Run(fs, dir)
	if err != nil {
		return nil, fmt.Errorf("building %s without its carousel transformer: %w", dir, err)
	}
	b, err := m.AsYaml()
	if err != nil {
		return nil, err
	}
	nodes, err := (&kio.ByteReader{Reader: bytes.NewReader(b), OmitReaderAnnotations: true}).Read()
	if err != nil {
		return nil, fmt.Errorf("reading the build of %s: %w", dir, err)
	}
	return nodes, nil
}

// kustomizationIn finds the kustomization file of dir, by kustomize's names.
func kustomizationIn(dir string) (string, error) {
	for _, name := range konfig.RecognizedKustomizationFileNames() {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s has no kustomization.yaml: carousel reads the package kustomize builds; add one listing the resources, the material and the CARotation under transformers (see `carousel init`)", dir)
}

// withoutFunction returns the kustomization with the transformer entry that
// names file, and every entry after it, removed, and with what runs after
// transformers (validators, sortOptions) removed. Comments and the other
// fields are kept as they are.
func withoutFunction(kust []byte, dir, file string) ([]byte, error) {
	k, err := yaml.Parse(string(kust))
	if err != nil {
		return nil, err
	}
	ts := k.Field("transformers")
	idx := -1
	if ts != nil && ts.Value.YNode().Kind == yaml.SequenceNode {
		for i, e := range ts.Value.YNode().Content {
			if e.Kind != yaml.ScalarNode || strings.Contains(e.Value, "\n") {
				continue // an inline transformer config
			}
			if samePath(filepath.Join(dir, e.Value), file) {
				idx = i
				break
			}
		}
	}
	if idx < 0 {
		return nil, fmt.Errorf("no transformers entry names %s: kustomize would not run carousel for this package; list it under transformers (or point carousel at the CARotation file the package lists)", filepath.Base(file))
	}
	ts.Value.YNode().Content = ts.Value.YNode().Content[:idx]
	for _, f := range []string{"validators", "sortOptions"} {
		if _, err := k.Pipe(yaml.Clear(f)); err != nil {
			return nil, err
		}
	}
	s, err := k.String()
	if err != nil {
		return nil, err
	}
	return []byte(s), nil
}

// overlay is the filesystem on disk with one file's content replaced.
type overlay struct {
	filesys.FileSystem
	path string
	data []byte
}

func (o overlay) ReadFile(path string) ([]byte, error) {
	if o.is(path) {
		return bytes.Clone(o.data), nil
	}
	return o.FileSystem.ReadFile(path)
}

func (o overlay) Open(path string) (filesys.File, error) {
	if o.is(path) {
		mem := filesys.MakeFsInMemory()
		if err := mem.WriteFile("/k", o.data); err != nil {
			return nil, err
		}
		return mem.Open("/k")
	}
	return o.FileSystem.Open(path)
}

func (o overlay) is(path string) bool {
	return samePath(path, o.path)
}

// samePath compares two paths after resolving symlinks, as kustomize's
// loader resolves them (a temporary directory is often behind one).
func samePath(a, b string) bool {
	ra, errA := filepath.EvalSymlinks(a)
	rb, errB := filepath.EvalSymlinks(b)
	if errA != nil || errB != nil {
		return filepath.Clean(a) == filepath.Clean(b)
	}
	return ra == rb
}
