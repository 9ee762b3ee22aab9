package kbuild

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/provider"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/yaml"
	sigsyaml "sigs.k8s.io/yaml"
)

// KustomizeVersion is the kustomize release whose library (api v0.21.2)
// carousel build runs: the same as hack/tools.sh pins for the tests.
const KustomizeVersion = "v5.8.2"

// Options are the kustomize build flags carousel build honours, and what
// its in-process functions need.
type Options struct {
	// LoadRestrictions is kustomize's --load-restrictor (the zero value is
	// kustomize's default, LoadRestrictionsRootOnly).
	LoadRestrictions types.LoadRestrictions
	// Now is the clock of the rotation function's expiry warnings.
	Now func() (time.Time, error)
	// Warnings receives the functions' warnings, one line each, as
	// kustomize passes an exec function's stderr through (nil: dropped).
	Warnings io.Writer

	// kustomizeFinish makes the root always finish with kustomize's own
	// build, never in-process (tests compare the two).
	kustomizeFinish bool
}

// Build builds the kustomization in dir as `kustomize build
// --enable-alpha-plugins --enable-exec dir` would, running carousel's
// functions in-process and no program at all; see the package doc.
func Build(dir string, o Options) ([]byte, error) {
	if o.LoadRestrictions == types.LoadRestrictionsUnknown {
		o.LoadRestrictions = types.LoadRestrictionsRootOnly
	}
	if o.Now == nil {
		o.Now = func() (time.Time, error) { return time.Now(), nil }
	}
	if isRemote(dir) {
		return nil, fmt.Errorf("%s: carousel build builds a directory of this machine, never a remote one (kustomize would fetch it with git)", dir)
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	b := &builder{
		opts:  o,
		fs:    newOverlayFS(),
		rmf:   resmap.NewFactory(provider.NewDefaultDepProvider().GetResourceFactory()),
		kusts: map[string]*kust{},
	}
	k, err := b.walk(root, true)
	if err != nil {
		return nil, err
	}
	if b.finished != nil {
		return *b.finished, nil
	}
	if k != nil && len(b.functions) > 0 && k.buildMetadata {
		return nil, fmt.Errorf("%s: buildMetadata: carousel build cannot say where resources came from across a function it ran in-process; remove buildMetadata (or build with kustomize)", k.path)
	}
	m, err := b.run(root)
	if err != nil {
		return nil, err
	}
	return m.AsYaml()
}

// builder holds one build's state: the overlay the rewritten
// kustomizations live in, and every kustomization walked.
type builder struct {
	opts      Options
	fs        *overlayFS
	rmf       *resmap.Factory
	kusts     map[string]*kust // by directory (symlinks resolved)
	visiting  []string
	functions []*config // every carousel function found
	outputs   int       // virtual output files written
	// finished is the whole build when the root's last function finished
	// it (finish), possibly empty; nil when kustomize builds the overlay.
	finished *[]byte
}

// run builds dir with kustomize's library on the overlay: builtin
// transformers and generators only (any other plugin is an error, the
// guard behind the walk's refusals), no Helm, the caller's load
// restrictions, and the CLI's default order (the kustomization's
// sortOptions, else legacy).
func (b *builder) run(dir string) (resmap.ResMap, error) {
	opts := &krusty.Options{
		Reorder:          krusty.ReorderOptionUnspecified,
		LoadRestrictions: b.opts.LoadRestrictions,
		PluginConfig:     types.DisabledPluginConfig(),
	}
	return krusty.MakeKustomizer(opts).Run(b.fs, dir)
}

// kustomizationFile finds dir's kustomization file by kustomize's names.
func (b *builder) kustomizationFile(dir string) (string, bool) {
	for _, name := range konfig.RecognizedKustomizationFileNames() {
		p := filepath.Join(dir, name)
		if isDir, ok := b.fs.exists(p); ok && !isDir {
			return p, true
		}
	}
	return "", false
}

// isRemote reports whether a kustomization entry names something kustomize
// would fetch (a git repository or a URL) rather than read here.
func isRemote(p string) bool {
	return strings.Contains(p, "://") || strings.HasPrefix(p, "git@") ||
		strings.HasPrefix(p, "github.com/") || strings.HasPrefix(p, "gitlab.com/") ||
		strings.HasPrefix(p, "bitbucket.org/")
}

// inline is a transformer config as a kustomization's inline entry: its
// YAML as kustomize hands configs to plugins (through JSON: keys sorted).
func inline(n *yaml.RNode) (string, error) {
	j, err := n.MarshalJSON()
	if err != nil {
		return "", err
	}
	y, err := sigsyaml.JSONToYAML(j)
	return string(y), err
}

// encode writes nodes as a multi-document YAML stream.
func encode(nodes []*yaml.RNode) ([]byte, error) {
	var buf bytes.Buffer
	for i, n := range nodes {
		if i > 0 {
			buf.WriteString("---\n")
		}
		s, err := n.String()
		if err != nil {
			return nil, err
		}
		buf.WriteString(s)
	}
	return buf.Bytes(), nil
}

var errCycle = errors.New("a kustomization includes itself")
