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
	if err := run(flag.Arg(0), *kustomize, *carousel); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

var phaseLine = regexp.MustCompile(`(?m)^(\s*phase:\s*)\S+`)
var execPath = regexp.MustCompile(`(?m)^(\s*path:\s*)\S*carousel(\s*#.*)?$`)

func run(dir, kustomize, carousel string) error {
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
	fmt.Printf("carousel demo: rotation %q (scope %s) in %s, rendered with %s\n", rot.Metadata.Name, rot.Spec.Scope, dir, kustomize)
	var prev []string
	var prevHashes map[string]string
	for i, phase := range seq {
		out, err := build(dir, phase, kustomize, carousel)
		if err != nil {
			return fmt.Errorf("phase %s: %w", phase, err)
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
		fmt.Printf("\n== %d. %s: %s\n", i+1, phase, st.Summary)
		fmt.Printf("   trusted: %s\n", strings.Join(trusted, ", "))
		fmt.Printf("   signs:   %s (leaves of the %s generation)\n", name(st.Signer), st.Leaves)
		lines := strings.Split(string(out), "\n")
		if prevHashes == nil {
			fmt.Printf("   output:  %d objects, %d lines (the starting point)\n", len(nodes), len(lines))
		} else {
			var rolls []string
			for w, h := range hashes {
				if prevHashes[w] != h {
					rolls = append(rolls, w)
				}
			}
			slices.Sort(rolls)
			added, removed := diffSize(prev, lines)
			fmt.Printf("   diff from %s: +%d -%d lines\n", seq[i-1], added, removed)
			if len(rolls) == 0 {
				fmt.Printf("   rolls:   nothing\n")
			} else {
				fmt.Printf("   rolls:   %d workloads\n", len(rolls))
				for _, w := range rolls {
					fmt.Printf("            - %s\n", w)
				}
			}
		}
		prev, prevHashes = lines, hashes
	}
	fmt.Println("\nEvery phase rendered; each move above is one reviewed commit changing spec.phase.")
	return nil
}

// build renders one phase from a temporary copy of the package.
func build(dir string, phase phases.Phase, kustomize, carousel string) ([]byte, error) {
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
	b = phaseLine.ReplaceAll(b, []byte("${1}"+string(phase)))
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
