package fn

import (
	"bytes"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
)

var base64Run = regexp.MustCompile(`[A-Za-z0-9+/]{60,}={0,2}`)

// plaintextKeys returns where b holds an unencrypted private key: as PEM
// text, or base64-encoded (Secret data, KeyPair data).
func plaintextKeys(b []byte) []string {
	var found []string
	if bytes.Contains(b, []byte("PRIVATE KEY-----")) {
		found = append(found, "PEM text")
	}
	for _, m := range base64Run.FindAll(b, -1) {
		dec, err := base64.StdEncoding.DecodeString(string(m))
		if err == nil && bytes.Contains(dec, []byte("PRIVATE KEY-----")) {
			found = append(found, "base64 "+string(m[:16])+"...")
		}
	}
	return found
}

// newRotationPackage copies the cluster-ca example without its material and
// SOPS rules, and makes a fresh age identity for it.
func newRotationPackage(t *testing.T) (dir, recipient, identity string) {
	t.Helper()
	dir = t.TempDir()
	src := filepath.Join(testkit.Root(t), "examples", "cluster-ca")
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "material")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, ".sops.yaml")); err != nil {
		t.Fatal(err)
	}
	identity = filepath.Join(t.TempDir(), "age.key")
	out, err := exec.Command(testkit.Tool(t, "age-keygen"), "-o", identity).CombinedOutput()
	if err != nil {
		t.Fatalf("age-keygen: %v %s", err, out)
	}
	m := regexp.MustCompile(`age1[0-9a-z]+`).FindString(string(out))
	if m == "" {
		t.Fatalf("no recipient in %q", out)
	}
	return dir, m, identity
}

func decryptWith(t *testing.T, identity string, doc string) *yaml.RNode {
	t.Helper()
	cmd := exec.Command(testkit.Tool(t, "sops"), "--decrypt", "--input-type", "yaml", "--output-type", "yaml", "/dev/stdin")
	cmd.Stdin = strings.NewReader(doc)
	cmd.Env = append(os.Environ(), "SOPS_AGE_KEY_FILE="+identity)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("sops --decrypt: %v\n%s\n%s", err, stderr.String(), doc)
	}
	return yaml.MustParse(stdout.String())
}

func TestKeysAreEncryptedByDefaultAndDecryptAfterARealBuild(t *testing.T) {
	dir, recipient, identity := newRotationPackage(t)

	// Without recipients nothing is written.
	pkg := testkit.Cmd{Dir: dir}
	if r := pkg.Run(t, "init", "carousel.yaml"); r.Err == nil || !strings.Contains(r.Out, "--age") {
		t.Fatalf("init without recipients must fail and say how to fix it: %v %s", r.Err, r.Out)
	}
	if _, err := os.Stat(filepath.Join(dir, "material")); err == nil {
		entries, _ := os.ReadDir(filepath.Join(dir, "material"))
		if len(entries) > 0 {
			t.Fatalf("a refused init wrote %d files", len(entries))
		}
	}
	// Recipients from .sops.yaml for init, from --age for start.
	sopsRules := "creation_rules:\n- path_regex: material/.*\\.yaml$\n  age: " + recipient + "\n"
	if err := os.WriteFile(filepath.Join(dir, ".sops.yaml"), []byte(sopsRules), 0o644); err != nil {
		t.Fatal(err)
	}
	pkg.Must(t, "init", "carousel.yaml")
	if err := os.Remove(filepath.Join(dir, ".sops.yaml")); err != nil {
		t.Fatal(err)
	}
	pkg.Must(t, "start", "carousel.yaml", "--age", recipient)

	files, _ := filepath.Glob(filepath.Join(dir, "material", "*.yaml"))
	if len(files) != 7 {
		t.Fatalf("want 6 KeyPairs and a kustomization, got %v", files)
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if leaks := plaintextKeys(b); len(leaks) > 0 {
			t.Errorf("%s holds a plaintext private key: %v", f, leaks)
		}
		if strings.Contains(f, "kustomization") {
			continue
		}
		if !bytes.Contains(b, []byte("certificate: |\n    -----BEGIN CERTIFICATE-----")) && !bytes.Contains(b, []byte("certificate: |\n  -----BEGIN CERTIFICATE-----")) {
			t.Errorf("%s: the certificate must stay readable for review", f)
		}
	}

	for _, phase := range []phases.Phase{phases.Steady, phases.TrustNew, phases.SignNew, phases.DistrustOld, phases.Cleanup} {
		testkit.SetPhase(t, dir, phase)
		checkDecrypts(t, string(phase), testkit.KustomizeDir(t, dir), identity, 3)
	}
}

// checkDecrypts requires every encrypted Secret of a build to decrypt with
// the real sops and hold a key matching its certificate, and no plaintext key.
func checkDecrypts(t *testing.T, what string, out []byte, identity string, atLeast int) []*yaml.RNode {
	t.Helper()
	if leaks := plaintextKeys(out); len(leaks) > 0 {
		t.Fatalf("%s: rendered output holds plaintext keys: %v", what, leaks)
	}
	var secrets []*yaml.RNode
	for _, n := range testkit.Parse(t, out) {
		if n.GetKind() != "Secret" || n.Field("sops") == nil {
			continue
		}
		secrets = append(secrets, n)
		if err := testkit.TLSKeyMatches(decryptWith(t, identity, n.MustString())); err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	if len(secrets) < atLeast {
		t.Fatalf("%s: only %d encrypted Secrets rendered, want %d", what, len(secrets), atLeast)
	}
	return secrets
}

const appRotation = `apiVersion: carousel.dev/v1alpha1
kind: CARotation
metadata:
  name: app-tls
  annotations:
    config.kubernetes.io/function: |
      exec:
        path: carousel
spec:
  phase: steady
  ca:
    secret: {name: app-ca, namespace: app}
  leaves:
  - name: api
    secret: {name: api-tls, namespace: app}
    dnsNames: [api.app.svc]
  bundles:
  - {name: app-trust, namespaces: [app]}
`

// TestEncryptedSecretsSurviveNamespaceAndNamePrefix covers kustomize's own
// transformers renaming and moving the rendered Secrets, in the same
// kustomization as carousel and in an overlay on top of it: SOPS binds a
// value to its path in the document, not to the object's name, and the MAC
// covers only encrypted values, so both still decrypt.
func TestEncryptedSecretsSurviveNamespaceAndNamePrefix(t *testing.T) {
	base := t.TempDir()
	_, recipient, identity := newRotationPackage(t)
	files := map[string]string{
		"base/carousel.yaml":         appRotation,
		"base/kustomization.yaml":    "resources: [material]\ntransformers: [carousel.yaml]\nnamespace: tenant-a\nnamePrefix: t-\n",
		"overlay/kustomization.yaml": "resources: [../base]\nnamespace: tenant-b\nnamePrefix: o-\n",
	}
	for name, body := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(base, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(base, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"init"}, {"start"}} {
		testkit.Cmd{Dir: filepath.Join(base, "base")}.Must(t, append(args, "carousel.yaml", "--age", recipient)...)
	}
	for _, phase := range []phases.Phase{phases.Steady, phases.TrustNew, phases.SignNew, phases.DistrustOld, phases.Cleanup} {
		testkit.SetPhase(t, base, phase)
		checkDecrypts(t, string(phase)+" (same kustomization)", testkit.KustomizeDir(t, filepath.Join(base, "base")), identity, 3)
		secrets := checkDecrypts(t, string(phase)+" (overlay)", testkit.KustomizeDir(t, filepath.Join(base, "overlay")), identity, 3)
		for _, n := range secrets {
			if n.GetNamespace() != "tenant-b" || !strings.HasPrefix(n.GetName(), "o-") {
				t.Fatalf("the overlay did not move and rename %s/%s: the test would not prove anything", n.GetNamespace(), n.GetName())
			}
		}
	}
}

func TestThePlaintextOptInIsExplicitAndLoud(t *testing.T) {
	dir, _, _ := newRotationPackage(t)
	out := testkit.Cmd{Dir: dir}.Must(t, "init", "carousel.yaml", "--plaintext-keys").Out
	if !strings.Contains(out, "PLAINTEXT") {
		t.Fatalf("no warning: %s", out)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "material", "ca-old.yaml"))
	if len(plaintextKeys(b)) == 0 {
		t.Fatal("the scan cannot see a plaintext key, so its passing elsewhere proves nothing")
	}
}

func yamlLookup(path ...string) yaml.Filter { return yaml.Lookup(path...) }

func decodeB64(t *testing.T, n *yaml.RNode) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(yaml.GetValue(n))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
