package fn

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carousel-dev/carousel/internal/testkit"
)

// TestBuildTakesArgoCDsOptionsAndRunsNoProgram: `carousel build` takes
// kustomize's build options as Argo CD passes them; --enable-exec changes
// nothing (an exec function is refused, exit 1, and never runs); options it
// cannot honour are refused by name.
func TestBuildTakesArgoCDsOptionsAndRunsNoProgram(t *testing.T) {
	dir := t.TempDir()
	mark := filepath.Join(dir, "ran")
	files := map[string]string{
		"kustomization.yaml": "resources: [cm.yaml]\ntransformers: [evil.yaml]\n",
		"cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {a: b}\n",
		"evil.yaml":          "apiVersion: example.dev/v1\nkind: Evil\nmetadata:\n  name: evil\n  annotations:\n    config.kubernetes.io/function: |\n      exec: {path: ./evil.sh}\n",
		"evil.sh":            "#!/bin/sh\necho ran > " + mark + "\ncat\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	run := testkit.Cmd{Dir: dir, FixedClock: true}
	r := run.Run(t, "build", dir, "--enable-alpha-plugins", "--enable-exec", "--load-restrictor", "LoadRestrictionsNone")
	if r.Code != exitError || !strings.Contains(r.Stderr, "evil.yaml") || !strings.Contains(r.Stderr, "runs the program ./evil.sh") || r.Stdout != "" {
		t.Fatalf("an exec function was not refused (exit %d):\n%s", r.Code, r.Out)
	}
	if _, err := os.Stat(mark); err == nil {
		t.Fatal("the exec function ran")
	}

	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte("resources: [cm.yaml]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = run.Must(t, "build", dir, "--load-restrictor", "LoadRestrictionsRootOnly")
	if r.Stdout != "apiVersion: v1\ndata:\n  a: b\nkind: ConfigMap\nmetadata:\n  name: app\n" {
		t.Fatalf("the build wrote:\n%s", r.Stdout)
	}
	r = testkit.Cmd{Dir: dir}.Must(t, "build") // the working directory, as kustomize
	if !strings.Contains(r.Stdout, "name: app") {
		t.Fatalf("carousel build with no directory built:\n%s", r.Stdout)
	}
	for _, refused := range [][]string{
		{"--enable-helm"},
		{"--helm-kube-version", "1.36.0"},
		{"--mount", "type=bind,src=.,dst=/x"},
		{"--load-restrictor", "LoadRestrictionsEverything"},
	} {
		r := run.Run(t, append([]string{"build", dir}, refused...)...)
		if r.Code != exitError || !strings.Contains(r.Stderr, refused[0]) || r.Stdout != "" {
			t.Errorf("carousel build %s: exit %d\n%s", strings.Join(refused, " "), r.Code, r.Out)
		}
	}
}
