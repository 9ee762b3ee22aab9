package kbuild

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/fn/runtime/runtimeutil"
	"sigs.k8s.io/kustomize/kyaml/resid"
	"sigs.k8s.io/kustomize/kyaml/yaml"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/krmio"
	"github.com/carousel-dev/carousel/pkg/sops"
)

// function is one of carousel's KRM functions, as a config names it.
type function struct {
	decrypt bool   // `carousel decrypt`; else the rotation's render (gen.Function)
	runs    string // what kustomize would run: "exec carousel", "container IMAGE"
}

// config is a plugin config of a kustomization's transformers (or
// generators, validators) as kustomize loads it.
type config struct {
	node *yaml.RNode
	from string    // the file it was read from (the kustomization, for an inline entry)
	fn   *function // carousel's function; nil for a builtin plugin
}

func (c *config) String() string {
	return fmt.Sprintf("%s %s %q", c.node.GetApiVersion(), c.node.GetKind(), c.node.GetName())
}

// classify says whether a config is one of kustomize's builtin plugins
// (nil) or one of carousel's functions, and refuses anything else: a
// function that runs another program or container, or a plugin kustomize
// would look up as a program in its plugin directory.
func classify(c *config, field string) (*function, error) {
	gvk := resid.GvkFromNode(c.node)
	if gvk.Group == "" && gvk.Version == konfig.BuiltinPluginApiVersion {
		return nil, nil
	}
	refuse := func(what string) error {
		return fmt.Errorf("%s: %s: %s %s: carousel build runs carousel's own functions in-process and no other program (not even with --enable-exec)", c.from, field, c, what)
	}
	spec, err := runtimeutil.GetFunctionSpec(c.node)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %s: %w", c.from, field, c, err)
	}
	if spec == nil {
		return nil, refuse("is neither a builtin plugin nor a KRM function: kustomize would run it as a plugin program from its plugin directory")
	}
	var fn *function
	if p := spec.Exec.Path; p != "" {
		if filepath.Base(p) != "carousel" {
			return nil, refuse(fmt.Sprintf("runs the program %s", p))
		}
		switch {
		case len(spec.Exec.Args) == 0:
			fn = &function{runs: "exec " + p}
		case slices.Equal(spec.Exec.Args, []string{"decrypt"}):
			fn = &function{decrypt: true, runs: "exec " + p + " decrypt"}
		default:
			return nil, refuse(fmt.Sprintf("runs `%s %s`, which is not one of carousel's functions", p, strings.Join(spec.Exec.Args, " ")))
		}
		if len(spec.Exec.Env) > 0 {
			return nil, refuse("sets envs for its program: carousel's functions run in carousel build's own process, with its environment")
		}
	}
	if img := spec.Container.Image; img != "" {
		if imageName(img) != "carousel" {
			return nil, refuse(fmt.Sprintf("runs the container image %s", img))
		}
		if fn == nil {
			fn = &function{runs: "container " + img}
		}
		if len(spec.Container.Env) > 0 {
			return nil, refuse("sets envs for its container: carousel's functions run in carousel build's own process, with its environment")
		}
	}
	if fn == nil {
		return nil, refuse("names no exec path and no container image")
	}
	if field != "transformers" {
		return nil, fmt.Errorf("%s: %s: %s is carousel's function, a transformer: list it under transformers", c.from, field, c)
	}
	return fn, nil
}

// imageName is an image reference's repository name without registry,
// path, tag or digest: "ghcr.io/carousel-dev/carousel:v0.1.0" is
// "carousel".
func imageName(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	ref = ref[strings.LastIndex(ref, "/")+1:]
	ref, _, _ = strings.Cut(ref, ":")
	return ref
}

// runFunction runs c's function in-process on items, as kustomize runs an
// exec function: the config as kustomize hands it over (through JSON,
// marked local-config), the items as kustomize holds them. It returns the
// items in kustomize's order after a function (what it kept where it was,
// then what it added, in its order).
func (b *builder) runFunction(c *config, items []*yaml.RNode) ([]*yaml.RNode, error) {
	j, err := c.node.MarshalJSON()
	if err != nil {
		return nil, err
	}
	y, err := sigsyaml.JSONToYAML(j)
	if err != nil {
		return nil, err
	}
	cfg, err := yaml.Parse(string(y))
	if err != nil {
		return nil, err
	}
	if err := cfg.PipeE(yaml.SetAnnotation(konfig.IgnoredByKustomizeAnnotation, "true")); err != nil {
		return nil, err
	}
	var p framework.ResourceListProcessor
	if c.fn.decrypt {
		// The pinned sops from the environment (CAROUSEL_SOPS, beside
		// carousel, PATH), never a program the repository names.
		bin, err := sops.Binary()
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", c.from, c, err)
		}
		p = sops.DecryptFunction(bin)
	} else {
		p = gen.Function(b.opts.Now)
	}
	in := make([]string, len(items))
	for i, n := range items {
		in[i] = idKey(n)
	}
	rl := &framework.ResourceList{Items: items, FunctionConfig: cfg}
	fnErr, err := krmio.Process(p, rl)
	if err != nil {
		return nil, err
	}
	if b.opts.Warnings != nil {
		krmio.WriteWarnings(b.opts.Warnings, rl.Results)
	}
	if fnErr != nil {
		return nil, fmt.Errorf("%s: %s (%s) failed: %w", c.from, c, c.fn.runs, fnErr)
	}
	return reconcile(in, rl.Items, c)
}

// idKey is a resource's ID as kustomize compares them (ResId.Equals: no
// namespace and "default" are the same for namespaced kinds).
func idKey(n *yaml.RNode) string {
	id := resid.FromRNode(n)
	return id.Gvk.String() + "|" + id.EffectiveNamespace() + "|" + id.Name
}

// reconcile orders a function's output as kustomize's resource map holds
// it after an exec function: every input item the function returned stays
// at its place with the function's content, items it did not return are
// gone, and new items follow in the function's order. Empty items are
// dropped, as kustomize drops them after every transformer.
func reconcile(in []string, out []*yaml.RNode, c *config) ([]*yaml.RNode, error) {
	pos := make(map[string]int, len(in))
	for i, k := range in {
		pos[k] = i
	}
	kept := make([]*yaml.RNode, len(in))
	var added []*yaml.RNode
	seen := make(map[string]bool, len(out))
	for _, n := range out {
		if n.IsNilOrEmpty() {
			continue
		}
		k := idKey(n)
		if seen[k] {
			return nil, fmt.Errorf("%s: %s returned %s %s/%s twice", c.from, c, n.GetKind(), n.GetNamespace(), n.GetName())
		}
		seen[k] = true
		if i, ok := pos[k]; ok {
			kept[i] = n
		} else {
			added = append(added, n)
		}
	}
	res := make([]*yaml.RNode, 0, len(out))
	for _, n := range kept {
		if n != nil {
			res = append(res, n)
		}
	}
	return append(res, added...), nil
}
