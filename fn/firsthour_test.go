package fn

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/carousel-dev/carousel/internal/testkit"
)

// bareDir is a directory holding only a CARotation file as a new user
// writes it (no phase, no function annotation, no kustomization).
func bareDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "carousel.yaml"), []byte(bareRotation), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestInitWritesAPackageThatKustomizeBuilds(t *testing.T) {
	dir := bareDir(t)
	testkit.Cmd{Dir: dir}.Must(t, "init", "carousel.yaml", "--plaintext-keys")
	got := build(t, dir)
	if !got.ok {
		t.Fatalf("the package init wrote does not build: %s", got.out)
	}
	if !strings.Contains(got.out, "name: webhook-tls") || strings.Contains(got.out, "kind: KeyPair") {
		t.Fatalf("the build is not the rendered steady phase:\n%s", got.out)
	}
	k, _ := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	for _, want := range []string{"resources:\n", "- material\n", "transformers:\n- carousel.yaml\n"} {
		if !strings.Contains(string(k), want) {
			t.Fatalf("kustomization.yaml lacks %q:\n%s", want, k)
		}
	}
	rot, _ := os.ReadFile(filepath.Join(dir, "carousel.yaml"))
	if !strings.Contains(string(rot), "  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: carousel\n") {
		t.Fatalf("the CARotation did not get the function annotation:\n%s", rot)
	}
	if !strings.Contains(string(rot), "# The mesh trust anchor.\n") {
		t.Fatal("init lost the CARotation's comments")
	}
}

func TestInitNeverOverwritesAKustomizationAndSaysWhatToAdd(t *testing.T) {
	dir := bareDir(t)
	mine := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- app.yaml\n"
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(mine), 0o644); err != nil {
		t.Fatal(err)
	}
	out := testkit.Cmd{Dir: dir}.Must(t, "init", "carousel.yaml", "--plaintext-keys").Out
	if b, _ := os.ReadFile(filepath.Join(dir, "kustomization.yaml")); string(b) != mine {
		t.Fatalf("init rewrote an existing kustomization.yaml:\n%s", b)
	}
	for _, want := range []string{"- material", "transformers:\n- carousel.yaml"} {
		if !strings.Contains(out, want) {
			t.Fatalf("init does not say to add %q: %s", want, out)
		}
	}
}

func TestAdvanceWorksWithoutAPhaseByInsertingIt(t *testing.T) {
	dir := bareDir(t)
	testkit.Cmd{Dir: dir}.Must(t, "init", "carousel.yaml", "--plaintext-keys")
	testkit.Cmd{Dir: dir}.Must(t, "start", "carousel.yaml", "--plaintext-keys")
	before, _ := os.ReadFile(filepath.Join(dir, "carousel.yaml"))
	if bytes.Contains(before, []byte("phase:")) {
		t.Fatal("the fixture must have no phase")
	}
	steady := build(t, dir)
	testkit.Cmd{Dir: dir}.Must(t, "advance", "--no-cluster", "carousel.yaml")
	after, _ := os.ReadFile(filepath.Join(dir, "carousel.yaml"))
	want := strings.Replace(string(before), "spec:\n", "spec:\n  phase: trust-new\n", 1)
	if string(after) != want {
		t.Fatalf("advance did not just insert the phase:\n%s", after)
	}
	if got := build(t, dir); !got.ok || !steady.ok || got == steady {
		t.Fatalf("trust-new does not build, or builds as steady: %s", got.out)
	}
}

// A start that fails must not have changed the spec: the scope is written
// only once everything else is checked and made.
func TestAFailedStartWithScopeLeafLeavesTheSpecByteIdentical(t *testing.T) {
	for _, tc := range []struct {
		name, why string
		args      []string
	}{
		{"a leaf that is not in spec.leaves", "not in spec.leaves", []string{"--leaf", "nosuch", "--plaintext-keys"}},
		// Without sops installed the refusal says so instead; either way
		// nothing may be written.
		{"no way to encrypt the keys", "no age recipient|sops is not installed", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			withPhase := strings.Replace(bareRotation, "spec:\n", "spec:\n  phase: steady\n", 1)
			if err := os.WriteFile(filepath.Join(dir, "carousel.yaml"), []byte(withPhase), 0o644); err != nil {
				t.Fatal(err)
			}
			testkit.Cmd{Dir: dir}.Must(t, "init", "carousel.yaml", "--plaintext-keys")
			before := stateHash(t, dir)
			spec, _ := os.ReadFile(filepath.Join(dir, "carousel.yaml"))
			r := testkit.Cmd{Dir: dir}.Run(t, append([]string{"start", "carousel.yaml", "--scope", "leaf"}, tc.args...)...)
			if r.Err == nil || !regexp.MustCompile(tc.why).MatchString(r.Out) {
				t.Fatalf("start must fail with %q: %v %s", tc.why, r.Err, r.Out)
			}
			if after, _ := os.ReadFile(filepath.Join(dir, "carousel.yaml")); !bytes.Equal(after, spec) {
				t.Fatalf("the failed start changed carousel.yaml:\n%s", after)
			}
			if stateHash(t, dir) != before {
				t.Fatal("the failed start changed the package")
			}
		})
	}
}
