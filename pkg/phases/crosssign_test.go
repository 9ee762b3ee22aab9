package phases

import (
	"slices"
	"testing"
)

// TestCrossSignedRotation holds the cross-sign scope's table to what the
// route is: servers switch to the new CA first, carrying the
// cross-certificate; trust moves after; the cross-certificate goes last.
func TestCrossSignedRotation(t *testing.T) {
	seq, err := Sequence(ScopeCrossSign)
	if err != nil {
		t.Fatal(err)
	}
	states := make([]State, len(seq))
	for i, p := range seq {
		if states[i], err = Lookup(ScopeCrossSign, p); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		ok   func(t *testing.T) bool
	}{
		{"the sequence is steady, sign-new, trust-new, distrust-old, cleanup", func(t *testing.T) bool {
			return slices.Equal(seq, []Phase{Steady, SignNew, TrustNew, DistrustOld, Cleanup})
		}},
		{"the leaves carry the cross-certificate from sign-new to distrust-old, and chain to both CAs exactly then", func(t *testing.T) bool {
			for i, s := range states {
				want := i >= 1 && i <= 3
				both := s.LeavesChainTo(Old) && s.LeavesChainTo(New)
				if s.Cross != want || both != want {
					t.Logf("%s: cross %v, chains to both %v, want %v", s.Phase, s.Cross, both, want)
					return false
				}
			}
			return true
		}},
		{"the new CA signs from sign-new on, before any trust object holds it", func(t *testing.T) bool {
			return states[1].Signer == New && states[1].Leaves == New && !states[1].Trusts(New)
		}},
		{"trust moves old, old, both, new, new", func(t *testing.T) bool {
			want := [][]Generation{{Old}, {Old}, {Old, New}, {New}, {New}}
			for i, s := range states {
				if !slices.Equal(s.Trusted, want[i]) {
					t.Logf("%s trusts %v, want %v", s.Phase, s.Trusted, want[i])
					return false
				}
			}
			return true
		}},
		{"sign-new and cleanup roll leaf holders, trust-new and distrust-old trust consumers", func(t *testing.T) bool {
			want := []Consumers{0, LeafHolders, TrustConsumers, TrustConsumers, LeafHolders}
			for i, s := range states {
				if s.Roll != want[i] {
					t.Logf("%s rolls %s, want %s", s.Phase, s.Roll, want[i])
					return false
				}
			}
			return true
		}},
		{"distrust-old keeps the old CA for rollback and cleanup prunes it", func(t *testing.T) bool {
			return states[3].HasCA(Old) && !states[4].HasCA(Old)
		}},
		{"every adjacent pair of phases handshakes, both ways", func(t *testing.T) bool {
			for i := 0; i+1 < len(seq); i++ {
				for _, pair := range [][2]Phase{{seq[i], seq[i+1]}, {seq[i+1], seq[i]}} {
					ok, err := Handshakes(ScopeCrossSign, pair[0], pair[1])
					if err != nil || !ok {
						t.Logf("%s against %s: %v %v", pair[0], pair[1], ok, err)
						return false
					}
				}
			}
			return true
		}},
		{"without the cross-certificate sign-new would not handshake with steady", func(t *testing.T) bool {
			bare := states[1]
			bare.Cross, bare.ChainsTo = false, []Generation{bare.Signer}
			return !states[0].Accepts(bare)
		}},
		{"steady and cleanup do not handshake: the model can tell a skip from a step", func(t *testing.T) bool {
			ok, err := Handshakes(ScopeCrossSign, Steady, Cleanup)
			return err == nil && !ok
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

// TestStayOnOldNamesHowLongAClientOnTheOldTrustWorks: a client that
// trusts only the old CA accepts a cross-signed rotation's servers up to
// distrust-old and not at cleanup; in a CA rotation only at steady; the
// certificate the old CA signed for it is accepted while servers trust
// the old CA.
func TestStayOnOldNamesHowLongAClientOnTheOldTrustWorks(t *testing.T) {
	tests := []struct {
		scope Scope
		want  OldTrust
	}{
		{ScopeCrossSign, OldTrust{Scope: ScopeCrossSign, AcceptsUntil: DistrustOld, Breaks: Cleanup, AcceptedUntil: TrustNew, RefusedFrom: DistrustOld}},
		{ScopeCA, OldTrust{Scope: ScopeCA, AcceptsUntil: TrustNew, Breaks: SignNew, AcceptedUntil: SignNew, RefusedFrom: DistrustOld}},
		{ScopeRenew, OldTrust{Scope: ScopeRenew, AcceptsUntil: Cleanup, AcceptedUntil: TrustNew, RefusedFrom: DistrustOld}},
		{ScopeLeaf, OldTrust{Scope: ScopeLeaf, AcceptsUntil: Reissue, AcceptedUntil: Reissue}},
	}
	for _, tt := range tests {
		got, err := StayOnOld(tt.scope)
		if err != nil || got != tt.want {
			t.Errorf("%s: got %+v %v, want %+v", tt.scope, got, err, tt.want)
		}
	}
	if _, err := StayOnOld("nope"); err == nil {
		t.Error("an unknown scope must be refused")
	}
	if got := CrossPhases(ScopeCrossSign); !slices.Equal(got, []Phase{SignNew, TrustNew, DistrustOld}) {
		t.Errorf("cross phases %v", got)
	}
	if got := CrossPhases(ScopeCA); len(got) != 0 {
		t.Errorf("a CA rotation has cross phases %v", got)
	}
}
