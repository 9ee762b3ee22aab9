package kbuild

import (
	"fmt"
	"path/filepath"
	"slices"

	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// kust is one kustomization of the tree, as the build has it now.
type kust struct {
	dir, path string
	node      *yaml.RNode // its content (rewritten once its functions ran)
	component bool
	sort      *types.SortOptions
	// transformers are its transformer configs in kustomize's order:
	// inline entries first, then each file's and directory's, in turn.
	transformers  []*config
	generates     bool   // it, or a kustomization it includes, has generators (names may get a hash suffix)
	vars          string // a kustomization file at or below it declaring vars ("": none)
	buildMetadata bool
}

// walk reads the kustomization in dir and, first, every kustomization it
// includes; classifies every plugin config (refusing any program); and
// runs the functions of every kustomization that lists carousel's,
// bottom up, replacing it in the overlay by its output. For the root,
// when nothing follows its last function, the function's output finishes
// the build (b.finished).
func (b *builder) walk(dir string, isRoot bool) (k *kust, err error) {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, nil // kustomize says what is missing
	}
	if k, ok := b.kusts[real]; ok {
		return k, nil
	}
	if slices.Contains(b.visiting, real) {
		return nil, fmt.Errorf("%s: %w", dir, errCycle)
	}
	b.visiting = append(b.visiting, real)
	defer func() { b.visiting = b.visiting[:len(b.visiting)-1] }()

	kpath, ok := b.kustomizationFile(dir)
	if !ok {
		return nil, nil // kustomize's own error says so
	}
	raw, err := b.fs.ReadFile(kpath)
	if err != nil {
		return nil, err
	}
	var kt types.Kustomization
	if err := kt.Unmarshal(raw); err != nil {
		return nil, fmt.Errorf("%s: %w", kpath, err)
	}
	kt.FixKustomization()
	node, err := yaml.Parse(string(raw))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kpath, err)
	}
	k = &kust{
		dir: dir, path: kpath, node: node,
		component:     kt.Kind == types.ComponentKind,
		sort:          kt.SortOptions,
		generates:     len(kt.ConfigMapGenerator)+len(kt.SecretGenerator)+len(kt.Generators) > 0,
		buildMetadata: len(kt.BuildMetadata) > 0,
	}
	if len(kt.Vars) > 0 {
		k.vars = kpath
	}
	for _, p := range append(slices.Clone(kt.Resources), kt.Components...) {
		sub, err := b.entry(k, "resources", p)
		if err != nil {
			return nil, err
		}
		if sub != nil {
			k.generates = k.generates || sub.generates
			if k.vars == "" {
				k.vars = sub.vars
			}
		}
	}
	if _, err := b.configs(k, "generators", kt.Generators); err != nil {
		return nil, err
	}
	if _, err := b.configs(k, "validators", kt.Validators); err != nil {
		return nil, err
	}
	if k.transformers, err = b.configs(k, "transformers", kt.Transformers); err != nil {
		return nil, err
	}
	b.kusts[real] = k
	if !slices.ContainsFunc(k.transformers, func(c *config) bool { return c.fn != nil }) {
		return k, nil
	}
	switch {
	case k.component:
		return nil, fmt.Errorf("%s: a Component lists carousel's function: carousel build runs it only in a Kustomization", kpath)
	case k.vars != "":
		return nil, fmt.Errorf("%s: vars (deprecated since kustomize v5: use replacements) in a kustomization carousel's function builds on: carousel build resolves them before the function, kustomize after", k.vars)
	case isRoot && k.buildMetadata:
		return nil, fmt.Errorf("%s: buildMetadata: carousel build cannot say where resources came from across a function it ran in-process; remove buildMetadata (or build with kustomize)", kpath)
	}
	return k, b.materialize(k, isRoot)
}

// entry walks a resources (or components) entry when it is a directory.
// Anything that is neither a file nor a directory here is refused:
// kustomize would fetch it (with git, or over HTTP).
func (b *builder) entry(k *kust, field, p string) (*kust, error) {
	abs, isDir, err := b.local(k, field, p)
	if err != nil || !isDir {
		return nil, err
	}
	sub, err := b.walk(abs, false)
	return sub, err
}

// local resolves a path entry of k, refusing anything remote or absent.
func (b *builder) local(k *kust, field, p string) (abs string, isDir bool, err error) {
	remote := fmt.Errorf("%s: %s: %q is not a file or directory here: carousel build reads only this machine's files and fetches nothing (kustomize would, with git or HTTP); vendor it into the repository", k.path, field, p)
	if isRemote(p) {
		return "", false, remote
	}
	abs = p
	if !filepath.IsAbs(p) {
		abs = filepath.Join(k.dir, p)
	}
	isDir, ok := b.fs.exists(abs)
	if !ok {
		return "", false, remote
	}
	return abs, isDir, nil
}

// configs reads the plugin configs of a transformers, generators or
// validators list in kustomize's order (inline entries, then paths), and
// classifies each.
func (b *builder) configs(k *kust, field string, entries []string) ([]*config, error) {
	var inl, paths []*config
	for _, p := range entries {
		if rm, err := b.rmf.NewResMapFromBytes([]byte(p)); err == nil {
			for _, r := range rm.Resources() {
				inl = append(inl, &config{node: r.RNode.Copy(), from: k.path})
			}
			continue
		}
		abs, isDir, err := b.local(k, field, p)
		if err != nil {
			return nil, err
		}
		if isDir {
			sub, err := b.walk(abs, false)
			if err != nil {
				return nil, err
			}
			if sub == nil {
				return nil, fmt.Errorf("%s: %s: %s has no kustomization", k.path, field, abs)
			}
			nodes, err := b.accumulate(sub, sub.transformers)
			if err != nil {
				return nil, err
			}
			for _, n := range nodes {
				paths = append(paths, &config{node: n, from: sub.path})
			}
			continue
		}
		if err := b.loadable(k, abs); err != nil {
			return nil, err
		}
		data, err := b.fs.ReadFile(abs)
		if err != nil {
			return nil, err
		}
		rs, err := b.rmf.RF().SliceFromBytes(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", abs, err)
		}
		for _, r := range rs {
			paths = append(paths, &config{node: r.RNode.Copy(), from: abs})
		}
	}
	all := append(inl, paths...)
	for _, c := range all {
		fn, err := classify(c, field)
		if err != nil {
			return nil, err
		}
		c.fn = fn
		if fn != nil {
			b.functions = append(b.functions, c)
		}
	}
	return all, nil
}

// loadable refuses a file kustomize's loader would not read from k under
// LoadRestrictionsRootOnly (a config inlined into a rewritten
// kustomization would otherwise escape the check).
func (b *builder) loadable(k *kust, file string) error {
	if b.opts.LoadRestrictions != types.LoadRestrictionsRootOnly {
		return nil
	}
	root, _, err := b.fs.CleanedAbs(k.dir)
	if err != nil {
		return err
	}
	d, f, err := b.fs.CleanedAbs(file)
	if err != nil {
		return err
	}
	if !d.HasPrefix(root) {
		return fmt.Errorf("security; file '%s' is not in or below '%s'", filepath.Join(string(d), f), root)
	}
	return nil
}

// materialize runs k's transformers up to each carousel function with
// kustomize, the function in-process, and replaces k in the overlay by a
// kustomization of the output and the transformers after it. For the
// root, when nothing follows the last function, it finishes the build
// itself into b.finished.
func (b *builder) materialize(k *kust, isRoot bool) error {
	for {
		i := slices.IndexFunc(k.transformers, func(c *config) bool { return c.fn != nil })
		if i < 0 {
			return nil
		}
		before, fn, after := k.transformers[:i], k.transformers[i], k.transformers[i+1:]
		items, err := b.accumulate(k, before)
		if err != nil {
			return err
		}
		items, err = b.runFunction(fn, items)
		if err != nil {
			return err
		}
		if isRoot && len(after) == 0 && !b.opts.kustomizeFinish {
			out, ok, err := finish(k, items)
			if err != nil {
				return err
			}
			if ok {
				b.finished = &out
				return nil
			}
		}
		data, err := encode(items)
		if err != nil {
			return err
		}
		name := b.outputName(k.dir)
		if err := b.fs.set(name, data); err != nil {
			return err
		}
		if k.node, err = rest(k.node, filepath.Base(name), after); err != nil {
			return err
		}
		k.transformers = after
		s, err := k.node.String()
		if err != nil {
			return err
		}
		if err := b.fs.set(k.path, []byte(s)); err != nil {
			return err
		}
	}
}

// outputName is a new file name in dir for a function's output, on disk
// and in the overlay.
func (b *builder) outputName(dir string) string {
	for {
		b.outputs++
		p := filepath.Join(dir, fmt.Sprintf("carousel-build-output-%d.yaml", b.outputs))
		if _, ok := b.fs.exists(p); !ok {
			return p
		}
	}
}

// rest is the kustomization that stands for k once a function ran: the
// output as its only resource, then the transformers after the function;
// what kustomize applies after transformers or merges upwards
// (configurations, crds, openapi, sortOptions, buildMetadata) stays.
func rest(k *yaml.RNode, output string, after []*config) (*yaml.RNode, error) {
	r := yaml.NewMapRNode(nil)
	for _, f := range []string{"apiVersion", "kind"} {
		if v := k.Field(f); v != nil {
			if err := r.PipeE(yaml.SetField(f, v.Value)); err != nil {
				return nil, err
			}
		}
	}
	if err := r.PipeE(yaml.SetField("resources", yaml.NewListRNode(output))); err != nil {
		return nil, err
	}
	if len(after) > 0 {
		ts, err := inlineList(after)
		if err != nil {
			return nil, err
		}
		if err := r.PipeE(yaml.SetField("transformers", ts)); err != nil {
			return nil, err
		}
	}
	for _, f := range []string{"configurations", "crds", "openapi", "sortOptions", "buildMetadata"} {
		if v := k.Field(f); v != nil {
			if err := r.PipeE(yaml.SetField(f, v.Value)); err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}

// inlineList is a transformers list of inline entries, in order.
func inlineList(configs []*config) (*yaml.RNode, error) {
	seq := &yaml.Node{Kind: yaml.SequenceNode}
	for _, c := range configs {
		s, err := inline(c.node)
		if err != nil {
			return nil, err
		}
		seq.Content = append(seq.Content, &yaml.Node{Kind: yaml.ScalarNode, Style: yaml.LiteralStyle, Value: s})
	}
	return yaml.NewRNode(seq), nil
}

// Markers keep two annotations through the kustomize build that stands
// for the part of a kustomization before a function: a build as root
// drops local-config resources and puts hash suffixes on generated names
// at its end, where kustomize would do both only at the end of the whole
// build, after the function.
const (
	markLocal = "kbuild.carousel.dev/local-config"
	markHash  = "kbuild.carousel.dev/needs-hash-suffix"
	needsHash = "internal.config.kubernetes.io/needsHashSuffix"
	localCfg  = "config.kubernetes.io/local-config"
)

var keepLocal = `apiVersion: builtin
kind: PatchTransformer
metadata: {name: carousel-build-keep-local-config}
target: {annotationSelector: ` + localCfg + `}
patch: '[{"op": "move", "from": "/metadata/annotations/config.kubernetes.io~1local-config", "path": "/metadata/annotations/kbuild.carousel.dev~1local-config"}]'
`

// kustomize keeps its internal annotations through patches, but not
// through an annotations transformer: the one marks, the other disables.
var keepHash = []string{`apiVersion: builtin
kind: PatchTransformer
metadata: {name: carousel-build-keep-hash-suffix}
target: {annotationSelector: ` + needsHash + `=enabled}
patch: '[{"op": "add", "path": "/metadata/annotations/kbuild.carousel.dev~1needs-hash-suffix", "value": "enabled"}]'
`, `apiVersion: builtin
kind: AnnotationsTransformer
metadata: {name: carousel-build-hash-later}
annotations: {` + needsHash + `: later}
fieldSpecs: [{path: metadata/annotations, create: true}]
`}

// accumulate builds k as kustomize accumulates it inside a larger build,
// with configs as its transformers: its resources, generators, builtin
// transformers and configs, in kustomize's order; no local-config resource
// dropped, no hash suffix yet, no validators. kustomize's library builds
// it as root, so references are fixed and build annotations stripped
// here; the two that matter later come back from their markers.
func (b *builder) accumulate(k *kust, configs []*config) ([]*yaml.RNode, error) {
	extra := []string{keepLocal}
	if k.generates {
		extra = append(extra, keepHash...)
	}
	ts, err := inlineList(configs)
	if err != nil {
		return nil, err
	}
	for _, e := range extra {
		ts.YNode().Content = append(ts.YNode().Content, &yaml.Node{Kind: yaml.ScalarNode, Style: yaml.LiteralStyle, Value: e})
	}
	node := k.node.Copy()
	if err := node.PipeE(yaml.SetField("transformers", ts)); err != nil {
		return nil, err
	}
	for _, f := range []string{"validators", "buildMetadata", "sortOptions"} {
		if _, err := node.Pipe(yaml.Clear(f)); err != nil {
			return nil, err
		}
	}
	if err := node.PipeE(yaml.SetField("sortOptions", yaml.MustParse("order: fifo"))); err != nil {
		return nil, err
	}
	s, err := node.String()
	if err != nil {
		return nil, err
	}
	prev, hadPrev := b.fs.virtualBytes(k.path)
	if err := b.fs.set(k.path, []byte(s)); err != nil {
		return nil, err
	}
	m, err := b.run(k.dir)
	if hadPrev {
		_ = b.fs.set(k.path, prev)
	} else {
		b.fs.unset(k.path)
	}
	if err != nil {
		return nil, err
	}
	items := make([]*yaml.RNode, 0, m.Size())
	for _, r := range m.Resources() {
		n := &r.RNode
		if err := restore(n, k.generates); err != nil {
			return nil, err
		}
		items = append(items, n)
	}
	return items, nil
}

// restore moves the markers back to kustomize's annotations.
func restore(n *yaml.RNode, hash bool) error {
	a := n.GetAnnotations()
	changed := false
	if v, ok := a[markLocal]; ok {
		a[localCfg] = v
		delete(a, markLocal)
		changed = true
	}
	if hash {
		if _, ok := a[needsHash]; ok {
			delete(a, needsHash)
			changed = true
		}
		if v, ok := a[markHash]; ok {
			a[needsHash] = v
			delete(a, markHash)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return n.SetAnnotations(a)
}

// sortOrder reports the root's final order: legacy (kustomize's default),
// fifo, or "" for one finish cannot reproduce (custom legacy lists).
func sortOrder(s *types.SortOptions) string {
	switch {
	case s == nil, s.Order == types.LegacySortOrder && s.LegacySortOptions == nil:
		return "legacy"
	case s.Order == types.FIFOSortOrder:
		return "fifo"
	}
	return ""
}
