package fn

import (
	"path/filepath"
	"testing"

	"github.com/carousel-dev/carousel/internal/testkit"
)

// TestStreamedOutputEqualsTheFrameworks runs the real binary (which streams
// its output item by item) and kyaml's framework.Execute on the same input,
// for every example and phase, and requires the same bytes.
func TestStreamedOutputEqualsTheFrameworks(t *testing.T) {
	for _, dir := range testkit.Examples(t) {
		pkg := testkit.Load(t, dir)
		for _, phase := range pkg.Phases(t) {
			t.Run(filepath.Base(dir)+"/"+string(phase), func(t *testing.T) {
				input := testkit.ResourceList(t, pkg.WithPhase(t, phase), pkg.CopyItems())
				want, err := run(t, input)
				if err != nil {
					t.Fatal(err)
				}
				got := testkit.Cmd{FixedClock: true, Stdin: input}.Must(t).Stdout
				if got != string(want) {
					t.Fatalf("streamed output differs from framework.Execute's (%d vs %d bytes)", len(got), len(want))
				}
			})
		}
	}
}
