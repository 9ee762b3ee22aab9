package phases

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestPodsTwoPhasesApartFailAcrossClustersWhereTheTableSays pins the
// cross-cluster handshake model to the CA table: adjacent phases always
// complete mutual TLS; of the pairs two or more apart only sign-new and
// cleanup do (both sign with the new root, and sign-new still trusts it).
func TestPodsTwoPhasesApartFailAcrossClustersWhereTheTableSays(t *testing.T) {
	seq, _ := Sequence(ScopeCA)
	fails := map[[2]Phase]bool{
		{Steady, SignNew}: true, {Steady, DistrustOld}: true, {Steady, Cleanup}: true,
		{TrustNew, DistrustOld}: true, {TrustNew, Cleanup}: true,
	}
	for i, a := range seq {
		for j, b := range seq {
			ok, err := Handshakes(ScopeCA, a, b)
			if err != nil {
				t.Fatal(err)
			}
			lo, hi := a, b
			if j < i {
				lo, hi = b, a
			}
			want := !fails[[2]Phase{lo, hi}]
			if ok != want {
				t.Errorf("%s against %s: handshakes %v, want %v", a, b, ok, want)
			}
			if d := i - j; (d == 1 || d == -1 || d == 0) && !ok {
				t.Errorf("adjacent phases %s and %s must handshake", a, b)
			}
		}
	}
}

// cluster is one cluster of the walk: its phase, the phase its unrolled
// pods still run (when not converged) and whether it converged.
type cluster struct {
	at, from  int
	converged bool
}

// fleetState is a group of clusters that talk, in a comparable form.
type fleetState [3]cluster

// live are the phases of a cluster's running pods.
func (c cluster) live() []int {
	if c.converged {
		return []int{c.at}
	}
	return []int{c.from, c.at}
}

// walk explores every state a group of three clusters reaches from
// steady, moving one cluster at a time by one phase (forward or back)
// once it converged, when allowed says so, and converging any cluster
// that has not. It returns the first state with a cross-cluster pair of
// pods that does not handshake, and how many states it saw.
func walk(t *testing.T, allowed func(s fleetState, c, to int) bool) (bad *fleetState, badPair string, seen int, reached []bool) {
	t.Helper()
	seq, _ := Sequence(ScopeCA)
	start := fleetState{}
	for i := range start {
		start[i] = cluster{converged: true}
	}
	visited := map[fleetState]bool{start: true}
	queue := []fleetState{start}
	reached = make([]bool, len(seq))
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for a := range s {
			reached[s[a].at] = true
			for b := a + 1; b < len(s); b++ {
				for _, pa := range s[a].live() {
					for _, pb := range s[b].live() {
						ok, err := Handshakes(ScopeCA, seq[pa], seq[pb])
						if err != nil {
							t.Fatal(err)
						}
						if !ok && bad == nil {
							bad, badPair = &s, fmt.Sprintf("a pod of cluster %d at %s and one of cluster %d at %s", a, seq[pa], b, seq[pb])
						}
					}
				}
			}
		}
		var next []fleetState
		for c := range s {
			if !s[c].converged {
				n := s
				n[c] = cluster{at: s[c].at, converged: true}
				next = append(next, n)
				continue
			}
			for _, to := range []int{s[c].at - 1, s[c].at + 1} {
				if to < 0 || to >= len(seq) || !allowed(s, c, to) {
					continue
				}
				n := s
				n[c] = cluster{at: to, from: s[c].at}
				next = append(next, n)
			}
		}
		for _, n := range next {
			if !visited[n] {
				visited[n] = true
				queue = append(queue, n)
			}
		}
	}
	return bad, badPair, len(visited), reached
}

// TestEveryPodTheWindowAllowsHandshakesAcrossClusters is the window's
// safety argument, checked: every state three connected clusters can reach
// when each move passes CheckWindow (forward, back, converging in any
// order) has every cross-cluster pair of live pods handshaking, and the
// walk reaches every phase. The walk moves by CheckWindow alone, which
// sees only each peer's phase and convergence, not where its unrolled pods
// came from.
func TestEveryPodTheWindowAllowsHandshakesAcrossClusters(t *testing.T) {
	seq, _ := Sequence(ScopeCA)
	bad, pair, seen, reached := walk(t, func(s fleetState, c, to int) bool {
		var peers []Peer
		for i, p := range s {
			if i != c {
				peers = append(peers, Peer{Name: fmt.Sprint(i), Phase: seq[p.at], Converged: p.converged})
			}
		}
		return CheckWindow(ScopeCA, seq[s[c].at], seq[to], peers) == nil
	})
	if bad != nil {
		t.Fatalf("the window lets %s meet (state %+v)", pair, *bad)
	}
	if slices.Contains(reached, false) {
		t.Fatalf("the walk did not reach every phase: %v", reached)
	}
	t.Logf("%d states, every cross-cluster pair handshakes", seen)
}

// TestWithoutTheWindowPodsTwoPhasesApartMeet: the same walk with each
// cluster moving on its own gate only (converged, one phase at a time)
// reaches a state where two clusters' pods cannot talk. So the window, not
// the per-cluster rule, is what keeps a shared root's rotation safe.
func TestWithoutTheWindowPodsTwoPhasesApartMeet(t *testing.T) {
	bad, pair, _, _ := walk(t, func(fleetState, int, int) bool { return true })
	if bad == nil {
		t.Fatal("every state handshakes without the window: the window would be unnecessary")
	}
	t.Logf("without the window: %s fail", pair)
	// Nor is a spread of one enough without convergence: moving on while
	// a peer still runs pods of the phase before is two apart too.
	bad, pair, _, _ = walk(t, func(s fleetState, c, to int) bool {
		for i, p := range s {
			if i != c && (p.at-to > 1 || to-p.at > 1) {
				return false
			}
		}
		return true
	})
	if bad == nil {
		t.Fatal("a spread of one phase alone keeps every pair handshaking: convergence would be unnecessary")
	}
	t.Logf("a spread of one, without convergence: %s fail", pair)
}

func TestCheckWindowNamesThePeersInTheWay(t *testing.T) {
	for _, tt := range []struct {
		name     string
		from, to Phase
		peers    []Peer
		want     []string // substrings of the error; nil: allowed
	}{
		{"a cluster moves forward when every peer is at its phase and converged", TrustNew, SignNew,
			[]Peer{{"b", TrustNew, true}, {"c", TrustNew, true}}, nil},
		{"a cluster catches up with peers one phase ahead", TrustNew, SignNew,
			[]Peer{{"b", SignNew, false}, {"c", SignNew, true}}, nil},
		{"a peer one phase behind stops a move forward", TrustNew, SignNew,
			[]Peer{{"b", Steady, true}, {"c", TrustNew, true}}, []string{"b is at steady", "trust-new or later"}},
		{"a peer still rolling stops a move forward", TrustNew, SignNew,
			[]Peer{{"b", TrustNew, false}}, []string{"b has not converged at trust-new"}},
		{"a rollback waits for peers ahead to come back", SignNew, TrustNew,
			[]Peer{{"b", DistrustOld, true}}, []string{"b is at distrust-old", "sign-new or earlier"}},
		{"a rollback joins peers already back", SignNew, TrustNew,
			[]Peer{{"b", TrustNew, true}}, nil},
		{"staying put needs nothing", SignNew, SignNew,
			[]Peer{{"b", Steady, false}}, nil},
		{"without peers a cluster moves as it does alone", Steady, TrustNew, nil, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckWindow(ScopeCA, tt.from, tt.to, tt.peers)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var werr *WindowError
			if !errors.As(err, &werr) {
				t.Fatalf("want a *WindowError, got %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not say %q", err, w)
				}
			}
		})
	}
	if err := CheckWindow(ScopeCA, Steady, SignNew, nil); err == nil {
		t.Error("a move of two phases passed the window: it must fail as Check does")
	}
}

func TestCheckSpreadRefusesClustersTwoPhasesApart(t *testing.T) {
	for _, tt := range []struct {
		name     string
		clusters map[string]Phase
		want     string
	}{
		{"clusters at one phase are within the window", map[string]Phase{"a": SignNew, "b": SignNew}, ""},
		{"clusters one phase apart are within the window", map[string]Phase{"a": SignNew, "b": TrustNew, "c": SignNew}, ""},
		{"a cluster two phases ahead is refused, naming the one to move first", map[string]Phase{"a": SignNew, "b": Steady, "c": TrustNew},
			"b is at steady, a at sign-new; move b on first"},
		{"an unknown phase is refused with its cluster", map[string]Phase{"a": "later"}, "cluster a"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckSpread(ScopeCA, tt.clusters)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want it to say %q", err, tt.want)
			}
		})
	}
}

// TestCheckGroupsHoldsEachGroupAlone: a group is held to one phase of
// spread over its own members only, a member with no known phase is left
// out, and the refusal names the group and its members.
func TestCheckGroupsHoldsEachGroupAlone(t *testing.T) {
	groups := map[string][]string{"emea": {"east", "west"}, "gateway": {"east", "south", "gone"}}
	at := map[string]Phase{"east": SignNew, "west": TrustNew, "south": Steady}
	errs := CheckGroups(ScopeCA, groups, at)
	if len(errs) != 1 || errs[0].Group != "gateway" || !strings.Contains(errs[0].Error(), "group gateway (east, south, gone)") || !strings.Contains(errs[0].Error(), "south is at steady") {
		t.Fatalf("want gateway alone refused, naming south: %v", errs)
	}
	at["south"] = TrustNew
	if errs := CheckGroups(ScopeCA, groups, at); len(errs) != 0 {
		t.Fatalf("every group within one phase: %v", errs)
	}
}
