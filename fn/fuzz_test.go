package fn

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/hang"
	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/krmio"
	"github.com/carousel-dev/carousel/pkg/phases"
)

// FuzzFunction feeds arbitrary bytes to the function as its stdin (the
// ResourceList kustomize or kpt would send) through the same code the
// binary runs: krmio reading and writing, the processor, spec.Load and the
// render. Whatever the input: no panic, and either a successful render
// with no error result, or an error whose output holds no items and an
// error result (never half a phase).
//
// The committed corpus (testdata/fuzz/FuzzFunction) holds the inputs that
// once crashed it; `go test` replays them, `make fuzz` searches for more.
func FuzzFunction(f *testing.F) {
	for _, dir := range []string{"kpt", "cluster-ca"} {
		pkg := testkit.Load(f, filepath.Join(testkit.Root(f), "examples", dir))
		for _, ph := range []phases.Phase{phases.Steady, phases.SignNew} {
			f.Add(testkit.ResourceList(f, pkg.WithPhase(f, ph), pkg.CopyItems()))
		}
	}
	processor := buildProcessor(func() (time.Time, error) { return testkit.Now, nil })
	f.Fuzz(func(t *testing.T, input []byte) {
		defer hang.Watch(input)()
		var out bytes.Buffer
		err := krmio.Execute(processor, bytes.NewReader(input), &out)
		if out.Len() == 0 {
			if err == nil {
				t.Fatal("no output and no error")
			}
			return
		}
		rw := &kio.ByteReader{Reader: bytes.NewReader(out.Bytes()), OmitReaderAnnotations: true}
		items, rerr := rw.Read()
		if rerr != nil {
			t.Fatalf("the output is not a ResourceList (%v):\n%s", rerr, out.String())
		}
		failed := false
		if rw.Results != nil {
			els, _ := rw.Results.Elements()
			for _, r := range els {
				if s, _ := r.Pipe(yaml.Lookup("severity")); yaml.GetValue(s) == "error" {
					failed = true
				}
			}
		}
		if err != nil {
			if len(items) > 0 {
				t.Fatalf("a failed run wrote %d items: %v", len(items), err)
			}
			if !failed {
				t.Fatalf("a failed run wrote no error result: %v\n%s", err, out.String())
			}
			return
		}
		if failed {
			t.Fatalf("a run that succeeded wrote an error result:\n%s", out.String())
		}
	})
}
