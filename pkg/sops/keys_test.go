package sops_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/sops"
)

// withDemoIdentity points sops at the demo identity the examples are
// encrypted to, and at nothing else.
func withDemoIdentity(t *testing.T) string {
	t.Helper()
	isolate(t)
	t.Setenv("SOPS_AGE_KEY_FILE", filepath.Join(testkit.Root(t), testkit.AgeKeyFile))
	return testkit.Tool(t, "sops")
}

// isolate clears every way sops (and AgeIdentity) could find an identity.
func isolate(t *testing.T) {
	t.Helper()
	for _, v := range []string{"SOPS_AGE_KEY", "SOPS_AGE_KEY_CMD", "SOPS_AGE_KEY_FILE", "SOPS_AGE_SSH_PRIVATE_KEY_FILE"} {
		t.Setenv(v, "") // restored after the test
		os.Unsetenv(v)
	}
	t.Setenv("HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
}

// materialNodes reads the KeyPair files of an example's material folder.
func materialNodes(t *testing.T, example string) map[string]*yaml.RNode {
	t.Helper()
	dir := filepath.Join(testkit.Root(t), "examples", example, "material")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*yaml.RNode{}
	for _, e := range entries {
		if e.Name() == "kustomization.yaml" {
			continue
		}
		n, err := yaml.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(e.Name(), ".yaml")] = n
	}
	return out
}

func parse(t *testing.T, nodes ...*yaml.RNode) []material.KeyPair {
	t.Helper()
	var out []material.KeyPair
	for _, n := range nodes {
		k, err := material.Parse(n)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, k)
	}
	return out
}

func TestCheckKeys(t *testing.T) {
	bin := withDemoIdentity(t)
	m := materialNodes(t, "cluster-ca")
	kpt := materialNodes(t, "kpt")
	tests := []struct {
		name       string
		pairs      func() []*yaml.RNode
		mismatches int
		says       []string
	}{
		{"every key of the example material is its certificate's", func() []*yaml.RNode {
			return []*yaml.RNode{m["ca-old"], m["ca-new"], m["leaf-policy-webhook-old"], m["leaf-metrics-client-old"]}
		}, 0, nil},
		{"a key swapped in from another KeyPair names both", func() []*yaml.RNode {
			swapped := testkit.SwapKey(t, m["leaf-policy-webhook-old"], m["leaf-metrics-client-old"], "tls.key")
			return []*yaml.RNode{m["ca-old"], swapped, m["leaf-metrics-client-old"]}
		}, 1, []string{"KeyPair cluster-ca-leaf-policy-webhook-old holds the private key of KeyPair cluster-ca-leaf-metrics-client-old"}},
		{"the CA's key in a leaf's KeyPair names the CA", func() []*yaml.RNode {
			swapped := testkit.SwapKey(t, m["leaf-policy-webhook-new"], m["ca-new"], "tls.key")
			return []*yaml.RNode{m["ca-new"], swapped}
		}, 1, []string{"KeyPair cluster-ca-leaf-policy-webhook-new holds the private key of KeyPair cluster-ca-ca-new"}},
		{"two keys exchanged name each other", func() []*yaml.RNode {
			a := testkit.SwapKey(t, m["leaf-policy-webhook-old"], m["leaf-metrics-client-old"], "tls.key")
			b := testkit.SwapKey(t, m["leaf-metrics-client-old"], m["leaf-policy-webhook-old"], "tls.key")
			return []*yaml.RNode{a, b}
		}, 2, []string{
			"KeyPair cluster-ca-leaf-policy-webhook-old holds the private key of KeyPair cluster-ca-leaf-metrics-client-old",
			"KeyPair cluster-ca-leaf-metrics-client-old holds the private key of KeyPair cluster-ca-leaf-policy-webhook-old",
		}},
		{"a key from outside the pairs checked names only its holder", func() []*yaml.RNode {
			swapped := testkit.SwapKey(t, m["leaf-policy-webhook-old"], kpt["leaf-api-old"], "tls.key")
			return []*yaml.RNode{m["ca-old"], swapped}
		}, 1, []string{"KeyPair cluster-ca-leaf-policy-webhook-old: its data.tls.key does not match its certificate", "nor the certificate of any other KeyPair"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := sops.CheckKeys(bin, parse(t, tt.pairs()...))
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) != tt.mismatches {
				t.Fatalf("want %d mismatches, got %d: %v", tt.mismatches, len(ms), ms)
			}
			joined := sops.VerifyKeys(bin, parse(t, tt.pairs()...))
			for _, w := range tt.says {
				if joined == nil || !strings.Contains(joined.Error(), w) {
					t.Errorf("want %q in %v", w, joined)
				}
			}
			if tt.mismatches == 0 && joined != nil {
				t.Errorf("want no error, got %v", joined)
			}
		})
	}
}

func TestCheckKeysNeedsAnIdentityThatDecrypts(t *testing.T) {
	isolate(t)
	bin := testkit.Tool(t, "sops")
	other := filepath.Join(t.TempDir(), "other.key")
	if out, err := exec.Command(testkit.Tool(t, "age-keygen"), "-o", other).CombinedOutput(); err != nil {
		t.Fatalf("age-keygen: %v %s", err, out)
	}
	t.Setenv("SOPS_AGE_KEY_FILE", other)
	m := materialNodes(t, "cluster-ca")
	_, err := sops.CheckKeys(bin, parse(t, m["ca-old"]))
	if err == nil || !strings.Contains(err.Error(), "KeyPair cluster-ca-ca-old") || !strings.Contains(err.Error(), "SOPS_AGE_KEY_FILE") {
		t.Fatalf("want an error naming the KeyPair and the identity variable, got %v", err)
	}
}

func TestAgeIdentitySaysWhereSopsWouldLook(t *testing.T) {
	isolate(t)
	if got := sops.AgeIdentity(); got != "" {
		t.Fatalf("an empty environment has no identity, got %q", got)
	}
	t.Setenv("SOPS_AGE_KEY_FILE", filepath.Join(t.TempDir(), "missing.key"))
	if got := sops.AgeIdentity(); got != "" {
		t.Fatalf("a SOPS_AGE_KEY_FILE that does not exist is no identity, got %q", got)
	}
	t.Setenv("SOPS_AGE_KEY_FILE", filepath.Join(testkit.Root(t), testkit.AgeKeyFile))
	if got := sops.AgeIdentity(); !strings.HasPrefix(got, "SOPS_AGE_KEY_FILE=") {
		t.Fatalf("want SOPS_AGE_KEY_FILE, got %q", got)
	}
	os.Unsetenv("SOPS_AGE_KEY_FILE")
	cfg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	if err := os.MkdirAll(filepath.Join(cfg, "sops", "age"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg, "sops", "age", "keys.txt"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := sops.AgeIdentity(); !strings.HasSuffix(got, filepath.Join("sops", "age", "keys.txt")) {
		t.Fatalf("want sops's default keys.txt, got %q", got)
	}
}

func TestAnEmptyKeyCommandDoesNotBreakSops(t *testing.T) {
	bin := withDemoIdentity(t)
	t.Setenv("SOPS_AGE_KEY_CMD", "") // what CI sets for a secret that is not configured
	m := materialNodes(t, "cluster-ca")
	if err := sops.VerifyKeys(bin, parse(t, m["ca-old"])); err != nil {
		t.Fatal(err)
	}
}

func TestVerifySetNamesBothPairsOfASwap(t *testing.T) {
	bin := withDemoIdentity(t)
	m := materialNodes(t, "cluster-ca")
	nodes := []*yaml.RNode{m["ca-old"], m["ca-new"], m["leaf-metrics-client-old"],
		testkit.SwapKey(t, m["leaf-policy-webhook-new"], m["ca-new"], "tls.key")}
	set, err := material.NewSet(parse(t, nodes...))
	if err != nil {
		t.Fatal(err)
	}
	err = sops.VerifySet(bin, set)
	if err == nil || !strings.Contains(err.Error(), "KeyPair cluster-ca-leaf-policy-webhook-new holds the private key of KeyPair cluster-ca-ca-new") {
		t.Fatalf("want the swap named, got %v", err)
	}
	good, err := material.NewSet(parse(t, m["ca-old"], m["ca-new"], m["leaf-metrics-client-old"]))
	if err != nil {
		t.Fatal(err)
	}
	if err := sops.VerifySet(bin, good); err != nil {
		t.Fatal(err)
	}
}
