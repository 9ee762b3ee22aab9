// Package krmio runs a KRM function like kyaml's framework.Execute, but
// writes the output ResourceList one item at a time.
//
// Why: framework.Execute hands the whole output document to one YAML
// encoder, whose emitter keeps an event queue for the entire document. For
// large packages that queue is most of a function's time and memory (on
// this machine, 10,000 Deployments: ~40 s and ~4.6 GiB for a do-nothing
// function; see docs/performance.md). Encoding each item on its own, in
// the same context (a sequence under `items:`), produces the same bytes
// while the emitter only ever holds one item.
//
// Reading, annotation bookkeeping and results are kyaml's own code paths,
// so behaviour other than memory and time is the framework's.
package krmio

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Execute reads a ResourceList from r, runs p, and streams the result to w.
// Like framework.Execute, it writes the output (with results) even when the
// processor fails, and returns the processor's error.
func Execute(p framework.ResourceListProcessor, r io.Reader, w io.Writer) error {
	return ExecuteWarn(p, r, w, nil)
}

// ExecuteWarn is Execute that also writes each warning result to warn, one
// line each, as people read them. Orchestrators keep the results in the
// output, where nobody looks: kustomize never prints them, while it passes
// an exec function's stderr through, and so do kpt and Argo CD's
// repo-server log. A nil warn writes nothing.
func ExecuteWarn(p framework.ResourceListProcessor, r io.Reader, w, warn io.Writer) error {
	return run(p, r, w, warn)
}

func run(p framework.ResourceListProcessor, r io.Reader, w, warn io.Writer) error {
	rw := &kio.ByteReadWriter{Reader: r, KeepReaderAnnotations: true}
	rl := framework.ResourceList{}
	var err error
	if rl.Items, err = rw.Read(); err != nil {
		err = fmt.Errorf("failed to read ResourceList input: %w", err)
		// Still a ResourceList on stdout, with the error as its result, for
		// orchestrators that read results rather than stderr.
		res := framework.Results{{Severity: framework.Error, Message: err.Error()}}
		if werr := writeResults(w, res); werr != nil {
			return werr
		}
		return err
	}
	rl.FunctionConfig = rw.FunctionConfig
	retErr, err := Process(p, &rl)
	if err != nil {
		return err
	}
	if warn != nil {
		WriteWarnings(warn, rl.Results)
	}
	results, err := resultsNode(rl.Results)
	if err != nil {
		return err
	}
	kind, apiVersion := rw.WrappingKind, rw.WrappingAPIVersion
	if kind == "" {
		kind, apiVersion = kio.ResourceListKind, kio.ResourceListAPIVersion
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	if err := Write(bw, apiVersion, kind, rl.Items, rl.FunctionConfig, results); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return retErr
}

// Process runs p on a ResourceList already in memory, with the
// bookkeeping a function run by kustomize gets around it: items kyaml
// would panic on are reported instead (the processor never runs, and no
// items are left), and kyaml's internal annotations are migrated before
// and reconciled after, as framework.Execute does. fnErr is the
// processor's verdict (its results, when it fails); err is a failure of
// the bookkeeping itself. `carousel build` runs the functions through it
// in-process (pkg/kbuild); Execute runs it between reading and writing.
func Process(p framework.ResourceListProcessor, rl *framework.ResourceList) (fnErr, err error) {
	if bad := CheckItems(rl.Items); len(bad) > 0 {
		rl.Results, rl.Items = append(rl.Results, bad...), nil
		return bad, nil
	}
	nodeAnnos, err := kio.PreprocessResourcesForInternalAnnotationMigration(rl.Items)
	if err != nil {
		return nil, err
	}
	fnErr = p.Process(rl)
	if err := kio.ReconcileInternalAnnotations(rl.Items, nodeAnnos); err != nil {
		return nil, err
	}
	return fnErr, nil
}

func resultsNode(rs framework.Results) (*yaml.RNode, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	b, err := yaml.Marshal(rs)
	if err != nil {
		return nil, err
	}
	return yaml.Parse(string(b))
}

// writeResults writes a ResourceList with no items and these results.
func writeResults(w io.Writer, rs framework.Results) error {
	results, err := resultsNode(rs)
	if err != nil {
		return err
	}
	return Write(w, kio.ResourceListAPIVersion, kio.ResourceListKind, nil, nil, results)
}

// Write writes a wrapped list (a ResourceList) item by item, byte for byte
// as kio.ByteWriter with KeepReaderAnnotations writes the whole document.
func Write(w io.Writer, apiVersion, kind string, items []*yaml.RNode, functionConfig, results *yaml.RNode) error {
	scalar := func(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: v} }
	var buf bytes.Buffer
	// encode writes one mapping, with the given pairs, as a document.
	encode := func(pairs ...*yaml.Node) error {
		buf.Reset()
		enc := yaml.NewEncoder(&buf)
		doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Content: pairs}}}
		if err := enc.Encode(doc); err != nil {
			return err
		}
		return enc.Close()
	}
	if err := encode(scalar("apiVersion"), scalar(apiVersion), scalar("kind"), scalar(kind)); err != nil {
		return err
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return err
	}
	if len(items) == 0 {
		if err := encode(scalar("items"), &yaml.Node{Kind: yaml.SequenceNode}); err != nil {
			return err
		}
		if _, err := w.Write(buf.Bytes()); err != nil {
			return err
		}
	} else {
		if _, err := io.WriteString(w, "items:\n"); err != nil {
			return err
		}
	}
	for _, item := range items {
		if err := yaml.ClearEmptyAnnotations(item); err != nil {
			return err
		}
		if err := encode(scalar("items"), &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{item.YNode()}}); err != nil {
			return err
		}
		b := buf.Bytes()
		i := bytes.IndexByte(b, '\n')
		if i < 0 || string(b[:i]) != "items:" {
			return errors.New("krmio: unexpected encoding of an item")
		}
		if _, err := w.Write(b[i+1:]); err != nil {
			return err
		}
	}
	for _, tail := range []struct {
		key  string
		node *yaml.RNode
	}{{"functionConfig", functionConfig}, {"results", results}} {
		if tail.node == nil {
			continue
		}
		if err := encode(scalar(tail.key), tail.node.YNode()); err != nil {
			return err
		}
		if _, err := w.Write(buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// WriteWarnings writes the warning results as "warning: <resource> <field>:
// <message>" lines.
func WriteWarnings(w io.Writer, rs framework.Results) {
	for _, r := range rs {
		if r == nil || r.Severity != framework.Warning {
			continue
		}
		var where []string
		if ref := r.ResourceRef; ref != nil {
			id := ref.Kind + " " + ref.Name
			if ref.Namespace != "" {
				id = ref.Kind + " " + ref.Namespace + "/" + ref.Name
			}
			where = append(where, id)
		}
		if r.Field != nil && r.Field.Path != "" {
			where = append(where, r.Field.Path)
		}
		prefix := "warning: "
		if len(where) > 0 {
			prefix += strings.Join(where, " ") + ": "
		}
		fmt.Fprintf(w, "%s%s\n", prefix, r.Message)
	}
}
