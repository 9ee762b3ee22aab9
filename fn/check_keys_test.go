package fn

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
)

// runCheckWith runs `carousel check` at base main with exactly the given
// SOPS and CI variables (none of the caller's: CI sets CI=true) and no
// default identity file.
func runCheckWith(t *testing.T, repo string, vars []string, args ...string) (string, int) {
	t.Helper()
	c := testkit.Cmd{FixedClock: true, NoCluster: true, Unset: []string{"SOPS_", "CI="}, Env: append([]string{"XDG_CONFIG_HOME=" + t.TempDir()}, vars...)}
	r := c.Run(t, append([]string{"check", filepath.Join(repo, "clusters", "prod", "carousel.yaml"), "--base", "main"}, args...)...)
	return r.Out, r.Code
}

// swapKeyFile puts src's encrypted key into dst's KeyPair file.
func swapKeyFile(t *testing.T, repo, dst, src string) {
	t.Helper()
	dir := filepath.Join(repo, "clusters", "prod", "material")
	d, err := yaml.ReadFile(filepath.Join(dir, dst))
	if err != nil {
		t.Fatal(err)
	}
	s, err := yaml.ReadFile(filepath.Join(dir, src))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.WriteFile(testkit.SwapKey(t, d, s, "tls.key"), filepath.Join(dir, dst)); err != nil {
		t.Fatal(err)
	}
}

func TestCheckComparesEncryptedKeysWithTheAgeIdentity(t *testing.T) {
	identity := "SOPS_AGE_KEY_FILE=" + filepath.Join(testkit.Root(t), testkit.AgeKeyFile)
	stranger := filepath.Join(t.TempDir(), "stranger.key")
	if out, err := exec.Command(testkit.Tool(t, "age-keygen"), "-o", stranger).CombinedOutput(); err != nil {
		t.Fatalf("age-keygen: %v %s", err, out)
	}
	tests := []struct {
		name    string
		swap    bool
		env     []string
		code    int
		says    string
		notSays string
		args    []string
	}{
		{"a swapped encrypted key is refused, naming both KeyPairs", true, []string{identity}, 2,
			"REFUSED [keys] KeyPair cluster-ca-leaf-policy-webhook-old holds the private key of KeyPair cluster-ca-leaf-metrics-client-old", "note:", nil},
		{"matching keys pass, and nothing says they were skipped", false, []string{identity}, 0, "may merge", "note:", nil},
		{"without an identity the keys are not compared, and the output says so", true, nil, 0,
			"note: keys: not checked: no age identity in the environment", "REFUSED", nil},
		{"an identity that is not a recipient cannot check", false, []string{"SOPS_AGE_KEY_FILE=" + stranger}, 1,
			"checking the encrypted keys with the identity of the environment (SOPS_AGE_KEY_FILE=" + stranger + ")", "may merge", nil},
		// In a pipeline nobody reads a note: the check fails closed.
		{"in CI without an identity the check fails, naming the way out", true, []string{"CI=true"}, 1,
			"no age identity in the environment", "may merge", nil},
		{"in CI, --skip-keys merges without the key check and says so", false, []string{"CI=true"}, 0,
			"note: keys: not checked (--skip-keys)", "REFUSED", []string{"--skip-keys"}},
		{"an identity file that does not exist is an error, not a skip", true, []string{"SOPS_AGE_KEY_FILE=" + filepath.Join(t.TempDir(), "nowhere.key")}, 1,
			"nowhere.key, which cannot be read", "may merge", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := gitRepo(t, "steady")
			if tt.swap {
				swapKeyFile(t, repo, "leaf-policy-webhook-old.yaml", "leaf-metrics-client-old.yaml")
			}
			out, code := runCheckWith(t, repo, tt.env, tt.args...)
			if code != tt.code || !strings.Contains(out, tt.says) || strings.Contains(out, tt.notSays) {
				t.Fatalf("want exit %d saying %q (and not %q), got %d:\n%s", tt.code, tt.says, tt.notSays, code, out)
			}
		})
	}
}

// TestCheckNamesCorruptedCiphertextAsSuch: an edited encrypted value (or its
// MAC) is the file's fault, not the identity's: the refusal says which
// KeyPair is corrupted and how to restore it, instead of sending the
// reviewer to check SOPS_AGE_KEY_FILE.
func TestCheckNamesCorruptedCiphertextAsSuch(t *testing.T) {
	identity := "SOPS_AGE_KEY_FILE=" + filepath.Join(testkit.Root(t), testkit.AgeKeyFile)
	for _, tc := range []struct{ name, field string }{
		{"an edited value", "tls.key: ENC[AES256_GCM,data:"},
		{"an edited MAC", "mac: ENC[AES256_GCM,data:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := gitRepo(t, "steady")
			f := filepath.Join(repo, "clusters", "prod", "material", "leaf-policy-webhook-old.yaml")
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			i := bytes.Index(b, []byte(tc.field))
			if i < 0 {
				t.Fatalf("%s holds no %q", f, tc.field)
			}
			i += len(tc.field) + 3 // a character of the base64 ciphertext
			if b[i] == 'A' {
				b[i] = 'B'
			} else {
				b[i] = 'A'
			}
			if err := os.WriteFile(f, b, 0o644); err != nil {
				t.Fatal(err)
			}
			out, code := runCheckWith(t, repo, []string{identity})
			if code != 2 || !strings.Contains(out, "REFUSED [keys] KeyPair cluster-ca-leaf-policy-webhook-old: its encrypted data.tls.key is corrupted") || strings.Contains(out, "is SOPS_AGE_KEY_FILE set") {
				t.Fatalf("want the corrupted KeyPair refused as corrupted (exit 2), got %d:\n%s", code, out)
			}
		})
	}
}
