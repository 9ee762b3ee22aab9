package spec

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/hang"
)

// FuzzLoadFleet feeds arbitrary YAML to the consumer and state loaders,
// which read what other teams' repositories hand the function: they must
// never panic, every refusal must be FieldErrors (KRM results with field
// paths), and nothing they accept may carry key material.
func FuzzLoadFleet(f *testing.F) {
	for _, p := range []string{"apps/payments/carousel.yaml", "apps/orders/carousel.yaml", "team-ledger/ledger/carousel.yaml", "platform/state/mesh-ca.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "examples", "multi-app", p))
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
		for _, load := range []func(*yaml.RNode) error{
			func(n *yaml.RNode) error { _, err := LoadConsumer(n); return err },
			func(n *yaml.RNode) error { _, err := LoadState(n); return err },
		} {
			err := load(n)
			var fe FieldErrors
			if err != nil && !errors.As(err, &fe) {
				t.Fatalf("a load error must be FieldErrors (results with field paths), got %T: %v", err, err)
			}
			if err == nil && len(KeyMaterial(n, "")) > 0 {
				t.Fatal("a config or state with key material was accepted")
			}
		}
	})
}
