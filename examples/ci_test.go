package examples

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
)

// TestCIWorkflowsPassActionlint lints the example GitHub Actions workflows
// with the real actionlint, and checks it does catch a broken copy (so a
// pass means the files were linted, not skipped).
func TestCIWorkflowsPassActionlint(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(testkit.Root(t), "examples/ci/*.yaml"))
	if err != nil || len(files) < 3 {
		t.Fatalf("want the PR-check, Flux render and renew workflows in examples/ci, got %v (%v)", files, err)
	}
	// NeuVector's scheduled renewal lives with its example.
	files = append(files, filepath.Join(testkit.Root(t), "examples/neuvector/renew.yml"))
	lint := testkit.Tool(t, "actionlint")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if out, err := exec.Command(lint, "-no-color", f).CombinedOutput(); err != nil {
				t.Fatalf("actionlint %s: %v\n%s", f, err, out)
			}
			broken := filepath.Join(t.TempDir(), filepath.Base(f))
			b := bytes.Replace(mustRead(t, f), []byte("runs-on:"), []byte("runs_on:"), 1)
			if err := os.WriteFile(broken, b, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := exec.Command(lint, "-no-color", broken).Run(); err == nil {
				t.Fatal("actionlint accepted a workflow without runs-on")
			}
		})
	}
}

// TestRenewExitCodesMatchTheWorkflow runs the real `carousel renew` the way
// renew.yaml does, on a copy of the example: with nothing due it must exit
// with the workflow's RENEW_NOTHING_DUE (so the job opens no pull request),
// and with a window that makes the leaves due it must exit 0 (so it does).
func TestRenewExitCodesMatchTheWorkflow(t *testing.T) {
	t.Parallel()
	root := testkit.Root(t)
	workflow := yaml.MustParse(string(mustRead(t, filepath.Join(root, "examples/ci/renew.yaml"))))
	nothingDue, err := strconv.Atoi(workflow.Field("env").Value.Field("RENEW_NOTHING_DUE").Value.YNode().Value)
	if err != nil {
		t.Fatalf("renew.yaml's RENEW_NOTHING_DUE: %v", err)
	}
	tests := []struct {
		name, before string
		want         int
	}{
		{"nothing expires within 30 days", "720h", nothingDue},
		{"the leaves expire within 11 years", "96360h", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "cluster-ca")
			if err := os.CopyFS(dir, os.DirFS(filepath.Join(root, "examples/cluster-ca"))); err != nil {
				t.Fatal(err)
			}
			// The example holds a started rotation; renew starts one only
			// when none is in flight, so drop the new generation's material.
			news, _ := filepath.Glob(filepath.Join(dir, "material", "*-new.yaml"))
			for _, f := range news {
				if err := os.Remove(f); err != nil {
					t.Fatal(err)
				}
			}
			kust := filepath.Join(dir, "material", "kustomization.yaml")
			k := regexp.MustCompile(`(?m)^- \S*-new\.yaml\n`).ReplaceAll(mustRead(t, kust), nil)
			if err := os.WriteFile(kust, k, 0o644); err != nil {
				t.Fatal(err)
			}
			// Re-issuing leaves signs with the current CA: its key must
			// decrypt (the workflow passes SOPS_AGE_KEY from a secret).
			r := testkit.Cmd{FixedClock: true, AgeKey: true}.Run(t, "renew", "--before", tt.before, filepath.Join(dir, "carousel.yaml"))
			if r.Code != tt.want {
				t.Fatalf("carousel renew --before %s exited %d, want %d:\n%s", tt.before, r.Code, tt.want, r.Out)
			}
		})
	}
}

// TestGoInstallNamesTheBinaryCarousel: every workflow installs carousel with
// `go install MODULE/cmd/carousel@VERSION`, and kustomize's exec functions
// find the program by the name `carousel` on PATH, so that package must be
// a command whose binary Go names carousel (the workflows once had to
// rename a binary called fn).
func TestGoInstallNamesTheBinaryCarousel(t *testing.T) {
	t.Parallel()
	root := testkit.Root(t)
	install := regexp.MustCompile(`go install "github\.com/carousel-dev/carousel/(\S+)@\$CAROUSEL_VERSION"`)
	files, _ := filepath.Glob(filepath.Join(root, "examples/ci/*.yaml"))
	files = append(files, filepath.Join(root, "examples/neuvector/renew.yml"))
	installs := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range install.FindAllSubmatch(b, -1) {
			installs++
			cmd := exec.Command("go", "list", "-f", "{{.Name}} {{.Target}}", "./"+string(m[1]))
			cmd.Dir = root
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s installs %s, which go list cannot find: %v", f, m[1], err)
			}
			name, target, _ := bytes.Cut(bytes.TrimSpace(out), []byte(" "))
			if string(name) != "main" || filepath.Base(string(target)) != "carousel" {
				t.Errorf("%s: go install %s makes %q (package %s), want a binary named carousel", f, m[1], filepath.Base(string(target)), name)
			}
		}
		if bytes.Contains(b, []byte("bin/fn")) {
			t.Errorf("%s still renames a binary called fn", f)
		}
	}
	if installs < len(files) {
		t.Fatalf("found %d go install lines in %d workflows: the pattern no longer matches them", installs, len(files))
	}
}
