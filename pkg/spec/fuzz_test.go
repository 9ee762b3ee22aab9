package spec

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/hang"
)

// FuzzLoad feeds arbitrary YAML to the spec loader: it must never panic,
// and a spec it accepts must be complete (defaulted) and valid, so the
// renderer's durations (Duration.Value) are never zero or negative.
//
// The committed corpus (testdata/fuzz/FuzzLoad) holds the inputs that once
// crashed it; `go test` replays them, `make fuzz` searches for more.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(base))
	examples, _ := filepath.Glob("../../examples/*/carousel.yaml")
	for _, p := range examples {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		// Each document of the file on its own (some hold more than one).
		nodes, err := (&kio.ByteReader{Reader: bytes.NewReader(b), OmitReaderAnnotations: true}).Read()
		if err != nil {
			f.Fatal(err)
		}
		for _, n := range nodes {
			f.Add([]byte(n.MustString()))
		}
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		defer hang.Watch(doc)()
		n, err := yaml.Parse(string(doc))
		if err != nil {
			return
		}
		r, err := Load(n)
		if err != nil {
			if _, ok := err.(FieldErrors); !ok {
				t.Fatalf("a load error must be FieldErrors (results with field paths), got %T: %v", err, err)
			}
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("an accepted spec does not validate again: %v", err)
		}
		again := *r
		if err := again.Default(); err != nil || again.Spec.ExpiryWarning != r.Spec.ExpiryWarning {
			t.Fatalf("an accepted spec was not fully defaulted")
		}
		for _, d := range []Duration{r.Spec.ExpiryWarning, r.Spec.CA.Validity} {
			if d.Value() <= 0 {
				t.Fatalf("an accepted spec holds a duration %q that is not positive", d)
			}
		}
		for _, l := range r.Spec.Leaves {
			if l.Validity.Value() <= 0 {
				t.Fatalf("an accepted leaf validity %q is not positive", l.Validity)
			}
		}
	})
}
