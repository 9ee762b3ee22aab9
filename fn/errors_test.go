package main

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
)

func findPair(t *testing.T, items []*yaml.RNode, name string) *yaml.RNode {
	t.Helper()
	for _, n := range items {
		if n.GetKind() == "KeyPair" && n.GetName() == name {
			return n
		}
	}
	t.Fatalf("no KeyPair %s in the example", name)
	return nil
}

func without(items []*yaml.RNode, name string) []*yaml.RNode {
	var out []*yaml.RNode
	for _, n := range items {
		if n.GetName() != name {
			out = append(out, n)
		}
	}
	return out
}

func setSpec(t *testing.T, cfg *yaml.RNode, path []string, value string) {
	t.Helper()
	if err := cfg.PipeE(yaml.LookupCreate(yaml.MappingNode, path[:len(path)-1]...), yaml.SetField(path[len(path)-1], yaml.MustParse(value))); err != nil {
		t.Fatal(err)
	}
}

// TestErrorsAreResultsWithFieldPaths runs each class of bad input through
// the real binary: it must exit 1, write no items, and report an error
// result naming the resource and the field.
func TestErrorsAreResultsWithFieldPaths(t *testing.T) {
	dir := filepath.Join(testkit.Root(t), "examples", "cluster-ca")
	tests := []struct {
		name    string
		phase   phases.Phase
		mutate  func(t *testing.T, cfg *yaml.RNode, items []*yaml.RNode) []*yaml.RNode
		kind    string // resource the result points at
		resName string
		field   string
		message string // regexp
	}{
		{
			name:  "an invalid spec names the field",
			phase: phases.Steady,
			mutate: func(t *testing.T, cfg *yaml.RNode, items []*yaml.RNode) []*yaml.RNode {
				setSpec(t, cfg, []string{"spec", "leaves", "[name=policy-webhook]", "usages"}, "[serve]")
				return items
			},
			kind: "CARotation", resName: "cluster-ca", field: "spec.leaves[0].usages[0]",
			message: `should be one of \[server client\]`,
		},
		{
			name:  "an unknown field is refused, not ignored",
			phase: phases.Steady,
			mutate: func(t *testing.T, cfg *yaml.RNode, items []*yaml.RNode) []*yaml.RNode {
				setSpec(t, cfg, []string{"spec", "bundle"}, "[]")
				return items
			},
			kind: "CARotation", resName: "cluster-ca", field: "spec.bundle",
			message: `is not a field of CARotation carousel.dev/v1alpha1`,
		},
		{
			name:  "a cross-field rule names the field",
			phase: phases.Steady,
			mutate: func(t *testing.T, cfg *yaml.RNode, items []*yaml.RNode) []*yaml.RNode {
				setSpec(t, cfg, []string{"spec", "restarts", "[namespace=kube-system]", "consumes"}, "[leaf:nope]")
				return items
			},
			kind: "CARotation", resName: "cluster-ca", field: "spec.restarts[0].consumes[0]",
			message: `followed by a leaf of spec.leaves`,
		},
		{
			name:  "an unknown phase is refused",
			phase: "promote",
			mutate: func(t *testing.T, cfg *yaml.RNode, items []*yaml.RNode) []*yaml.RNode {
				return items
			},
			kind: "CARotation", resName: "cluster-ca", field: "spec.phase",
			message: `should be one of \[steady trust-new sign-new distrust-old cleanup reissue\]`,
		},
		{
			name:  "a phase of the other scope is refused",
			phase: phases.Reissue,
			mutate: func(t *testing.T, cfg *yaml.RNode, items []*yaml.RNode) []*yaml.RNode {
				return items
			},
			kind: "CARotation", resName: "cluster-ca", field: "spec.phase",
			message: `unknown phase "reissue" for scope "ca"`,
		},
		{
			name:  "missing material names the phase that needs it and the command that makes it",
			phase: phases.TrustNew,
			mutate: func(t *testing.T, cfg *yaml.RNode, items []*yaml.RNode) []*yaml.RNode {
				return without(items, "cluster-ca-ca-new")
			},
			kind: "CARotation", resName: "cluster-ca", field: "spec.phase",
			message: `phase trust-new needs the new CA, but no KeyPair for it is in the input: run .carousel start.`,
		},
		{
			name:  "a key that does not match its certificate is refused",
			phase: phases.Steady,
			mutate: func(t *testing.T, cfg *yaml.RNode, items []*yaml.RNode) []*yaml.RNode {
				// The function checks keys it can read: plaintext material
				// (encrypted keys are checked when start/import make them).
				other := testkit.Decrypt(t, findPair(t, items, "cluster-ca-leaf-metrics-client-old"))
				target := testkit.Decrypt(t, findPair(t, items, "cluster-ca-leaf-policy-webhook-old"))
				key, _ := other.Pipe(yaml.Lookup("data", "tls.key"))
				setSpec(t, target, []string{"data", "tls.key"}, yaml.GetValue(key))
				return append(without(items, "cluster-ca-leaf-policy-webhook-old"), target)
			},
			kind: "KeyPair", resName: "cluster-ca-leaf-policy-webhook-old", field: "data.tls.key",
			message: `the private key does not match the certificate`,
		},
		{
			name:  "a leaf not signed by the expected CA is refused",
			phase: phases.SignNew,
			mutate: func(t *testing.T, cfg *yaml.RNode, items []*yaml.RNode) []*yaml.RNode {
				items = without(items, "cluster-ca-leaf-policy-webhook-new")
				old := findPair(t, items, "cluster-ca-leaf-policy-webhook-old").Copy()
				old.SetName("cluster-ca-leaf-policy-webhook-new")
				anns := old.GetAnnotations()
				anns["carousel.dev/generation"] = "new"
				_ = old.SetAnnotations(anns)
				return append(items, old)
			},
			kind: "KeyPair", resName: "cluster-ca-leaf-policy-webhook-new", field: "certificate",
			message: `new leaf "policy-webhook" must be signed by the new CA`,
		},
		{
			name:  "a certificate edited without its fingerprint annotation is refused",
			phase: phases.Steady,
			mutate: func(t *testing.T, cfg *yaml.RNode, items []*yaml.RNode) []*yaml.RNode {
				setSpec(t, findPair(t, items, "cluster-ca-leaf-policy-webhook-old"), []string{"metadata", "annotations", "carousel.dev/sha256"}, "0000")
				return items
			},
			kind: "KeyPair", resName: "cluster-ca-leaf-policy-webhook-old", field: "metadata.annotations.carousel.dev/sha256",
			message: `does not match the certificate`,
		},
		{
			name:  "a CA without CA:true is refused",
			phase: phases.TrustNew,
			mutate: func(t *testing.T, cfg *yaml.RNode, items []*yaml.RNode) []*yaml.RNode {
				ca := findPair(t, items, "cluster-ca-ca-new")
				leaf := findPair(t, items, "cluster-ca-leaf-policy-webhook-new")
				cert, _ := leaf.Pipe(yaml.Lookup("certificate"))
				key, _ := leaf.Pipe(yaml.Lookup("data", "tls.key"))
				setSpec(t, ca, []string{"certificate"}, "|\n"+indent(yaml.GetValue(cert)))
				setSpec(t, ca, []string{"data", "tls.key"}, yaml.GetValue(key))
				// Keep the reviewers' fingerprint in step with the swap.
				fp, _ := leaf.Pipe(yaml.Lookup("metadata", "annotations", "carousel.dev/sha256"))
				setSpec(t, ca, []string{"metadata", "annotations", "carousel.dev/sha256"}, yaml.GetValue(fp))
				return items
			},
			kind: "KeyPair", resName: "cluster-ca-ca-new", field: "certificate",
			message: `new CA: the certificate is not a CA \(basic constraints CA:TRUE missing\)`,
		},
	}
	bin := testkit.Carousel(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkg := testkit.Load(t, dir)
			cfg := pkg.WithPhase(t, tt.phase)
			items := tt.mutate(t, cfg, pkg.CopyItems())
			input := testkit.ResourceList(t, cfg, items)

			cmd := exec.Command(bin)
			cmd.Stdin = bytes.NewReader(input)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("want exit code 1, got %v\nstderr: %s", err, stderr.String())
			}
			rl := yaml.MustParse(stdout.String())
			if items, _ := rl.Pipe(yaml.Lookup("items")); items != nil && len(items.Content()) > 0 {
				t.Fatalf("a failed render must write no items, got %d", len(items.Content()))
			}
			results, _ := rl.Pipe(yaml.Lookup("results"))
			if results == nil {
				t.Fatalf("no results in the output:\n%s", stdout.String())
			}
			els, _ := results.Elements()
			re := regexp.MustCompile(tt.message)
			for _, r := range els {
				sev := yaml.GetValue(r.Field("severity").Value)
				msg := yaml.GetValue(r.Field("message").Value)
				kind, _ := r.Pipe(yaml.Lookup("resourceRef", "kind"))
				name, _ := r.Pipe(yaml.Lookup("resourceRef", "name"))
				field, _ := r.Pipe(yaml.Lookup("field", "path"))
				if sev == "error" && re.MatchString(msg) && yaml.GetValue(kind) == tt.kind &&
					yaml.GetValue(name) == tt.resName && yaml.GetValue(field) == tt.field {
					if !bytes.Contains(stderr.Bytes(), []byte(tt.field)) {
						t.Errorf("stderr should repeat the field path for people reading kustomize's output:\n%s", stderr.String())
					}
					return
				}
			}
			t.Fatalf("no error result on %s %s field %s matching %q; got:\n%s", tt.kind, tt.resName, tt.field, tt.message, results.MustString())
		})
	}
}

func indent(s string) string {
	return "  " + regexp.MustCompile(`\n(.)`).ReplaceAllString(s, "\n  $1")
}
