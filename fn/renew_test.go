package fn

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/carousel-dev/carousel/internal/testkit"
)

// renewPackage makes a cluster-ca package whose CA and leaves have the given
// validities, initialised now (real time: the certificates are real).
func renewPackage(t *testing.T, caValidity, leafValidity string) (dir string, recipient string) {
	t.Helper()
	dir, recipient, _ = newRotationPackage(t)
	f := filepath.Join(dir, "carousel.yaml")
	b, _ := os.ReadFile(f)
	b = regexp.MustCompile(`validity: 87600h`).ReplaceAll(b, []byte("validity: "+leafValidity))
	b = regexp.MustCompile(`validity: 175200h`).ReplaceAll(b, []byte("validity: "+caValidity))
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	testkit.Cmd{Dir: dir}.Must(t, "init", "carousel.yaml", "--plaintext-keys")
	return dir, recipient
}

func renew(t *testing.T, dir string, at time.Time, args ...string) (string, int) {
	t.Helper()
	r := testkit.Cmd{Dir: dir, Env: []string{NowEnv + "=" + at.UTC().Format(time.RFC3339)}}.Run(t, append([]string{"renew", "carousel.yaml"}, args...)...)
	return r.Out, r.Code
}

func TestRenewStartsOnlyWhatIsDue(t *testing.T) {
	now := time.Now()
	t.Run("nothing due exits 3 and writes nothing", func(t *testing.T) {
		dir, _ := renewPackage(t, "87600h", "8760h")
		before, _ := os.ReadDir(filepath.Join(dir, "material"))
		out, code := renew(t, dir, now, "--before", "720h", "--plaintext-keys")
		if code != 4 || !strings.Contains(out, "nothing in cluster-ca expires within 720h") {
			t.Fatalf("want exit 4, got %d: %s", code, out)
		}
		after, _ := os.ReadDir(filepath.Join(dir, "material"))
		if len(after) != len(before) {
			t.Fatal("renew wrote material although nothing was due")
		}
	})
	t.Run("due leaves are re-issued under the same CA", func(t *testing.T) {
		dir, _ := renewPackage(t, "87600h", "1000h")
		out, code := renew(t, dir, now.Add(400*time.Hour), "--before", "720h", "--plaintext-keys")
		if code != 0 || !strings.Contains(out, "due: leaf policy-webhook") || !strings.Contains(out, "started a leaf rotation") {
			t.Fatalf("want a leaf re-issue, got %d: %s", code, out)
		}
		cfg, _ := os.ReadFile(filepath.Join(dir, "carousel.yaml"))
		if !strings.Contains(string(cfg), "  scope: leaf\n") {
			t.Fatalf("spec.scope was not set to leaf:\n%s", cfg)
		}
		for _, f := range []string{"leaf-policy-webhook-new.yaml", "leaf-metrics-client-new.yaml"} {
			if _, err := os.Stat(filepath.Join(dir, "material", f)); err != nil {
				t.Errorf("%s was not written", f)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "material", "ca-new.yaml")); err == nil {
			t.Error("a leaf re-issue made a new CA")
		}
	})
	t.Run("a due CA starts a CA rotation", func(t *testing.T) {
		dir, _ := renewPackage(t, "1000h", "500h")
		out, code := renew(t, dir, now.Add(400*time.Hour), "--before", "720h", "--plaintext-keys")
		if code != 0 || !strings.Contains(out, "due: CA") || !strings.Contains(out, "started a ca rotation") {
			t.Fatalf("want a CA rotation, got %d: %s", code, out)
		}
		if _, err := os.Stat(filepath.Join(dir, "material", "ca-new.yaml")); err != nil {
			t.Fatal("no new CA was made")
		}
	})
	t.Run("renew writes encrypted keys: a scan finds no plaintext key", func(t *testing.T) {
		dir, recipient, identity := newRotationPackage(t)
		f := filepath.Join(dir, "carousel.yaml")
		b, _ := os.ReadFile(f)
		if err := os.WriteFile(f, regexp.MustCompile(`validity: 87600h`).ReplaceAll(b, []byte("validity: 1000h")), 0o644); err != nil {
			t.Fatal(err)
		}
		testkit.Cmd{Dir: dir}.Must(t, "init", "carousel.yaml", "--age", recipient)
		// Re-issuing leaves signs with the current CA: sops decrypts its key.
		testkit.Cmd{Dir: dir, Env: []string{NowEnv + "=" + now.Add(400*time.Hour).UTC().Format(time.RFC3339), "SOPS_AGE_KEY_FILE=" + identity}}.
			Must(t, "renew", "carousel.yaml", "--before", "720h", "--age", recipient)
		files, _ := filepath.Glob(filepath.Join(dir, "material", "*.yaml"))
		if len(files) != 6 { // the CA, two old and two new leaves, the kustomization
			t.Fatalf("unexpected material after renew: %v", files)
		}
		for _, f := range files {
			b, _ := os.ReadFile(f)
			if leaks := plaintextKeys(b); len(leaks) > 0 {
				t.Errorf("%s holds a plaintext key: %v", f, leaks)
			}
		}
	})
	t.Run("a rotation in flight is an error", func(t *testing.T) {
		dir, _ := renewPackage(t, "87600h", "1000h")
		testkit.SetPhase(t, dir, "trust-new")
		out, code := renew(t, dir, now.Add(400*time.Hour), "--before", "720h", "--plaintext-keys")
		if code != 1 || !strings.Contains(out, "in flight") {
			t.Fatalf("want exit 1 naming the rotation in flight, got %d: %s", code, out)
		}
	})
}
