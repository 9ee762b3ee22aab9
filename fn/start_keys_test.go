package fn

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
)

// TestStartRefusesASwappedEncryptedKeyNamingBothKeyPairs swaps one new
// leaf's encrypted key into another's KeyPair (the other pair's value and
// sops metadata: it decrypts, to the wrong key) at cleanup, and runs the
// real `carousel start` with the demo identity: the promotion would make
// the swapped pair current, so start must refuse before writing anything,
// naming both pairs. Without an identity there is nothing to decrypt with,
// and start goes on (check in CI and decrypt hold the keys then).
func TestStartRefusesASwappedEncryptedKeyNamingBothKeyPairs(t *testing.T) {
	for _, tc := range []struct {
		name     string
		identity bool
		code     int
		says     string
	}{
		{"with the age identity the swap is refused, naming both KeyPairs", true, 1,
			"KeyPair cluster-ca-leaf-policy-webhook-new holds the private key of KeyPair cluster-ca-leaf-metrics-client-new"},
		{"without an identity the encrypted keys cannot be compared and start goes on", false, 0, "wrote "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pkg := filepath.Join(t.TempDir(), "cluster-ca")
			if err := os.CopyFS(pkg, os.DirFS(filepath.Join(testkit.Root(t), "examples", "cluster-ca"))); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(pkg, "material")
			dst, src := filepath.Join(dir, "leaf-policy-webhook-new.yaml"), filepath.Join(dir, "leaf-metrics-client-new.yaml")
			d, err := yaml.ReadFile(dst)
			if err != nil {
				t.Fatal(err)
			}
			s, err := yaml.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := yaml.WriteFile(testkit.SwapKey(t, d, s, "tls.key"), dst); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(pkg, "carousel.yaml")
			spec, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, bytes.Replace(spec, []byte("\n  phase: steady"), []byte("\n  phase: cleanup"), 1), 0o644); err != nil {
				t.Fatal(err)
			}
			before := snapshotDir(t, pkg)
			r := testkit.Cmd{Unset: []string{"SOPS_"}, AgeKey: tc.identity, Env: []string{"HOME=" + t.TempDir(), "XDG_CONFIG_HOME=" + t.TempDir()}}.Run(t, "start", file)
			if r.Code != tc.code || !strings.Contains(r.Out, tc.says) {
				t.Fatalf("exit %d, want %d, and output containing %q:\n%s", r.Code, tc.code, tc.says, r.Out)
			}
			if tc.code != 0 {
				if after := snapshotDir(t, pkg); !maps.Equal(before, after) {
					t.Error("a refused start changed the package")
				}
			}
		})
	}
}

// snapshotDir reads every file below dir, by relative path.
func snapshotDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
