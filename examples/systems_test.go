package examples

import (
	"bytes"
	"crypto/sha256"
	"encoding/pem"
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
