package rotate

import (
	"os"
	"strings"
	"testing"

	"github.com/carousel-dev/carousel/pkg/phases"
)

func TestSetPhaseKeepsCommentsAndFormatting(t *testing.T) {
	p := newPackage(t)
	if err := p.SetPhase(phases.TrustNew); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p.File)
	want := strings.Replace(rotation, "phase: steady", "phase: trust-new", 1)
	if string(b) != want {
		t.Fatalf("SetPhase changed more than the phase:\n--- want\n%s\n--- got\n%s", want, b)
	}
}
