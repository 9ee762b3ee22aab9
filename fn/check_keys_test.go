package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
)

// runCheckWith runs `carousel check` at base main with exactly the given
// SOPS variables (none of the caller's) and no default identity file.
func runCheckWith(t *testing.T, repo string, sopsEnv ...string) (string, int) {
	t.Helper()
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "SOPS_") {
			env = append(env, e)
		}
	}
	env = append(env, NowEnv+"=2027-01-01T00:00:00Z", "KUBECONFIG=", "HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir())
	cmd := exec.Command(testkit.Carousel(t), "check", filepath.Join(repo, "clusters", "prod", "carousel.yaml"), "--base", "main")
	cmd.Env = append(env, sopsEnv...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &exit):
		return out.String(), exit.ExitCode()
	}
	t.Fatal(err)
	return "", -1
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
	}{
		{"a swapped encrypted key is refused, naming both KeyPairs", true, []string{identity}, 2,
			"REFUSED [keys] KeyPair cluster-ca-leaf-policy-webhook-old holds the private key of KeyPair cluster-ca-leaf-metrics-client-old", "note:"},
		{"matching keys pass, and nothing says they were skipped", false, []string{identity}, 0, "may merge", "note:"},
		{"without an identity the keys are not compared, and the output says so", true, nil, 0,
			"note: keys: not checked: no age identity in the environment", "REFUSED"},
		{"an identity that is not a recipient cannot check", false, []string{"SOPS_AGE_KEY_FILE=" + stranger}, 1,
			"checking the encrypted keys with the identity of the environment (SOPS_AGE_KEY_FILE=" + stranger + ")", "may merge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := gitRepo(t, "steady")
			if tt.swap {
				swapKeyFile(t, repo, "leaf-policy-webhook-old.yaml", "leaf-metrics-client-old.yaml")
			}
			out, code := runCheckWith(t, repo, tt.env...)
			if code != tt.code || !strings.Contains(out, tt.says) || strings.Contains(out, tt.notSays) {
				t.Fatalf("want exit %d saying %q (and not %q), got %d:\n%s", tt.code, tt.says, tt.notSays, code, out)
			}
		})
	}
}
