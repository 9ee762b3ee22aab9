package fn

import (
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
)

func TestAnUnknownCommandIsRefusedNotRunAsTheFunction(t *testing.T) {
	tests := []struct {
		name, arg, want string
	}{
		{"a word that is no command is refused", "foo", `unknown command "foo" for "carousel"`},
		{"a typo is refused with a suggestion", "plna", `(did you mean plan?)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A ResourceList on stdin: function mode would render it.
			cfg, items := exampleConfig(t)
			r := testkit.Cmd{Stdin: testkit.ResourceList(t, cfg, items)}.Run(t, tt.arg)
			if r.Code != 1 {
				t.Fatalf("want exit 1, got %v", r.Err)
			}
			if r.Stdout != "" {
				t.Fatalf("an unknown command must not run the function:\n%s", r.Stdout)
			}
			if !strings.Contains(r.Stderr, tt.want) {
				t.Fatalf("stderr lacks %q:\n%s", tt.want, r.Stderr)
			}
		})
	}
}

func TestEveryCommandsHelpShowsExamples(t *testing.T) {
	names := []string{""}
	for _, c := range buildCmd().Commands() {
		if c.Name() != "help" && c.Name() != "completion" {
			names = append(names, c.Name())
		}
	}
	if len(names) < 12 {
		t.Fatalf("only %d commands found", len(names))
	}
	for _, name := range names {
		t.Run("carousel "+name, func(t *testing.T) {
			args := []string{"--help"}
			if name != "" {
				args = []string{name, "--help"}
			}
			out := testkit.Cmd{}.Must(t, args...).Out
			ex := strings.SplitN(out, "\nExamples:\n", 2)
			if len(ex) != 2 || !strings.Contains(ex[1], "carousel") && !strings.Contains(ex[1], "kustomize build") {
				t.Fatalf("--help shows no examples:\n%s", out)
			}
		})
	}
}

func TestASpecWithoutCARendersWithTheDefaults(t *testing.T) {
	cfg, items := exampleConfig(t)
	if err := cfg.PipeE(yaml.Lookup("spec"), yaml.Clear("ca")); err != nil {
		t.Fatal(err)
	}
	// The example's CA Secret and prune annotations live under ca; without
	// them the rotation still renders every leaf and bundle.
	res := testkit.Cmd{FixedClock: true, Stdin: testkit.ResourceList(t, cfg, items)}.Run(t)
	if res.Code != 0 {
		t.Fatalf("want exit 0, got %d:\n%s", res.Code, res.Stderr)
	}
	if !strings.Contains(res.Stdout, "name: policy-webhook-tls") {
		t.Fatal("the leaves were not rendered")
	}
}

func TestEverySpecErrorComesInOneRun(t *testing.T) {
	cfg, items := exampleConfig(t)
	setSpec(t, cfg, []string{"spec", "bundle"}, "[]")                                                   // schema: unknown field
	setSpec(t, cfg, []string{"spec", "expiryWarning"}, "30d")                                           // validation: duration
	setSpec(t, cfg, []string{"spec", "restarts", "[namespace=kube-system]", "consumes"}, "[leaf:nope]") // validation: reference
	res := testkit.Cmd{FixedClock: true, Stdin: testkit.ResourceList(t, cfg, items)}.Run(t)
	if res.Code != 1 {
		t.Fatalf("want exit 1, got %d:\n%s", res.Code, res.Stderr)
	}
	_, results := outputResults(t, res.Stdout)
	got := map[string]bool{}
	for _, r := range results {
		if r.severity == "error" && r.kind == "CARotation" {
			got[r.field] = true
		}
	}
	for _, f := range []string{"spec.bundle", "spec.expiryWarning", "spec.restarts[0].consumes[0]"} {
		if !got[f] {
			t.Errorf("no error at %s in the same run; got %v", f, got)
		}
	}
}
