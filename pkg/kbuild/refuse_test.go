package kbuild

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carousel-dev/carousel/internal/testkit"
)

// evilScript is a KRM function that leaves a mark and passes its input on.
func evilScript(mark string) string {
	return "#!/bin/sh\necho ran > " + mark + "\ncat\n"
}

const configMap = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app, namespace: shop}\ndata: {a: b}\n"

func evilConfig(annotation string) string {
	return "apiVersion: example.dev/v1\nkind: Evil\nmetadata:\n  name: evil\n  annotations:\n    config.kubernetes.io/function: |\n" + annotation
}

// TestProgramsAreRefusedAndNeverRun: every way a kustomization can make
// kustomize run a program is refused with the file and the function, and
// the program does not run. Where this machine can run it, the real
// kustomize with --enable-exec runs it first, so the trap is known to work.
func TestProgramsAreRefusedAndNeverRun(t *testing.T) {
	execEvil := "      exec:\n        path: ./evil.sh\n"
	cases := []struct {
		name  string
		files map[string]string
		want  []string // in the error
		// kustomizeRuns: the real kustomize with --enable-exec runs the
		// program here (so the mark proves a run).
		kustomizeRuns bool
	}{
		{"an exec function among the transformers", map[string]string{
			"kustomization.yaml": "resources: [cm.yaml]\ntransformers: [evil.yaml]\n",
			"evil.yaml":          evilConfig(execEvil),
		}, []string{"evil.yaml", "example.dev/v1 Evil \"evil\"", "runs the program ./evil.sh"}, true},
		{"an exec function after carousel's", map[string]string{
			"kustomization.yaml": "resources: [cm.yaml]\ntransformers: [carousel.yaml, evil.yaml]\n",
			"carousel.yaml":      "apiVersion: carousel.dev/v1alpha1\nkind: Decrypt\nmetadata:\n  name: decrypt\n  annotations:\n    config.kubernetes.io/function: |\n      exec: {path: carousel, args: [decrypt]}\n",
			"evil.yaml":          evilConfig(execEvil),
		}, []string{"evil.yaml", "runs the program ./evil.sh"}, false},
		{"an exec function inline in the kustomization", map[string]string{
			"kustomization.yaml": "resources: [cm.yaml]\ntransformers:\n- |\n  " + strings.ReplaceAll(evilConfig(execEvil), "\n", "\n  ") + "\n",
		}, []string{"kustomization.yaml", "runs the program ./evil.sh"}, true},
		{"an exec function among the generators", map[string]string{
			"kustomization.yaml": "resources: [cm.yaml]\ngenerators: [evil.yaml]\n",
			"evil.yaml":          evilConfig(execEvil),
		}, []string{"evil.yaml", "generators", "runs the program ./evil.sh"}, true},
		{"an exec function among the validators", map[string]string{
			"kustomization.yaml": "resources: [cm.yaml]\nvalidators: [evil.yaml]\n",
			"evil.yaml":          evilConfig(execEvil),
		}, []string{"evil.yaml", "validators", "runs the program ./evil.sh"}, true},
		{"an exec function a transformers directory builds", map[string]string{
			"kustomization.yaml":     "resources: [cm.yaml]\ntransformers: [fns]\n",
			"fns/kustomization.yaml": "resources: [evil.yaml]\n",
			"fns/evil.yaml":          evilConfig(execEvil),
		}, []string{"fns/kustomization.yaml", "runs the program ./evil.sh"}, false},
		{"an exec function in a base", map[string]string{
			"kustomization.yaml":      "resources: [base]\n",
			"base/kustomization.yaml": "resources: [cm.yaml]\ntransformers: [evil.yaml]\n",
			"base/cm.yaml":            configMap,
			"base/evil.yaml":          evilConfig("      exec:\n        path: ../evil.sh\n"),
		}, []string{"base/evil.yaml", "runs the program ../evil.sh"}, true},
		{"a container function", map[string]string{
			"kustomization.yaml": "resources: [cm.yaml]\ntransformers: [evil.yaml]\n",
			"evil.yaml":          evilConfig("      container:\n        image: registry.example.dev/evil:1\n"),
		}, []string{"evil.yaml", "runs the container image registry.example.dev/evil:1"}, false},
		{"carousel with arguments that are not a function", map[string]string{
			"kustomization.yaml": "resources: [cm.yaml]\ntransformers: [evil.yaml]\n",
			"evil.yaml":          evilConfig("      exec:\n        path: carousel\n        args: [start, carousel.yaml]\n"),
		}, []string{"evil.yaml", "`carousel start carousel.yaml`, which is not one of carousel's functions"}, false},
		{"carousel with envs", map[string]string{
			"kustomization.yaml": "resources: [cm.yaml]\ntransformers: [evil.yaml]\n",
			"evil.yaml":          evilConfig("      exec:\n        path: carousel\n        envs: [SOPS_AGE_KEY_FILE=/tmp/k]\n"),
		}, []string{"evil.yaml", "sets envs"}, false},
		{"a plugin program from kustomize's plugin directory", map[string]string{
			"kustomization.yaml": "resources: [cm.yaml]\ntransformers: [evil.yaml]\n",
			"evil.yaml":          "apiVersion: example.dev/v1\nkind: Evil\nmetadata: {name: evil}\n",
		}, []string{"evil.yaml", "plugin program from its plugin directory"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			mark := filepath.Join(dir, "ran")
			tc.files["cm.yaml"] = configMap
			tc.files["evil.sh"] = evilScript(mark)
			// The plugin directory kustomize searches (XDG_CONFIG_HOME).
			tc.files["xdg/kustomize/plugin/example.dev/v1/evil/Evil"] = "#!/bin/sh\necho ran > " + mark + "\ncat\n"
			write(t, dir, tc.files)
			for _, p := range []string{"evil.sh", "xdg/kustomize/plugin/example.dev/v1/evil/Evil"} {
				if err := os.Chmod(filepath.Join(dir, p), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "xdg"))
			if tc.kustomizeRuns {
				cmd := exec.Command(testkit.Tool(t, "kustomize"), "build", "--enable-alpha-plugins", "--enable-exec", dir)
				cmd.Dir = dir
				_ = cmd.Run()
				if _, err := os.Stat(mark); err != nil {
					t.Fatalf("kustomize --enable-exec did not run the program: the test proves nothing")
				}
				if err := os.Remove(mark); err != nil {
					t.Fatal(err)
				}
			}
			t.Chdir(dir) // an exec path would resolve from here too
			out, err := Build(dir, Options{})
			if err == nil {
				t.Fatalf("built:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("the error does not say %q:\n%v", w, err)
				}
			}
			if _, err := os.Stat(mark); err == nil {
				t.Fatal("the program ran")
			}
		})
	}
}

// TestWhatCarouselBuildCannotDoIsRefused: remote bases, a Component
// holding the function, vars under it, buildMetadata on the root, a
// transformer file outside the kustomization under the root-only
// restriction.
func TestWhatCarouselBuildCannotDoIsRefused(t *testing.T) {
	fn := "apiVersion: carousel.dev/v1alpha1\nkind: CARotation\nmetadata:\n  name: r\n  annotations:\n    config.kubernetes.io/function: |\n      exec: {path: carousel}\n"
	cases := []struct {
		name  string
		files map[string]string
		build string
		want  string
	}{
		{"a remote base", map[string]string{
			"kustomization.yaml": "resources:\n- https://git.example.dev/platform.git//state?ref=main\n",
		}, ".", "fetches nothing"},
		{"a git base", map[string]string{
			"kustomization.yaml": "resources:\n- github.com/example/platform//state?ref=v1\n",
		}, ".", "fetches nothing"},
		{"the function in a Component", map[string]string{
			"kustomization.yaml":      "resources: [cm.yaml]\ncomponents: [comp]\n",
			"comp/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\ntransformers: [fn.yaml]\n",
			"comp/fn.yaml":            fn,
		}, ".", "a Component lists carousel's function"},
		{"vars under the function", map[string]string{
			"kustomization.yaml":      "resources: [base]\ntransformers: [fn.yaml]\n",
			"fn.yaml":                 fn,
			"base/kustomization.yaml": "resources: [../cm.yaml]\nvars:\n- name: X\n  objref: {kind: ConfigMap, name: app, apiVersion: v1}\n",
		}, ".", "base/kustomization.yaml: vars"},
		{"buildMetadata on the root", map[string]string{
			"kustomization.yaml": "resources: [cm.yaml]\ntransformers: [fn.yaml]\nbuildMetadata: [originAnnotations]\n",
			"fn.yaml":            fn,
		}, ".", "buildMetadata"},
		{"a transformer file outside the kustomization", map[string]string{
			"app/kustomization.yaml": "resources: [../cm.yaml]\ntransformers: [../fn.yaml]\n",
			"fn.yaml":                fn,
		}, "app", "is not in or below"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.files["cm.yaml"] = configMap
			write(t, dir, tc.files)
			_, err := Build(filepath.Join(dir, tc.build), Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error saying %q, got %v", tc.want, err)
			}
		})
	}
}

// TestTheBuildBehindTheWalkRunsNoPlugin: the kustomize builds carousel
// build runs allow builtin plugins only, so a function the walk missed
// would fail the build, not run.
func TestTheBuildBehindTheWalkRunsNoPlugin(t *testing.T) {
	dir := t.TempDir()
	mark := filepath.Join(dir, "ran")
	write(t, dir, map[string]string{
		"kustomization.yaml": "resources: [cm.yaml]\ntransformers: [evil.yaml]\n",
		"cm.yaml":            configMap,
		"evil.yaml":          evilConfig("      exec:\n        path: ./evil.sh\n"),
		"evil.sh":            evilScript(mark),
	})
	if err := os.Chmod(filepath.Join(dir, "evil.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	b := &builder{opts: Options{}, fs: newOverlayFS(), kusts: map[string]*kust{}}
	if _, err := b.run(dir); err == nil || !strings.Contains(err.Error(), "plugin") {
		t.Fatalf("kustomize's build allowed a plugin: %v", err)
	}
	if _, err := os.Stat(mark); err == nil {
		t.Fatal("the program ran")
	}
}
