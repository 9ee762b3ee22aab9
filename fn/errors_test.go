package fn

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

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
			message: `should be one of \[steady trust-new sign-new distrust-old cleanup reissue replace\]`,
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
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkg := testkit.Load(t, dir)
			cfg := pkg.WithPhase(t, tt.phase)
			items := tt.mutate(t, cfg, pkg.CopyItems())
			input := testkit.ResourceList(t, cfg, items)

			res := testkit.Cmd{Stdin: input}.Run(t)
			if res.Code != 1 {
				t.Fatalf("want exit code 1, got %v\nstderr: %s", res.Err, res.Stderr)
			}
			rl := yaml.MustParse(res.Stdout)
			if items, _ := rl.Pipe(yaml.Lookup("items")); items != nil && len(items.Content()) > 0 {
				t.Fatalf("a failed render must write no items, got %d", len(items.Content()))
			}
			results, _ := rl.Pipe(yaml.Lookup("results"))
			if results == nil {
				t.Fatalf("no results in the output:\n%s", res.Stdout)
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
					if !strings.Contains(res.Stderr, tt.field) {
						t.Errorf("stderr should repeat the field path for people reading kustomize's output:\n%s", res.Stderr)
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

// result is one KRM result of the function's output.
type result struct{ severity, message, kind, name, field string }

func outputResults(t *testing.T, stdout string) (items int, results []result) {
	t.Helper()
	rl, err := yaml.Parse(stdout)
	if err != nil {
		t.Fatalf("the output is not YAML (%v):\n%s", err, stdout)
	}
	if it, _ := rl.Pipe(yaml.Lookup("items")); it != nil {
		items = len(it.Content())
	}
	rs, _ := rl.Pipe(yaml.Lookup("results"))
	if rs == nil {
		return items, nil
	}
	els, _ := rs.Elements()
	for _, r := range els {
		get := func(path ...string) string {
			n, _ := r.Pipe(yaml.Lookup(path...))
			return yaml.GetValue(n)
		}
		results = append(results, result{get("severity"), get("message"), get("resourceRef", "kind"), get("resourceRef", "name"), get("field", "path")})
	}
	return items, results
}

func exampleConfig(t *testing.T) (cfg *yaml.RNode, items []*yaml.RNode) {
	t.Helper()
	pkg := testkit.Load(t, filepath.Join(testkit.Root(t), "examples", "cluster-ca"))
	return pkg.WithPhase(t, phases.Steady), pkg.CopyItems()
}

// withSpecText appends raw YAML lines to the example's spec: the mistakes
// here (complex keys, alias bombs) cannot be built through kyaml's API.
func withSpecText(t *testing.T, lines string) []byte {
	t.Helper()
	cfg, items := exampleConfig(t)
	rl := string(testkit.ResourceList(t, nil, items))
	c := cfg.MustString()
	c = strings.Replace(c, "\nspec:\n", "\nspec:\n"+lines, 1)
	return []byte(rl + "functionConfig:\n" + regexp.MustCompile(`(?m)^`).ReplaceAllString(strings.TrimSuffix(c, "\n"), "  ") + "\n")
}

func aliasBomb(indent string) string {
	var b strings.Builder
	b.WriteString(indent + "renderedAnnotations:\n" + indent + "  a0: &a0 lol\n")
	for i := 1; i <= 9; i++ {
		b.WriteString(fmt.Sprintf("%s  a%d: &a%d [", indent, i, i))
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString(fmt.Sprintf("*a%d", i-1))
		}
		b.WriteString("]\n")
	}
	return b.String()
}

// TestBadInputIsAnErrorResultNeverAPanic: input that once crashed the
// binary (exit 2, a Go stack trace, no result) or was silently accepted
// now exits 1 with an error result naming the resource and field, and no
// items.
func TestBadInputIsAnErrorResultNeverAPanic(t *testing.T) {
	tests := []struct {
		name       string
		input      func(t *testing.T) []byte
		kind, res  string
		field, msg string // msg: regexp
	}{
		{
			name:  "a complex key under spec names spec",
			input: func(t *testing.T) []byte { return withSpecText(t, "  ? [a, b]\n  : c\n") },
			kind:  "CARotation", res: "cluster-ca", field: "spec", msg: "has a key that is a list: keys must be strings",
		},
		{
			name:  "an alias bomb under spec is refused in bounded time",
			input: func(t *testing.T) []byte { return withSpecText(t, aliasBomb("  ")) },
			kind:  "CARotation", res: "cluster-ca", field: `spec\.renderedAnnotations\.a\d.*`, msg: "alias bomb",
		},
		{
			name: "a List whose functionConfig is a list names the functionConfig",
			input: func(t *testing.T) []byte {
				return []byte("apiVersion: v1\nkind: List\nitems: []\nfunctionConfig: [{}]\n")
			},
			field: "functionConfig", msg: "must be a CARotation resource .a YAML mapping., not a list",
		},
		{
			name: "a KeyPair whose labels are a list names its labels",
			input: func(t *testing.T) []byte {
				return withRawItem(t, "- apiVersion: carousel.dev/v1alpha1\n  kind: KeyPair\n  metadata:\n    name: stray\n    labels: [a]\n")
			},
			kind: "KeyPair", res: "stray", field: "metadata.labels", msg: "must be a mapping of strings, not a list",
		},
		{
			name: "an item whose metadata is a list names its metadata",
			input: func(t *testing.T) []byte {
				return withRawItem(t, "- apiVersion: v1\n  kind: ConfigMap\n  metadata: [a]\n")
			},
			kind: "ConfigMap", field: "metadata", msg: `items\[\d+\] is not a resource carousel can read: must be a mapping, not a list`,
		},
		{
			name: "a CARotation among the items says to list it under transformers",
			input: func(t *testing.T) []byte {
				cfg, items := exampleConfig(t)
				return testkit.ResourceList(t, cfg, append(items, cfg.Copy()))
			},
			kind: "CARotation", res: "cluster-ca", msg: "CARotation cluster-ca is among the resources, so it would be applied to the cluster: list its file under `transformers:`",
		},
		{
			name:  "an unknown top-level field is refused",
			input: func(t *testing.T) []byte { return withTopLevel(t, "foo: bar\n") },
			kind:  "CARotation", res: "cluster-ca", field: "foo", msg: "is not a field of CARotation",
		},
		{
			name:  "a status is refused",
			input: func(t *testing.T) []byte { return withTopLevel(t, "status: {phase: steady}\n") },
			kind:  "CARotation", res: "cluster-ca", field: "status", msg: "a rotation's state is spec.phase",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := testkit.Cmd{FixedClock: true, Stdin: tt.input(t)}.Run(t)
			if strings.Contains(res.Stderr, "goroutine ") || strings.Contains(res.Stderr, "panic:") {
				t.Fatalf("the binary panicked:\n%s", res.Stderr)
			}
			if res.Code != 1 {
				t.Fatalf("want exit code 1, got %d\nstderr: %s", res.Code, res.Stderr)
			}
			items, results := outputResults(t, res.Stdout)
			if items > 0 {
				t.Fatalf("a failed run must write no items, got %d", items)
			}
			msg, field := regexp.MustCompile(tt.msg), regexp.MustCompile("^"+tt.field+"$")
			for _, r := range results {
				if r.severity == "error" && msg.MatchString(r.message) && field.MatchString(r.field) && r.kind == tt.kind && r.name == tt.res {
					return
				}
			}
			t.Fatalf("no error result on %s %s field %s matching %q; got %+v", tt.kind, tt.res, tt.field, tt.msg, results)
		})
	}
}

// withRawItem adds an item, as YAML text, to the example's input: kyaml's
// writer itself panics on the malformed items these tests send.
func withRawItem(t *testing.T, item string) []byte {
	t.Helper()
	cfg, items := exampleConfig(t)
	rl := string(testkit.ResourceList(t, cfg, items))
	i := strings.Index(rl, "\nfunctionConfig:")
	if i < 0 {
		t.Fatal("no functionConfig in the ResourceList")
	}
	return []byte(rl[:i+1] + item + rl[i+1:])
}

// withTopLevel appends raw top-level fields to the example's config.
func withTopLevel(t *testing.T, lines string) []byte {
	t.Helper()
	cfg, items := exampleConfig(t)
	extra := yaml.MustParse(lines)
	fields, _ := extra.Fields()
	for _, f := range fields {
		if err := cfg.PipeE(yaml.SetField(f, extra.Field(f).Value)); err != nil {
			t.Fatal(err)
		}
	}
	return testkit.ResourceList(t, cfg, items)
}

func TestAnotherRotationsKeyPairPassesThroughWithAnInfoResult(t *testing.T) {
	cfg, items := exampleConfig(t)
	other := findPair(t, items, "cluster-ca-ca-new").Copy()
	other.SetName("mesh-ca-old")
	if err := other.SetLabels(map[string]string{"carousel.dev/rotation": "mesh"}); err != nil {
		t.Fatal(err)
	}
	res := testkit.Cmd{FixedClock: true, Stdin: testkit.ResourceList(t, cfg, append(items, other))}.Run(t)
	if res.Code != 0 {
		t.Fatalf("a package may run two rotations: want exit 0, got %d\n%s", res.Code, res.Stderr)
	}
	if !strings.Contains(res.Stdout, "name: mesh-ca-old") {
		t.Fatal("the other rotation's KeyPair must pass through to its transformer")
	}
	_, results := outputResults(t, res.Stdout)
	for _, r := range results {
		if r.severity == "info" && r.kind == "KeyPair" && r.name == "mesh-ca-old" && strings.Contains(r.message, `belongs to rotation "mesh", not "cluster-ca"`) {
			return
		}
	}
	t.Fatalf("no info result naming the other rotation: %+v", results)
}

func TestAKeyPairOfTheWrongShapeFailsAKustomizeBuildWithItsField(t *testing.T) {
	dir := examplePackage(t, phases.Steady)
	stray := "apiVersion: carousel.dev/v1alpha1\nkind: KeyPair\nmetadata:\n  name: stray\n  labels: [a]\n"
	if err := os.WriteFile(filepath.Join(dir, "material", "stray.yaml"), []byte(stray), 0o644); err != nil {
		t.Fatal(err)
	}
	k := filepath.Join(dir, "material", "kustomization.yaml")
	b, _ := os.ReadFile(k)
	if err := os.WriteFile(k, []byte(strings.Replace(string(b), "resources:\n", "resources:\n- stray.yaml\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testkit.Tool(t, "kustomize"), "build", "--enable-alpha-plugins", "--enable-exec", dir)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Join(testkit.Root(t), "bin")+":"+os.Getenv("PATH"), NowEnv+"="+testkit.Now.Format(time.RFC3339))
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the build must fail:\n%s", out)
	}
	if strings.Contains(string(out), "goroutine ") || !strings.Contains(string(out), "KeyPair/stray metadata.labels: items[") {
		t.Fatalf("want an error naming KeyPair stray and metadata.labels, got:\n%s", out)
	}
}

// TestCommandsRefuseABrokenCARotationInOneLine: every command that reads
// carousel.yaml once panicked on a spec that cannot become JSON; now each
// exits 1 with one "carousel: <file>: <field>: <problem>" line.
func TestCommandsRefuseABrokenCARotationInOneLine(t *testing.T) {
	breakage := []struct{ name, text, field string }{
		{"a complex key", "  ? [a, b]\n  : c\n", "spec: has a key that is a list"},
		{"an alias bomb", aliasBomb("  "), "alias bomb"},
		{"an unknown top-level field", "", "foo: is not a field of CARotation"},
	}
	commands := [][]string{
		{"plan", "F"}, {"advance", "F"}, {"check", "F", "--base", "main"},
		{"status", "F"}, {"start", "F", "--plaintext-keys"}, {"renew", "F", "--plaintext-keys"},
		{"init", "F", "--plaintext-keys"}, {"csr", "F", "--ca", "--plaintext-keys"},
	}
	for _, b := range breakage {
		for _, args := range commands {
			t.Run(b.name+"/"+args[0], func(t *testing.T) {
				repo := gitRepo(t, "steady")
				file := filepath.Join(repo, "clusters", "prod", "carousel.yaml")
				src, _ := os.ReadFile(file)
				text := string(src)
				if b.text != "" {
					text = strings.Replace(text, "\nspec:\n", "\nspec:\n"+b.text, 1)
				} else {
					text += "foo: bar\n"
				}
				if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
				argv := append([]string{}, args...)
				for i := range argv {
					if argv[i] == "F" {
						argv[i] = file
					}
				}
				// No cluster: a kubeconfig that does not exist.
				res := testkit.Cmd{Dir: repo, FixedClock: true, NoCluster: true, Env: []string{"KUBECONFIG=" + filepath.Join(repo, "no-kubeconfig")}}.Run(t, argv...)
				if res.Code != 1 {
					t.Fatalf("want exit 1, got %v\nstderr:\n%s", res.Err, res.Stderr)
				}
				msg := res.Stderr
				if strings.Contains(msg, "goroutine ") || !strings.HasPrefix(msg, "carousel: ") || !strings.Contains(msg, b.field) {
					t.Fatalf("want one line naming %q, got:\n%s", b.field, msg)
				}
				after, _ := os.ReadFile(file)
				if string(after) != text {
					t.Fatal("a refused command changed carousel.yaml")
				}
			})
		}
	}
}

func TestKptsOwnConfigAmongTheItemsPasses(t *testing.T) {
	// kpt passes the function's config file among the resources, marked
	// local-config so it is never applied: that is not a mistake.
	cfg, items := exampleConfig(t)
	own := cfg.Copy()
	if err := own.PipeE(yaml.SetAnnotation("config.kubernetes.io/local-config", "true")); err != nil {
		t.Fatal(err)
	}
	res := testkit.Cmd{FixedClock: true, Stdin: testkit.ResourceList(t, cfg, append(items, own))}.Run(t)
	if res.Code != 0 {
		t.Fatalf("want exit 0, got %d:\n%s", res.Code, res.Stderr)
	}
}
