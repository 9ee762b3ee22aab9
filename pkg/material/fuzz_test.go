package material

import (
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/hang"
)

// FuzzParse feeds arbitrary YAML to the KeyPair parser and the functions
// that pick a rotation's pairs out of every item: they must never panic,
// and a pair Parse accepts must be usable (a certificate, a key field, an
// identity the material set can index).
//
// The committed corpus (testdata/fuzz/FuzzParse) holds the inputs that once
// crashed them; `go test` replays them, `make fuzz` searches for more.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("../../examples/*/material/*.yaml")
	for _, p := range files {
		if filepath.Base(p) == "kustomization.yaml" {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		defer hang.Watch(doc)()
		n, err := yaml.Parse(string(doc))
		if err != nil {
			return
		}
		_ = IsKeyPair(n)
		rotation := RotationOf(n)
		_ = ForeignResults([]*yaml.RNode{n}, "other")
		k, err := Parse(n)
		if err != nil {
			_ = err.Error()
			return
		}
		if len(k.Certs) == 0 || k.Cert() == nil {
			t.Fatal("an accepted KeyPair has no certificate")
		}
		if (k.KeyField == "" && k.Role != RoleCA) || k.Rotation == "" || k.Rotation != rotation {
			t.Fatalf("an accepted KeyPair is incomplete: key field %q, rotation %q (label %q)", k.KeyField, k.Rotation, rotation)
		}
		if _, err := NewSet([]KeyPair{k}); err != nil {
			t.Fatalf("one accepted KeyPair does not make a set: %v", err)
		}
		_ = k.Name()
		_ = k.FileName()
		if !k.Encrypted() && k.HasKey() { // only a CA held externally has none
			if _, err := k.KeyPEM(); err != nil {
				t.Fatalf("an accepted plaintext key does not decode: %v", err)
			}
		}
	})
}
