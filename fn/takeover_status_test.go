package fn

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/carousel-dev/carousel/internal/apiserver"
	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/status"
)

func objectState(r status.Report, kind, ns, name string) status.Verdict {
	for _, o := range r.Objects {
		if o.Kind == kind && o.Namespace == ns && o.Name == name {
			return o.State
		}
	}
	return ""
}

// The chart's linkerd-identity-trust-roots ConfigMap, taken over, is
// verified by `carousel status` exactly as a rendered bundle is: applied to
// a real API server it converges, keeps the chart's own key and label, a
// change the chart makes to its own key does not disturb the gate, and a
// merged phase that is not applied yet holds it.
func TestStatusVerifiesATakenOverChartConfigMapLikeARenderedBundle(t *testing.T) {
	s := apiserver.Start(t)
	s.StartControllers(t)
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", "render", "linkerd-chart-trust-roots", "input"))); err != nil {
		t.Fatal(err)
	}
	testkit.SetPhase(t, dir, phases.Steady)
	file := filepath.Join(dir, "carousel.yaml")
	const cm = "linkerd-identity-trust-roots"

	applyRendered(t, s, dir)
	r := statusUntil(t, s, file, "steady rolls out", func(r statusRun) bool { return r.code == 0 })
	if objectState(r.report, "ConfigMap", "linkerd", cm) != status.Converged {
		t.Fatalf("steady applied and rolled out must be converged, the taken-over ConfigMap among its objects: %d %s", r.code, r.raw)
	}
	if got := string(s.Kubectl(t, "-n", "linkerd", "get", "configmap", cm, "-o", `jsonpath={.data.chart-notes\.txt}|{.metadata.labels.helm\.sh/chart}`)); got != "an unrelated key the chart renders, kept as it is|linkerd-control-plane-2024.11.8" {
		t.Fatalf("the live ConfigMap lost the chart's key or label: %q", got)
	}

	// Helm changes its own key: carousel does not manage it.
	s.Kubectl(t, "-n", "linkerd", "patch", "configmap", cm, "--type=merge", "-p", `{"data":{"chart-notes.txt":"changed by helm upgrade"}}`)
	if r = carouselStatus(t, s, file); r.code != 0 {
		t.Fatalf("a change to a key carousel does not manage must not hold the gate: %d %s", r.code, r.raw)
	}

	// trust-new merged, not applied: the trusted set is missing the new anchor.
	testkit.SetPhase(t, dir, phases.TrustNew)
	r = carouselStatus(t, s, file)
	if r.code != 3 || objectState(r.report, "ConfigMap", "linkerd", cm) != status.Progressing || !reasonsContain(r.report, "ConfigMap linkerd/"+cm) {
		t.Fatalf("trust-new merged, steady applied: the ConfigMap must hold the gate (exit 3): %d %s", r.code, r.raw)
	}
	applyRendered(t, s, dir)
	statusUntil(t, s, file, "trust-new applied rolls out and converges", func(r statusRun) bool { return r.code == 0 })
}
