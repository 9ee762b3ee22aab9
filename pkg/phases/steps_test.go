package phases

import (
	"slices"
	"strings"
	"testing"
)

var allFeatures = []Features{{}, {NodeTrust: true}, {SigningOverlap: true}, {NodeTrust: true, SigningOverlap: true}}

// TestWithoutFeaturesEveryPhaseIsOneStep: a rotation that needs no steps
// has exactly the phases as positions, each at its default step, so every
// package and golden renders as it did before steps existed.
func TestWithoutFeaturesEveryPhaseIsOneStep(t *testing.T) {
	for _, scope := range Scopes {
		seq, _ := Sequence(scope)
		path, err := Path(scope, Features{})
		if err != nil {
			t.Fatal(err)
		}
		if len(path) != len(seq) {
			t.Fatalf("%s: %d positions for %d phases", scope, len(path), len(seq))
		}
		for i, p := range path {
			if p.Phase != seq[i] || p.Step != StepObjects {
				t.Fatalf("%s: position %d is %s, want %s/objects", scope, i, p, seq[i])
			}
			st, _ := LookupAt(scope, Position{Phase: p.Phase}, Features{})
			plain, _ := Lookup(scope, p.Phase)
			if !slices.Equal(st.Published, plain.Trusted) || !slices.Equal(st.Active, []Generation{plain.Signer}) {
				t.Fatalf("%s: the default step changes the phase: %+v", p, st)
			}
		}
	}
}

// TestTheClusterCAPathPutsInClusterConfigAfterTheNodeStep: with a node step
// that publishes trust, each phase that changes the trusted set gets a
// follow-up step, and only there does the published set reach the phase's.
func TestTheClusterCAPathPutsInClusterConfigAfterTheNodeStep(t *testing.T) {
	f := Features{NodeTrust: true}
	path, _ := Path(ScopeCA, f)
	want := []string{"steady/objects", "trust-new/objects", "trust-new/in-cluster-config", "sign-new/objects",
		"distrust-old/objects", "distrust-old/in-cluster-config", "cleanup/objects"}
	var got []string
	for _, p := range path {
		got = append(got, p.String())
	}
	if !slices.Equal(got, want) {
		t.Fatalf("path %v, want %v", got, want)
	}
	published := map[string][]Generation{
		"steady/objects": {Old}, "trust-new/objects": {Old}, "trust-new/in-cluster-config": {Old, New},
		"sign-new/objects": {Old, New}, "distrust-old/objects": {Old, New}, "distrust-old/in-cluster-config": {New}, "cleanup/objects": {New},
	}
	for _, p := range path {
		st, err := LookupAt(ScopeCA, p, f)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(st.Published, published[p.String()]) {
			t.Errorf("%s publishes %v, want %v", p, st.Published, published[p.String()])
		}
	}
}

// TestNodeStepsRunWhereThePublishedSetChanges: the runbook of a phase move
// belongs to the move between two positions whose published sets differ,
// before the commit that rolls in-cluster-config consumers, in both
// directions; every other phase move keeps its runbook after its objects.
func TestNodeStepsRunWhereThePublishedSetChanges(t *testing.T) {
	f := Features{NodeTrust: true}
	path, _ := Path(ScopeCA, f)
	type nm struct {
		a, b   Phase
		before bool
	}
	forward := map[string]*nm{
		"steady/objects->trust-new/objects":                    nil,
		"trust-new/objects->trust-new/in-cluster-config":       {Steady, TrustNew, true},
		"trust-new/in-cluster-config->sign-new/objects":        {TrustNew, SignNew, false},
		"sign-new/objects->distrust-old/objects":               nil,
		"distrust-old/objects->distrust-old/in-cluster-config": {SignNew, DistrustOld, true},
		"distrust-old/in-cluster-config->cleanup/objects":      {DistrustOld, Cleanup, false},
	}
	for i := 0; i+1 < len(path); i++ {
		for _, dir := range []Direction{Forward, Back} {
			from, to := path[i], path[i+1]
			if dir == Back {
				from, to = to, from
			}
			a, b, before, ok := NodeMove(ScopeCA, from, to, f)
			w := forward[path[i].String()+"->"+path[i+1].String()]
			if dir == Back && path[i].Phase != path[i+1].Phase && w == nil {
				// Rolling back out of a phase whose node steps run before its
				// in-cluster-config step: they are listed again (idempotent).
				w = &nm{path[i].Phase, path[i+1].Phase, false}
			}
			if (w != nil) != ok {
				t.Errorf("%s -> %s: node steps %v, want %v", from, to, ok, w != nil)
				continue
			}
			if w == nil {
				continue
			}
			wa, wb := w.a, w.b
			if dir == Back {
				wa, wb = wb, wa
			}
			if a != wa || b != wb || before != w.before {
				t.Errorf("%s -> %s: node steps of %s -> %s (before %v), want %s -> %s (before %v)", from, to, a, b, before, wa, wb, w.before)
			}
		}
	}
	// Published changes exactly across the moves whose node steps run before.
	for i := 0; i+1 < len(path); i++ {
		if path[i].Phase != path[i+1].Phase {
			continue
		}
		a, _ := LookupAt(ScopeCA, path[i], f)
		b, _ := LookupAt(ScopeCA, path[i+1], f)
		_, _, before, ok := NodeMove(ScopeCA, path[i], path[i+1], f)
		if changed := !slices.Equal(a.Published, b.Published); changed != (ok && before) {
			t.Errorf("%s -> %s: published set changes %v, but node steps run before the commit: %v", path[i], path[i+1], changed, ok && before)
		}
	}
}

// TestRolesStepThroughOSMsTable: with a signing overlap, the roles of the
// two generations at each position are exactly the rows of OSM's
// MeshRootCertificate rotation table (seed 003), the transitional
// both-active row included.
func TestRolesStepThroughOSMsTable(t *testing.T) {
	f := Features{SigningOverlap: true}
	path, _ := Path(ScopeCA, f)
	want := [][2]Role{
		{RoleActive, RoleAbsent},   // 1 steady
		{RoleActive, RolePassive},  // 2 trust-new
		{RoleActive, RoleActive},   // 3 sign-new/both-active
		{RolePassive, RoleActive},  // 4 sign-new/old-passive
		{RoleInactive, RoleActive}, // 5 distrust-old
		{RoleAbsent, RoleActive},   // 5 cleanup (deleted)
	}
	if len(path) != len(want) {
		t.Fatalf("path %v has %d positions, OSM's table %d rows", path, len(path), len(want))
	}
	for i, p := range path {
		st, _ := LookupAt(ScopeCA, p, f)
		if got := [2]Role{st.Role(Old), st.Role(New)}; got != want[i] {
			t.Errorf("%s: roles %v, want %v", p, got, want[i])
		}
	}
}

// TestAdjacentPositionsShareAnActiveGeneration is the model-level form of
// "no applied state has zero active MeshRootCertificates": an object whose
// role is active on both sides of a move is never touched by it, so
// whatever the apply order, it stays active. Without the both-active step
// trust-new -> sign-new swaps the only active generation, which the test
// shows too.
func TestAdjacentPositionsShareAnActiveGeneration(t *testing.T) {
	check := func(f Features) []string {
		var bad []string
		path, _ := Path(ScopeCA, f)
		for i := 0; i+1 < len(path); i++ {
			a, _ := LookupAt(ScopeCA, path[i], f)
			b, _ := LookupAt(ScopeCA, path[i+1], f)
			shared := false
			for _, g := range Generations {
				if a.Role(g) == RoleActive && b.Role(g) == RoleActive {
					shared = true
				}
			}
			if !shared {
				bad = append(bad, path[i].String()+"->"+path[i+1].String())
			}
		}
		return bad
	}
	if bad := check(Features{SigningOverlap: true}); len(bad) > 0 {
		t.Fatalf("moves that share no active generation: %v", bad)
	}
	if bad := check(Features{}); !slices.Equal(bad, []string{"trust-new/objects->sign-new/objects"}) {
		t.Fatalf("without the overlap step, want exactly trust-new -> sign-new to swap the active generation, got %v", bad)
	}
}

// TestEveryMoveBetweenPositions: staying, one position forward or back is
// legal; anything else is refused, naming the position to go to.
func TestEveryMoveBetweenPositions(t *testing.T) {
	for _, f := range allFeatures {
		path, _ := Path(ScopeCA, f)
		for i, from := range path {
			for j, to := range path {
				dir, err := CheckStep(ScopeCA, from, to, f)
				switch j - i {
				case 0, 1, -1:
					want := map[int]Direction{0: Stay, 1: Forward, -1: Back}[j-i]
					if err != nil || dir != want {
						t.Errorf("%+v %s -> %s: got %v %v, want %v", f, from, to, dir, err, want)
					}
				default:
					var next Position
					if j < i {
						next = path[i-1]
					} else {
						next = path[i+1]
					}
					if err == nil || !strings.Contains(err.Error(), next.String()) {
						t.Errorf("%+v %s -> %s: want a refusal naming %s, got %v", f, from, to, next, err)
					}
				}
			}
		}
	}
}

func TestAnUnknownStepIsRefusedNamingTheSteps(t *testing.T) {
	_, err := LookupAt(ScopeCA, Position{TrustNew, StepBothActive}, Features{NodeTrust: true})
	if err == nil || !strings.Contains(err.Error(), "objects, in-cluster-config") {
		t.Fatalf("want a refusal listing the phase's steps, got %v", err)
	}
}

// TestEveryActiveGenerationIsTrustedOnBothSidesOfAMove is the handshake
// rule for a mesh that signs with every active MRC and trusts every active
// or passive one (OSM): during a move, proxies of both positions run side
// by side, so every generation active on either side must be trusted
// (active or passive) on both.
func TestEveryActiveGenerationIsTrustedOnBothSidesOfAMove(t *testing.T) {
	f := Features{SigningOverlap: true}
	path, _ := Path(ScopeCA, f)
	trusted := func(s State, g Generation) bool { r := s.Role(g); return r == RoleActive || r == RolePassive }
	for i := 0; i+1 < len(path); i++ {
		a, _ := LookupAt(ScopeCA, path[i], f)
		b, _ := LookupAt(ScopeCA, path[i+1], f)
		for _, g := range Generations {
			if (a.Role(g) == RoleActive || b.Role(g) == RoleActive) && !(trusted(a, g) && trusted(b, g)) {
				t.Errorf("%s -> %s: %s signs on one side but is not trusted on both (%s, %s)", path[i], path[i+1], g, a.Role(g), b.Role(g))
			}
		}
	}
}
