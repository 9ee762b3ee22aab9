package fn

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carousel-dev/carousel/internal/testkit"
)

// A KeyPair-looking file of the wrong shape in material/ (metadata: [a])
// panicked `plan` when plan read every file of the folder. Unlisted, it is
// not part of the package and plan ignores it; listed, kustomize refuses it
// and plan says so in one line; `start`, which reads the listed material
// itself, refuses it with the file's name. Never a stack trace.
func TestAStrayMaterialFileOfTheWrongShapeNeverPanics(t *testing.T) {
	for _, tc := range []struct {
		name   string
		listed bool
		args   []string
		code   int
		says   string
	}{
		{"plan ignores it when the material kustomization does not list it", false, []string{"plan"}, 0, "current phase: steady"},
		{"plan refuses it in one line when it is listed", true, []string{"plan"}, 1, "zz.yaml"},
		{"start refuses it naming the file when it is listed", true, []string{"start", "--plaintext-keys"}, 1, "zz.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pkg := filepath.Join(t.TempDir(), "cluster-ca")
			if err := os.CopyFS(pkg, os.DirFS(filepath.Join(testkit.Root(t), "examples", "cluster-ca"))); err != nil {
				t.Fatal(err)
			}
			stray := "apiVersion: carousel.dev/v1alpha1\nkind: KeyPair\nmetadata: [a]\n"
			if err := os.WriteFile(filepath.Join(pkg, "material", "zz.yaml"), []byte(stray), 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.listed {
				k := filepath.Join(pkg, "material", "kustomization.yaml")
				b, err := os.ReadFile(k)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(k, append(b, "- zz.yaml\n"...), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r := testkit.Cmd{}.Run(t, append(tc.args, filepath.Join(pkg, "carousel.yaml"))...)
			if r.Code != tc.code || !strings.Contains(r.Out, tc.says) || strings.Contains(r.Out, "goroutine") {
				t.Fatalf("exit %d (want %d), want %q and no stack trace:\n%s", r.Code, tc.code, tc.says, r.Out)
			}
		})
	}
}
