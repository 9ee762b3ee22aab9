package phases

import (
	"slices"
	"testing"
)

// TestRenewalInPlace holds the renew scope's table to what a renewal in
// place is: one key under two certificates, so no leaf changes and only
// trust moves.
func TestRenewalInPlace(t *testing.T) {
	seq, err := Sequence(ScopeRenew)
	if err != nil {
		t.Fatal(err)
	}
	states := make([]State, len(seq))
	for i, p := range seq {
		if states[i], err = Lookup(ScopeRenew, p); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		ok   func(t *testing.T) bool
	}{
		{"the sequence is steady, trust-new, distrust-old, cleanup", func(t *testing.T) bool {
			return slices.Equal(seq, []Phase{Steady, TrustNew, DistrustOld, Cleanup})
		}},
		{"no phase rolls leaf holders", func(t *testing.T) bool {
			for _, s := range states {
				if s.Roll&LeafHolders != 0 {
					t.Logf("%s rolls %s", s.Phase, s.Roll)
					return false
				}
			}
			return true
		}},
		{"every phase serves the leaves issued before the renewal", func(t *testing.T) bool {
			return !slices.ContainsFunc(states, func(s State) bool { return s.Leaves != Old })
		}},
		{"trust-new and distrust-old roll trust consumers, steady and cleanup nothing", func(t *testing.T) bool {
			want := []Consumers{0, TrustConsumers, TrustConsumers, 0}
			for i, s := range states {
				if s.Roll != want[i] {
					t.Logf("%s rolls %s, want %s", s.Phase, s.Roll, want[i])
					return false
				}
			}
			return true
		}},
		{"the CA Secret serves the renewed certificate from trust-new on", func(t *testing.T) bool {
			return states[0].Signer == Old && states[1].Signer == New && states[2].Signer == New && states[3].Signer == New
		}},
		{"the leaves chain to both certificates in every phase, since they share one key", func(t *testing.T) bool {
			return !slices.ContainsFunc(states, func(s State) bool { return !s.LeavesChainTo(Old) || !s.LeavesChainTo(New) })
		}},
		{"both certificates are trusted in trust-new, only the renewed one from distrust-old", func(t *testing.T) bool {
			return slices.Equal(states[1].Trusted, []Generation{Old, New}) && slices.Equal(states[2].Trusted, []Generation{New}) && slices.Equal(states[3].Trusted, []Generation{New})
		}},
		{"distrust-old keeps the old certificate for rollback and cleanup prunes it", func(t *testing.T) bool {
			return states[2].HasCA(Old) && !states[3].HasCA(Old) && states[3].HasCA(New)
		}},
		{"every adjacent pair of phases handshakes, both ways", func(t *testing.T) bool {
			for i := 0; i+1 < len(seq); i++ {
				for _, pair := range [][2]Phase{{seq[i], seq[i+1]}, {seq[i+1], seq[i]}} {
					ok, err := Handshakes(ScopeRenew, pair[0], pair[1])
					if err != nil || !ok {
						t.Logf("%s against %s: %v %v", pair[0], pair[1], ok, err)
						return false
					}
				}
			}
			return true
		}},
		{"a client of steady accepts a server of cleanup: the leaves it presents chain to the old certificate too", func(t *testing.T) bool {
			return states[0].Accepts(states[3]) && states[3].Accepts(states[0])
		}},
		{"the signer alone would not say so: steady does not trust the renewed signer of distrust-old", func(t *testing.T) bool {
			return !states[0].Trusts(states[2].Signer)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.ok(t) {
				t.Fatal("does not hold")
			}
		})
	}
}

// TestOnlyARenewalChainsToAGenerationThatDoesNotSign: in the other scopes
// a leaf chains to its signer alone, so Handshakes means what it meant
// before ChainsTo.
func TestOnlyARenewalChainsToAGenerationThatDoesNotSign(t *testing.T) {
	for _, scope := range []Scope{ScopeCA, ScopeLeaf} {
		seq, _ := Sequence(scope)
		for _, p := range seq {
			s, _ := Lookup(scope, p)
			if !slices.Equal(s.ChainsTo, []Generation{s.Signer}) {
				t.Errorf("%s/%s: leaves chain to %v, want the signer %s alone", scope, p, s.ChainsTo, s.Signer)
			}
		}
	}
}
