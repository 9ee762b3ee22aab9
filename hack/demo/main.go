// Command demo renders every phase of an example package with the real
// kustomize and the carousel exec function, and prints per phase what is
// trusted, what signs, which workloads roll and how big the change is.
//
//	go run ./hack/demo -kustomize bin/kustomize -carousel bin/carousel examples/cluster-ca
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/rotate"
)

func main() {
	kustomize := flag.String("kustomize", "bin/kustomize", "the kustomize binary")
	carousel := flag.String("carousel", "bin/carousel", "the carousel binary")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: demo [-kustomize PATH] [-carousel PATH] EXAMPLE_DIR")
		os.Exit(2)
	}
	if err := run(os.Stdout, flag.Arg(0), *kustomize, *carousel); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

var phaseLine = regexp.MustCompile(`(?m)^(([ \t]*)phase:[ \t]*)\S+`)
var stepLine = regexp.MustCompile(`(?m)^[ \t]*step:[ \t]*\S+[^\n]*\n`)
var execPath = regexp.MustCompile(`(?m)^(\s*path:\s*)\S*carousel(\s*#.*)?$`)

func run(w io.Writer, dir, kustomize, carousel string) error {
	kustomize, _ = filepath.Abs(kustomize)
	carousel, _ = filepath.Abs(carousel)
	pkg, err := rotate.Load(filepath.Join(dir, "carousel.yaml"))
	if err != nil {
		return err
	}
	set, err := pkg.Material()
	if err != nil {
		return err
	}
	rot := pkg.Rotation
	seq, _ := phases.Sequence(rot.Spec.Scope)
	name := func(g phases.Generation) string {
		k, ok := set.CA[g]
		if !ok {
			return string(g) + " (no material)"
		}
		return fmt.Sprintf("%s %q sha256:%s", g, k.Cert().Subject.CommonName, pki.Fingerprint(k.Cert())[:12])
	}
	fmt.Fprintf(w, "carousel demo: rotation %q (scope %s) in %s, rendered with %s\n", rot.Metadata.Name, rot.Spec.Scope, dir, kustomize)
	// Every commit of the rotation: a phase of several steps
	// (docs/phases.md, "Steps within a phase") is one render per step.
	type commit struct {
		pos          phases.Position
		short, label string
		what         string
	}
	var commits []commit
	for _, phase := range seq {
		st, _ := phases.Lookup(rot.Spec.Scope, phase)
		steps, err := phases.Steps(rot.Spec.Scope, phase, rot.Features())
		if err != nil {
			return err
		}
		for j, s := range steps {
			c := commit{phases.Position{Phase: phase, Step: s.Name}, string(phase), string(phase), st.Summary}
			if len(steps) > 1 {
				c.short = c.pos.String()
				c.label = fmt.Sprintf("%s, step %d of %d (%s)", phase, j+1, len(steps), s.Name)
				c.what = st.Summary + "; this step: " + s.Summary
			}
			commits = append(commits, c)
		}
	}
	var prev []string
	var prevHashes map[string]string
	for i, c := range commits {
		phase := c.pos.Phase
		out, err := build(dir, c.pos, kustomize, carousel)
		if err != nil {
			return fmt.Errorf("%s: %w", c.label, err)
		}
		st, _ := phases.Lookup(rot.Spec.Scope, phase)
		nodes, err := (&kio.ByteReader{Reader: bytes.NewReader(out), OmitReaderAnnotations: true}).Read()
		if err != nil {
			return err
		}
		hashes := map[string]string{}
		for _, n := range nodes {
			for _, path := range [][]string{{"spec", "template"}, {"spec", "jobTemplate", "spec", "template"}} {
				v, _ := n.Pipe(yaml.Lookup(append(path, "metadata", "annotations", gen.RestartAnnotation(rot.Metadata.Name))...))
				if v != nil {
					hashes[n.GetKind()+" "+n.GetNamespace()+"/"+n.GetName()] = yaml.GetValue(v)
				}
			}
		}
		var trusted []string
		for _, g := range st.Trusted {
			trusted = append(trusted, name(g))
		}
		fmt.Fprintf(w, "\n== %d. %s: %s\n", i+1, c.label, c.what)
		fmt.Fprintf(w, "   trusted: %s\n", strings.Join(trusted, ", "))
		fmt.Fprintf(w, "   signs:   %s (leaves of the %s generation)\n", name(st.Signer), st.Leaves)
		lines := strings.Split(string(out), "\n")
		if prevHashes == nil {
			fmt.Fprintf(w, "   output:  %d objects, %d lines (the starting point)\n", len(nodes), len(lines))
		} else {
			var rolls []string
			for wl, h := range hashes {
				if prevHashes[wl] != h {
					rolls = append(rolls, wl)
				}
			}
			slices.Sort(rolls)
			added, removed := diffSize(prev, lines)
			fmt.Fprintf(w, "   diff from %s: +%d -%d lines\n", commits[i-1].short, added, removed)
			if len(rolls) == 0 {
				fmt.Fprintf(w, "   rolls:   nothing\n")
			} else {
				fmt.Fprintf(w, "   rolls:   %d workloads\n", len(rolls))
				for _, r := range rolls {
					fmt.Fprintf(w, "            - %s\n", r)
				}
			}
		}
		prev, prevHashes = lines, hashes
	}
	fmt.Fprintln(w, "\nEvery phase rendered; each move above is one reviewed commit changing spec.phase (and spec.step).")
	return nil
}

// build renders one position (phase and step) from a temporary copy of
// the package.
func build(dir string, pos phases.Position, kustomize, carousel string) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "carousel-demo-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if err := os.CopyFS(tmp, os.DirFS(dir)); err != nil {
		return nil, err
	}
	cfg := filepath.Join(tmp, "carousel.yaml")
	b, err := os.ReadFile(cfg)
	if err != nil {
		return nil, err
	}
	b = stepLine.ReplaceAll(b, nil)
	b = phaseLine.ReplaceAll(b, []byte("${1}"+string(pos.Phase)+"\n${2}step: "+string(pos.Step)))
	b = execPath.ReplaceAll(b, []byte("${1}"+carousel))
	if err := os.WriteFile(cfg, b, 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(kustomize, "build", "--enable-alpha-plugins", "--enable-exec", tmp)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, stderr.String())
	}
	return out, nil
}

// diffSize counts lines added and removed between two renders, by a
// longest-common-subsequence over lines.
func diffSize(a, b []string) (added, removed int) {
	n, m := len(a), len(b)
	dp := make([][]int32, n+1)
	for i := range dp {
		dp[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				dp[i][j] = dp[i+1][j+1] + 1
			} else {
				dp[i][j] = max(dp[i+1][j], dp[i][j+1])
			}
		}
	}
	common := int(dp[0][0])
	return m - common, n - common
}
