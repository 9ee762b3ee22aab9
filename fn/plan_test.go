package fn

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
)

// examplePackage copies the cluster-ca example (with its comments) to a
// temporary directory set to phase.
func examplePackage(t *testing.T, phase phases.Phase) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(testkit.Root(t), "examples", "cluster-ca"))); err != nil {
		t.Fatal(err)
	}
	testkit.SetPhase(t, dir, phase)
	return dir
}

// offline runs carousel at the suite's clock and with no cluster: the live
// gate of advance is tested in status_test.go.
var offline = testkit.Cmd{FixedClock: true, NoCluster: true}

func TestPlanGoldens(t *testing.T) {
	for _, phase := range []phases.Phase{phases.Steady, phases.TrustNew, phases.SignNew, phases.DistrustOld, phases.Cleanup} {
		t.Run(string(phase), func(t *testing.T) {
			dir := examplePackage(t, phase)
			text := offline.Must(t, "plan", filepath.Join(dir, "carousel.yaml")).Stdout
			golden(t, filepath.Join("testdata", "plan", string(phase)+".txt"), text)
			js := offline.Must(t, "plan", filepath.Join(dir, "carousel.yaml"), "--output", "json").Stdout
			var v map[string]any
			if err := json.Unmarshal([]byte(js), &v); err != nil {
				t.Fatalf("--output json is not JSON: %v", err)
			}
			if v["current"] != string(phase) {
				t.Fatalf("json current = %v", v["current"])
			}
			golden(t, filepath.Join("testdata", "plan", string(phase)+".json"), js)
		})
	}
}

func TestAdvanceMovesOneStepKeepsCommentsAndWritesThePullRequest(t *testing.T) {
	dir := examplePackage(t, phases.Steady)
	file := filepath.Join(dir, "carousel.yaml")
	before, _ := os.ReadFile(file)
	out := offline.Must(t, "advance", "--no-cluster", file).Stdout
	after, _ := os.ReadFile(file)
	// trust-new is two steps (runbook: kubernetes), so the step is written too.
	want := strings.Replace(string(before), "  phase: steady\n", "  phase: trust-new\n  step: objects\n", 1)
	if string(after) != want {
		t.Fatalf("advance changed more than spec.phase and spec.step (comments and formatting must stay):\n%s", after)
	}
	if !strings.HasPrefix(out, "carousel: advance cluster-ca to trust-new, step 1 of 2: objects\n") {
		t.Fatalf("unexpected title: %q", strings.SplitN(out, "\n", 2)[0])
	}
	golden(t, filepath.Join("testdata", "advance", "steady-to-trust-new.md"), out)

	// The Mermaid block parses with the real @mermaid-js/parser and
	// highlights the phase being merged.
	cmd := exec.Command(testkit.Tool(t, "mermaid-parse"))
	cmd.Stdin = strings.NewReader(out)
	parsed, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the Mermaid block does not parse: %v\n%s", err, parsed)
	}
	var diagrams []struct {
		Type       string
		Statements []struct{ Kind, ID, Type string }
	}
	if err := json.Unmarshal(parsed, &diagrams); err != nil || len(diagrams) != 1 {
		t.Fatalf("want one diagram, got %s (%v)", parsed, err)
	}
	var highlighted []string
	for _, s := range diagrams[0].Statements {
		if s.Type == "HIGHLIGHT" {
			highlighted = append(highlighted, s.ID)
		}
	}
	if len(diagrams[0].Statements) != 7 || len(highlighted) != 1 || highlighted[0] != "trust-new/objects" {
		t.Fatalf("the diagram must show the 7 steps of the 5 phases with trust-new/objects highlighted: %s", parsed)
	}
}

// A rotation that renders alerts gets spec.phaseSince with every move, at
// the move's time (the suite's clock), in the same write as spec.phase:
// its phase-stuck alert counts from it. The rest of the file stays.
func TestAdvanceRecordsWhenThePhaseBeganForTheAlerts(t *testing.T) {
	dir := examplePackage(t, phases.Steady)
	file := filepath.Join(dir, "carousel.yaml")
	b, _ := os.ReadFile(file)
	before := strings.Replace(string(b), "  phase: steady\n", "  phase: steady\n  alerts: {namespace: monitoring}\n", 1)
	if err := os.WriteFile(file, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	offline.Must(t, "advance", "--no-cluster", file)
	after, _ := os.ReadFile(file)
	since := testkit.Now.UTC().Format(time.RFC3339)
	want := strings.Replace(before, "  phase: steady\n", "  phase: trust-new\n  phaseSince: \""+since+"\"\n  step: objects\n", 1)
	if string(after) != want {
		t.Fatalf("advance must write spec.phase, spec.step and spec.phaseSince and nothing else:\n%s", after)
	}
}

// TestAdvanceWalksEveryStepForwardAndBack: advance from steady to cleanup
// visits every position of the rotation in order, writing spec.phase and
// spec.step, and advance --to the previous position walks them back.
func TestAdvanceWalksEveryStepForwardAndBack(t *testing.T) {
	dir := examplePackage(t, phases.Steady)
	file := filepath.Join(dir, "carousel.yaml")
	pkg := testkit.Load(t, dir)
	path := pkg.Positions(t)
	at := func() phases.Position {
		p := testkit.Load(t, dir).Rotation(t)
		r, err := phases.Resolve(p.Spec.Scope, p.Position(), p.Features())
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for i := 1; i < len(path); i++ {
		if r := offline.Run(t, "advance", "--no-cluster", file, "--out", filepath.Join(dir, "body.md")); r.Err != nil {
			t.Fatalf("advance to %s: %v\n%s", path[i], r.Err, r.Out)
		}
		if got := at(); got != path[i] {
			t.Fatalf("advance %d went to %s, want %s", i, got, path[i])
		}
	}
	for i := len(path) - 2; i >= 0; i-- {
		offline.Must(t, "advance", "--no-cluster", file, "--to", path[i].String(), "--out", filepath.Join(dir, "body.md"))
		if got := at(); got != path[i] {
			t.Fatalf("rollback went to %s, want %s", got, path[i])
		}
	}
}

func TestAdvanceRollsBackOneStepAndRefusesSkips(t *testing.T) {
	dir := examplePackage(t, phases.SignNew)
	file := filepath.Join(dir, "carousel.yaml")
	if r := offline.Run(t, "advance", "--no-cluster", file, "--to", "cleanup"); r.Err == nil || !strings.Contains(r.Out, "skips distrust-old") {
		t.Fatalf("a skip must be refused naming the skipped phase: %v %s", r.Err, r.Out)
	}
	if b, _ := os.ReadFile(file); !bytes.Contains(b, []byte("phase: sign-new")) {
		t.Fatal("a refused advance changed the file")
	}
	out := offline.Must(t, "advance", "--no-cluster", file, "--to", "trust-new", "--out", filepath.Join(dir, "body.md")).Stdout
	// Back from sign-new is to trust-new's last step.
	if strings.TrimSpace(out) != "carousel: roll back cluster-ca to trust-new, step 2 of 2: in-cluster-config" {
		t.Fatalf("title: %q", out)
	}
	body, _ := os.ReadFile(filepath.Join(dir, "body.md"))
	for _, want := range []string{"This PR is the rollback", "None needed", "Deployment policy/policy-webhook"} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("the rollback body lacks %q", want)
		}
	}
	if b, _ := os.ReadFile(file); !bytes.Contains(b, []byte("phase: trust-new")) {
		t.Fatal("the rollback did not set the phase")
	}
}

// TestAdvanceRefusesWhenALaterPhaseLacksMaterial: a package with the new CA
// but none of the new leaves renders trust-new, yet could never reach
// sign-new. advance must refuse the first move already, naming the phase and
// every missing leaf, and leave the file alone; a rollback stays possible.
func TestAdvanceRefusesWhenALaterPhaseLacksMaterial(t *testing.T) {
	dir := examplePackage(t, phases.Steady)
	file := filepath.Join(dir, "carousel.yaml")
	kust := filepath.Join(dir, "material", "kustomization.yaml")
	b, err := os.ReadFile(kust)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "- leaf-") && strings.HasSuffix(l, "-new.yaml") {
			if err := os.Remove(filepath.Join(dir, "material", strings.TrimPrefix(l, "- "))); err != nil {
				t.Fatal(err)
			}
			continue
		}
		kept = append(kept, l)
	}
	if err := os.WriteFile(kust, []byte(strings.Join(kept, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(file)
	r := offline.Run(t, "advance", "--no-cluster", file)
	if r.Err == nil {
		t.Fatalf("advance moved to trust-new although sign-new lacks every new leaf:\n%s", r.Out)
	}
	for _, want := range []string{"sign-new", `"policy-webhook"`, `"metrics-client"`, "carousel start"} {
		if !strings.Contains(r.Out, want) {
			t.Errorf("the refusal does not name %s:\n%s", want, r.Out)
		}
	}
	if after, _ := os.ReadFile(file); !bytes.Equal(before, after) {
		t.Fatal("a refused advance changed the file")
	}
	// The plan says the same, without refusing to plan.
	if plan := offline.Run(t, "plan", file); plan.Err != nil || !strings.Contains(plan.Stdout, "sign-new cannot be planned yet") {
		t.Errorf("plan does not warn about sign-new: %v\n%s", plan.Err, plan.Out)
	}
	// Rolling back is never blocked by missing material ahead.
	testkit.SetPhase(t, dir, phases.TrustNew)
	offline.Must(t, "advance", "--no-cluster", file, "--to", "steady")
}

// An info result of the render (the chart's trust-roots ConfigMap taken
// over) is a note in the plan, not a warning a reviewer must act on.
func TestPlanShowsInfoResultsAsNotesNotWarnings(t *testing.T) {
	stdout := testkit.Cmd{}.Must(t, "plan", filepath.Join(testkit.Root(t), "examples", "linkerd", "carousel.yaml")).Stdout
	if !strings.Contains(stdout, "\nnote: ConfigMap linkerd/linkerd-identity-trust-roots is in the input") || strings.Contains(stdout, "warning: ConfigMap linkerd/linkerd-identity-trust-roots") {
		t.Fatalf("the takeover must be a note, not a warning:\n%s", stdout)
	}
}
