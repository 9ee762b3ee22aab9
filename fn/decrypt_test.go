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
	"github.com/carousel-dev/carousel/pkg/phases"
)

// runDecrypt runs `carousel decrypt` on the rendered items of the cluster-ca
// example at steady (their Secrets encrypted), after breaking them.
func runDecrypt(t *testing.T, mutate func(items []*yaml.RNode)) testkit.Result {
	t.Helper()
	pkg := testkit.Load(t, filepath.Join(testkit.Root(t), "examples", "cluster-ca"))
	items := pkg.Render(t, phases.Steady).Items
	mutate(items)
	input := testkit.ResourceList(t, yaml.MustParse("{kind: Decrypt, apiVersion: carousel.dev/v1alpha1}"), items)
	return testkit.Cmd{Stdin: input, AgeKey: true, Env: []string{"HOME=" + t.TempDir()}}.Run(t, "decrypt")
}

func secretIndex(t *testing.T, items []*yaml.RNode, ns, name string) int {
	t.Helper()
	for i, n := range items {
		if n.GetKind() == "Secret" && n.GetNamespace() == ns && n.GetName() == name {
			return i
		}
	}
	t.Fatalf("no Secret %s/%s", ns, name)
	return -1
}

func TestDecryptRefusesAndWritesNothing(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(t *testing.T, items []*yaml.RNode)
		says   string
	}{
		{"a Secret whose key was swapped in from another leaf", func(t *testing.T, items []*yaml.RNode) {
			i, j := secretIndex(t, items, "policy", "policy-webhook-tls"), secretIndex(t, items, "monitoring", "metrics-client-tls")
			items[i] = testkit.SwapKey(t, items[i], items[j], "tls.key")
		}, "the private key does not match the certificate in data.tls.crt"},
		{"one tampered Secret among good ones", func(t *testing.T, items []*yaml.RNode) {
			i := secretIndex(t, items, "policy", "policy-webhook-tls")
			v, _ := items[i].Pipe(yaml.Lookup("data", "tls.key"))
			v.YNode().Value = strings.Replace(v.YNode().Value, "data:", "data:AAAA", 1)
		}, "decrypting"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dec := runDecrypt(t, func(items []*yaml.RNode) { tt.break_(t, items) })
			if dec.Code == 0 {
				t.Fatalf("want a non-zero exit, got 0\n%s", dec.Stderr)
			}
			if keys := plaintextKeys([]byte(dec.Stdout)); len(keys) > 0 {
				t.Fatalf("the output holds decrypted keys (%v): nothing may be written unless every item decrypts and checks", keys)
			}
			out, err := yaml.Parse(dec.Stdout)
			if err != nil {
				t.Fatalf("the output is not a ResourceList: %v\n%s", err, dec.Stdout)
			}
			if items, _ := out.Pipe(yaml.Lookup("items")); items != nil && len(items.YNode().Content) > 0 {
				t.Fatalf("want no items, got %d", len(items.YNode().Content))
			}
			res, _ := out.Pipe(yaml.Lookup("results"))
			if res == nil {
				t.Fatalf("want the error as a KRM result on the output:\n%s", dec.Stdout)
			}
			var found bool
			for _, r := range res.YNode().Content {
				rn := yaml.NewRNode(r)
				sev, _ := rn.Pipe(yaml.Lookup("severity"))
				name, _ := rn.Pipe(yaml.Lookup("resourceRef", "name"))
				msg, _ := rn.Pipe(yaml.Lookup("message"))
				if yaml.GetValue(sev) == "error" && yaml.GetValue(name) == "policy-webhook-tls" && strings.Contains(yaml.GetValue(msg), tt.says) {
					found = true
				}
			}
			if !found {
				t.Fatalf("want an error result for Secret policy-webhook-tls saying %q:\n%s", tt.says, dec.Stdout)
			}
			if n := strings.Count(dec.Stderr, "policy-webhook-tls"); n != 1 || strings.Contains(dec.Stderr, "[info]") {
				t.Fatalf("want the error printed once on stderr, and nothing else, got it %d times:\n%s", n, dec.Stderr)
			}
		})
	}
}

func TestDecryptDecryptsAndSaysWhatItCompared(t *testing.T) {
	dec := runDecrypt(t, func([]*yaml.RNode) {})
	if dec.Code != 0 {
		t.Fatalf("exit %d: %s", dec.Code, dec.Stderr)
	}
	if strings.Contains(dec.Stdout, "ENC[") {
		t.Fatal("an encrypted value is left in the output")
	}
	if !strings.Contains(dec.Stdout, "data.tls.key matches the certificate in data.tls.crt") {
		t.Fatalf("want the comparison reported in the results:\n%s", dec.Stdout)
	}
}

// argoOverlay copies the Argo CD overlay and the package it renders into a
// temporary examples/ tree, with the cluster-ca material changed by mutate.
func argoOverlay(t *testing.T, mutate func(material string)) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"cluster-ca", "argocd"} {
		if err := os.CopyFS(filepath.Join(root, d), os.DirFS(filepath.Join(testkit.Root(t), "examples", d))); err != nil {
			t.Fatal(err)
		}
	}
	mutate(filepath.Join(root, "cluster-ca", "material"))
	return filepath.Join(root, "argocd", "app")
}

// kustomizeArgo runs the real kustomize on the overlay as Argo CD's
// repo-server does: carousel and carousel decrypt from PATH, the demo
// identity in the environment.
func kustomizeArgo(t *testing.T, dir string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(testkit.Tool(t, "kustomize"), "build", "--enable-alpha-plugins", "--enable-exec", dir)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Join(testkit.Root(t), "bin")+string(os.PathListSeparator)+os.Getenv("PATH"),
		"HOME="+t.TempDir(), NowEnv+"=2027-01-01T00:00:00Z", "SOPS_AGE_KEY_FILE="+filepath.Join(testkit.Root(t), testkit.AgeKeyFile))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// Through the real kustomize the Secrets reach decrypt with their values
// sorted (ca.crt before tls.crt): each key is still held to its own
// certificate, and a key swapped between two KeyPairs in git stops the
// build with both Secrets named, and nothing on stdout.
func TestDecryptUnderKustomizeRefusesASwappedKey(t *testing.T) {
	good := argoOverlay(t, func(string) {})
	out, stderr, err := kustomizeArgo(t, good)
	if err != nil {
		t.Fatalf("the unchanged overlay must build: %v\n%s", err, stderr)
	}
	if strings.Contains(out, "ENC[") || !strings.Contains(out, "kind: Secret") {
		t.Fatal("want decrypted Secrets")
	}

	swapped := argoOverlay(t, func(material string) {
		read := func(name string) *yaml.RNode {
			n, err := yaml.ReadFile(filepath.Join(material, name))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		a, b := read("leaf-policy-webhook-old.yaml"), read("leaf-metrics-client-old.yaml")
		for name, n := range map[string]*yaml.RNode{
			"leaf-policy-webhook-old.yaml": testkit.SwapKey(t, a, b, "tls.key"),
			"leaf-metrics-client-old.yaml": testkit.SwapKey(t, b, a, "tls.key"),
		} {
			if err := yaml.WriteFile(n, filepath.Join(material, name)); err != nil {
				t.Fatal(err)
			}
		}
	})
	out, stderr, err = kustomizeArgo(t, swapped)
	if err == nil || out != "" {
		t.Fatalf("want the build to fail with nothing on stdout, got err=%v and %d bytes", err, len(out))
	}
	for _, want := range []string{
		"v1/Secret/policy/policy-webhook-tls data.tls.key: the private key does not match the certificate in data.tls.crt",
		"v1/Secret/monitoring/metrics-client-tls data.tls.key: the private key does not match the certificate in data.tls.crt",
	} {
		if strings.Count(stderr, want) != 1 {
			t.Errorf("want once on stderr: %q\n%s", want, stderr)
		}
	}
}
