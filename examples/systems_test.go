package examples

import (
	"bytes"
	"crypto/sha256"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
)

// Helpers of the tests that hold an example to a system's own code (the
// loaders of hack/systems) or to its CA generations.

// caFingerprints names the old and new CA of a package's material as the
// loaders print them ("sha256:<hex of the DER>"), read from the KeyPairs'
// plaintext certificates.
func caFingerprints(t *testing.T, dir string) map[phases.Generation]string {
	t.Helper()
	out := map[phases.Generation]string{}
	for _, g := range phases.Generations {
		file := filepath.Join(dir, "material", "ca-"+string(g)+".yaml")
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		n, err := yaml.Parse(string(b))
		if err != nil {
			t.Fatal(err)
		}
		v, err := n.Pipe(yaml.Lookup("certificate"))
		if err != nil || v == nil {
			t.Fatalf("%s: no certificate: %v", file, err)
		}
		block, _ := pem.Decode([]byte(v.YNode().Value))
		if block == nil {
			t.Fatalf("%s: the certificate is not PEM", file)
		}
		out[g] = fmt.Sprintf("sha256:%x", sha256.Sum256(block.Bytes))
	}
	return out
}

// renderedSecret is a Secret of a phase as it reaches the cluster: the
// package rendered by the real kustomize, decrypted by the real sops.
func renderedSecret(t *testing.T, dir string, phase phases.Phase, namespace, name string) *yaml.RNode {
	t.Helper()
	s := testkit.Find(clusterObjects(t, dir, phase), "Secret", namespace, name)
	if s == nil {
		t.Fatalf("%s renders no %s/%s", phase, namespace, name)
	}
	return s
}

// runLoader runs a system's loader (bin/istio-cacerts, bin/osm-tresor) on a
// Secret and returns its stdout, stderr and exit error.
func runLoader(loader string, s *yaml.RNode) (string, string, error) {
	cmd := exec.Command(loader)
	cmd.Stdin = strings.NewReader(s.MustString())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// loaderAcceptsEveryPhase runs the system's loader (name, a tool of bin/) on
// the Secret secret returns for each phase of the example in dir: each must
// load. check then holds the loader's stdout to the phase's state; root
// names the old and new CA as the loaders print them.
func loaderAcceptsEveryPhase(t *testing.T, name, dir string, secret func(phases.Phase) *yaml.RNode,
	check func(phase phases.Phase, state phases.State, root map[phases.Generation]string, out string)) {
	t.Helper()
	loader := testkit.Tool(t, name)
	pkg := testkit.Load(t, dir)
	scope := pkg.Rotation(t).Spec.Scope
	root := caFingerprints(t, dir)
	for _, phase := range pkg.Phases(t) {
		state, err := phases.Lookup(scope, phase)
		if err != nil {
			t.Fatal(err)
		}
		out, stderr, err := runLoader(loader, secret(phase))
		if err != nil {
			t.Fatalf("%s: %s does not accept the rendered Secret: %v\n%s", phase, name, err, stderr)
		}
		check(phase, state, root, out)
	}
}

// loaderRefusal is a Secret a system's loader must refuse: it exits
// exitCode saying refusal on stderr.
type loaderRefusal struct {
	name     string
	secret   *yaml.RNode
	exitCode int
	refusal  string
}

// loaderRefuses runs the loader (a tool of bin/) on each case's Secret, one
// subtest a case. If the loader accepted one, the tests that it accepts
// every phase would prove nothing.
func loaderRefuses(t *testing.T, name string, cases []loaderRefusal) {
	t.Helper()
	loader := testkit.Tool(t, name)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, stderr, err := runLoader(loader, c.secret)
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("the loader accepted it (err %v):\n%s", err, out)
			}
			if exit.ExitCode() != c.exitCode || !strings.Contains(stderr, c.refusal) {
				t.Fatalf("exit %d, want %d with %q:\n%s", exit.ExitCode(), c.exitCode, c.refusal, stderr)
			}
		})
	}
}

// remadeWith copies the example in dir, replaces the line old of its
// carousel.yaml with new, and makes fresh material with `carousel init
// --plaintext-keys` (throwaway keys in a temporary directory). It returns
// the copy: the mistake a user makes, rendered by the system's loader.
func remadeWith(t *testing.T, dir, old, new string) string {
	t.Helper()
	tmp := t.TempDir()
	if err := os.CopyFS(tmp, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(tmp, "material")); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(tmp, "carousel.yaml")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("examples/%s/carousel.yaml no longer says %q", filepath.Base(dir), old)
	}
	if err := os.WriteFile(cfg, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	testkit.Cmd{}.Must(t, "init", "--plaintext-keys", cfg)
	return tmp
}

// git runs git in dir with a fixed identity and no system or user
// configuration, and returns its trimmed output.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=test", "-c", "user.email=test@example.dev", "-c", "init.defaultBranch=main"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}
