package rotate

import (
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// A rotation whose CA is OSM's Tresor shape (RSA in PKCS#8) and whose leaf
// asks for SEC 1: every key `init`, `start` and `csr` make is in the
// encoding the spec names for it.
const encodedRotation = `apiVersion: carousel.dev/v1alpha1
kind: CARotation
metadata:
  name: mesh
spec:
  phase: steady
  ca:
    commonName: root.mesh
    key: {algorithm: rsa-2048, encoding: pkcs8}
  leaves:
  - name: issuer
    secret: {name: issuer, namespace: mesh}
    key: {algorithm: ecdsa-p256, encoding: sec1}
  - name: edge
    secret: {name: edge, namespace: mesh}
    key: {algorithm: ecdsa-p384, encoding: pkcs8}
`

func newEncodedPackage(t *testing.T) *Package {
	t.Helper()
	file := filepath.Join(t.TempDir(), "carousel.yaml")
	if err := os.WriteFile(file, []byte(encodedRotation), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func pemType(t *testing.T, b []byte) string {
	t.Helper()
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("not PEM: %q", b)
	}
	return block.Type
}

func TestInitStartAndCSRWriteTheSpecsKeyEncoding(t *testing.T) {
	p := newEncodedPackage(t)
	if _, err := Init(p, plaintext); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(p, plaintext, StartRequest{}); err != nil {
		t.Fatal(err)
	}
	set, err := p.Material()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"": "PRIVATE KEY", "issuer": "EC PRIVATE KEY", "edge": "PRIVATE KEY"}
	for _, g := range phases.Generations {
		for _, k := range []struct {
			leaf string
			pair interface{ KeyPEM() ([]byte, error) }
		}{{"", set.CA[g]}, {"issuer", set.Leaves["issuer"][g]}, {"edge", set.Leaves["edge"][g]}} {
			b, err := k.pair.KeyPEM()
			if err != nil {
				t.Fatal(err)
			}
			if got := pemType(t, b); got != want[k.leaf] {
				t.Fatalf("%s key of %q: a %q block, want %q", g, k.leaf, got, want[k.leaf])
			}
		}
	}

	// csr: the pending key of the next CA and of a leaf, back at steady.
	if err := p.SetPhase(phases.Cleanup); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(p, plaintext, StartRequest{}); err != nil { // promotes, back to steady
		t.Fatal(err)
	}
	if _, err := CSR(p, plaintext, CSRRequest{CA: true, Leaves: []string{"issuer"}}); err != nil {
		t.Fatal(err)
	}
	pend, err := p.pending()
	if err != nil {
		t.Fatal(err)
	}
	if len(pend) != 2 {
		t.Fatalf("%d pending keys, want 2", len(pend))
	}
	for _, pk := range pend {
		field := "tls.key" // the CA's key field without spec.ca.secret, and the issuer's
		b, err := base64.StdEncoding.DecodeString(yaml.GetValue(pk.node.Field("data").Value.Field(field).Value))
		if err != nil {
			t.Fatal(err)
		}
		if got := pemType(t, b); got != want[pk.pair.Leaf] {
			t.Fatalf("pending key of %q: a %q block, want %q", pk.pair.Leaf, got, want[pk.pair.Leaf])
		}
	}
}

// A committed key in another encoding than the spec names is a render
// error at the key, naming the spec field: a Secret the system cannot read
// must not reach the cluster.
func TestARenderRefusesAKeyInAnotherEncodingThanTheSpecNames(t *testing.T) {
	p := newEncodedPackage(t)
	if _, err := Init(p, plaintext); err != nil {
		t.Fatal(err)
	}
	set, err := p.Material()
	if err != nil {
		t.Fatal(err)
	}
	items := set.Nodes
	for _, c := range []struct {
		name, from, to, message string
	}{
		{"the spec as the material was made renders", "", "", ""},
		{"a CA key in PKCS#8 where the spec says pkcs1 is refused at the key",
			"key: {algorithm: rsa-2048, encoding: pkcs8}", "key: {algorithm: rsa-2048, encoding: pkcs1}",
			`spec.ca.key.encoding is pkcs1 (a "RSA PRIVATE KEY" PEM block) but the key is a "PRIVATE KEY" block`},
		{"a leaf key in SEC 1 where the spec says pkcs8 is refused at the key",
			"key: {algorithm: ecdsa-p256, encoding: sec1}", "key: {algorithm: ecdsa-p256, encoding: pkcs8}",
			`spec.leaves[0].key.encoding is pkcs8 (a "PRIVATE KEY" PEM block) but the key is a "EC PRIVATE KEY" block`},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := yaml.MustParse(strings.Replace(encodedRotation, c.from, c.to, 1))
			rot, err := spec.Load(cfg)
			if err != nil {
				t.Fatal(err)
			}
			out := gen.Render(gen.Input{Rotation: rot, Config: cfg, Items: items})
			var errs []string
			for _, r := range out.Results {
				if r.Severity == "error" {
					errs = append(errs, r.String())
				}
			}
			if c.message == "" {
				if len(errs) > 0 {
					t.Fatalf("refused: %v", errs)
				}
				return
			}
			if len(errs) != 1 || !strings.Contains(errs[0], c.message) || out.Items != nil {
				t.Fatalf("want one error with %q and no items, got %v (%d items)", c.message, errs, len(out.Items))
			}
		})
	}
}
