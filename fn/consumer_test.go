package fn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
)

// consumerInput is the ResourceList a consumer package hands the function:
// examples/multi-app's payments config, its workloads and the published
// state, each edited by the case.
func consumerInput(t *testing.T, editConfig, editState func(string) string) []byte {
	t.Helper()
	root := filepath.Join(testkit.Root(t), "examples", "multi-app")
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	cfg := yaml.MustParse(editConfig(read("apps/payments/carousel.yaml")))
	items := testkit.Parse(t, []byte(read("apps/payments/app.yaml")))
	items = append(items, yaml.MustParse(editState(read("platform/state/mesh-ca.yaml"))))
	return testkit.ResourceList(t, cfg, items)
}

func same(s string) string { return s }

// pemKey is a private key as a leak would paste one (a throwaway, made here).
func pemKey(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})))
}

func TestAConsumerPackageRendersAndRefusesKeyMaterial(t *testing.T) {
	key := pemKey(t)
	tests := []struct {
		name          string
		config, state func(string) string
		field, says   string // "" field: the render succeeds
	}{
		{"the published state renders", same, same, "", ""},
		{"a PEM key in the config is refused at its field", func(s string) string {
			return strings.Replace(s, `argocd.argoproj.io/sync-wave: "-1"`, "argocd.argoproj.io/sync-wave: \"-1\"\n    leaked: |\n      "+strings.ReplaceAll(key, "\n", "\n      "), 1)
		}, same, "spec.renderedAnnotations.leaked", "a PEM private key"},
		{"a SOPS value in the state is refused at its field", same, func(s string) string {
			return strings.Replace(s, "  phase: steady\n", "  phase: steady\n  key: ENC[AES256_GCM,data:abc,iv:def,tag:ghi,type:str]\n", 1)
		}, "spec.key", "SOPS-encrypted"},
		{"SOPS metadata in the state is refused", same, func(s string) string {
			return s + "sops:\n  version: 3.11.0\n"
		}, "sops", "SOPS metadata"},
		{"a base64 key in the state is refused", same, func(s string) string {
			return strings.Replace(s, "  phase: steady\n", "  phase: steady\n  tlsKey: "+b64s(key)+"\n", 1)
		}, "spec.tlsKey", "base64-encoded PEM private key"},
		{"a state edited after publish is refused", same, func(s string) string {
			i := strings.LastIndex(s, "    trust: ") // spec.digests, after spec.baseline
			return s[:i] + "    trust: 00" + s[i+len("    trust: "):]
		}, "spec.digests.trust", "changed after `carousel publish`"},
		{"a baseline edited after publish is refused", same, func(s string) string {
			return strings.Replace(s, "    trust: ", "    trust: 00", 1)
		}, "spec.baseline.digests.trust", "changed after `carousel publish`"},
		{"a restart on a leaf the state does not publish is refused", func(s string) string {
			return strings.Replace(s, "consumes: [leaf:identity]", "consumes: [leaf:gateway]", 1)
		}, same, "spec.restarts[1].consumes[0]", "publishes no"},
		{"a restart rule is held to the CARotation's rules", func(s string) string {
			return strings.Replace(s, "  - kind: CronJob\n", "  - kind: Job\n", 1)
		}, same, "spec.restarts[1].kind", "not a workload kind"},
		{"a misspelled field is refused", func(s string) string {
			return strings.Replace(s, "  bundles:", "  bundle:", 1)
		}, same, "spec.bundle", "not a field"},
		{"a state missing from the resources is refused", func(s string) string {
			return strings.Replace(s, "state: mesh-ca", "state: cluster-ca", 1)
		}, same, "spec.state", "no CARotationState"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := testkit.Cmd{FixedClock: true, Stdin: consumerInput(t, tc.config, tc.state)}.Run(t)
			items, results := outputResults(t, res.Stdout)
			if tc.field == "" {
				if res.Code != 0 || items == 0 {
					t.Fatalf("want a render, got exit %d: %s %s", res.Code, res.Stdout, res.Stderr)
				}
				if strings.Contains(res.Stdout, "kind: CARotationState") {
					t.Fatal("the state reached the output: it is the function's input only")
				}
				return
			}
			if res.Code == 0 || items != 0 {
				t.Fatalf("want a refusal and no items, got exit %d, %d items", res.Code, items)
			}
			for _, r := range results {
				if r.severity == "error" && r.field == tc.field && strings.Contains(r.message, tc.says) {
					if strings.Contains(r.message, "PRIVATE KEY-----") {
						t.Fatal("the refusal repeats the key")
					}
					return
				}
			}
			t.Fatalf("no error at %s saying %q: %+v", tc.field, tc.says, results)
		})
	}
}

func b64s(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
