package phases

import (
	"strings"
	"testing"
)

// TestEveryMove walks every ordered pair of phases of every scope and checks
// the verdict against the rule: stay, one step forward or one step back is
// legal; everything else is refused naming the phase to go through.
func TestEveryMove(t *testing.T) {
	for _, scope := range Scopes {
		seq, err := Sequence(scope)
		if err != nil {
			t.Fatal(err)
		}
		for i, from := range seq {
			for j, to := range seq {
				name := string(scope) + "/" + string(from) + "->" + string(to)
				t.Run(name, func(t *testing.T) {
					dir, err := Check(Move{Scope: scope, From: from, To: to})
					switch j - i {
					case 0:
						if err != nil || dir != Stay {
							t.Fatalf("staying put must be legal, got %v %v", dir, err)
						}
					case 1:
						if err != nil || dir != Forward {
							t.Fatalf("one step forward must be legal, got %v %v", dir, err)
						}
					case -1:
						if !RollsBack(scope) {
							if err == nil || !strings.Contains(err.Error(), "has no rollback") {
								t.Fatalf("a route without rollback must refuse one step back, got %v %v", dir, err)
							}
							return
						}
						if err != nil || dir != Back {
							t.Fatalf("one step back must be legal, got %v %v", dir, err)
						}
					default:
						if err == nil {
							t.Fatalf("a move of %d steps must be refused", j-i)
						}
						var want Phase
						if j < i {
							want = seq[i-1]
						} else {
							want = seq[i+1]
						}
						if !strings.Contains(err.Error(), string(want)) || !strings.Contains(err.Error(), "skips") {
							t.Fatalf("refusal must name what is skipped and the phase to go to (%s): %v", want, err)
						}
					}
				})
			}
		}
	}
}

func TestUnknownNamesAreRefused(t *testing.T) {
	tests := []struct {
		name string
		move Move
		want string
	}{
		{"an unknown scope is refused", Move{Scope: "cluster", From: Steady, To: Steady}, `unknown scope "cluster"`},
		{"an unknown source phase is refused", Move{Scope: ScopeCA, From: "promote", To: Steady}, `unknown phase "promote"`},
		{"an unknown target phase is refused", Move{Scope: ScopeCA, From: Steady, To: "done"}, `unknown phase "done"`},
		{"a leaf phase is unknown to a CA rotation", Move{Scope: ScopeCA, From: Steady, To: Reissue}, `unknown phase "reissue" for scope "ca"`},
		{"a CA phase is unknown to a leaf re-issue", Move{Scope: ScopeLeaf, From: Steady, To: TrustNew}, `unknown phase "trust-new" for scope "leaf"`},
		{"sign-new is unknown to a renewal in place: no leaf is re-issued", Move{Scope: ScopeRenew, From: TrustNew, To: SignNew}, `unknown phase "sign-new" for scope "renew"`},
		{"reissue is unknown to a renewal in place", Move{Scope: ScopeRenew, From: Steady, To: Reissue}, `unknown phase "reissue" for scope "renew"`},
		{"reissue is unknown to a cross-signed rotation", Move{Scope: ScopeCrossSign, From: Steady, To: Reissue}, `unknown phase "reissue" for scope "cross-sign"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Check(tt.move)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want error containing %q, got %v", tt.want, err)
			}
		})
	}
}

// TestAdjacentPhasesInteroperate is the safety argument of the model itself:
// for every pair of phases, clients of either must trust the signer of the
// leaves served in both exactly when the phases are adjacent (or equal).
func TestAdjacentPhasesInteroperate(t *testing.T) {
	for _, scope := range Scopes {
		seq, _ := Sequence(scope)
		for i, a := range seq {
			for j, b := range seq {
				sa, _ := Lookup(scope, a)
				sb, _ := Lookup(scope, b)
				ok := sa.Accepts(sb) && sb.Accepts(sa) && sa.Accepts(sa) && sb.Accepts(sb)
				adjacent := i-j <= 1 && j-i <= 1
				if adjacent && !ok && !Disruptive(scope) {
					t.Errorf("%s: adjacent phases %s and %s do not interoperate", scope, a, b)
				}
				if scope == ScopeCA && a == Steady && b == SignNew && ok {
					t.Errorf("steady and sign-new must not interoperate, or the model cannot tell a skip from a step")
				}
			}
		}
	}
}

func TestEveryPhaseIsConsistent(t *testing.T) {
	for _, scope := range Scopes {
		seq, _ := Sequence(scope)
		for _, p := range seq {
			s, err := Lookup(scope, p)
			if err != nil {
				t.Fatal(err)
			}
			// Cross-signed, sign-new's signer is not trusted yet: its
			// leaves carry the cross-certificate, which the trusted old
			// CA signed. Every phase's clients accept its own servers.
			if !s.Trusts(s.Signer) && !(s.Cross && s.Accepts(s)) {
				t.Errorf("%s/%s: the signer %s is not trusted", scope, p, s.Signer)
			}
			if !s.Accepts(s) {
				t.Errorf("%s/%s: the phase's clients do not accept its own servers", scope, p)
			}
			if !s.LeavesChainTo(s.Signer) {
				t.Errorf("%s/%s: the leaves do not chain to the signer %s", scope, p, s.Signer)
			}
			if !s.HasCA(s.Signer) {
				t.Errorf("%s/%s: the signer's material is not present", scope, p)
			}
			for _, g := range s.Trusted {
				if !s.HasCA(g) {
					t.Errorf("%s/%s: trusted generation %s has no material", scope, p, g)
				}
			}
			if (scope == ScopeCA || scope == ScopeCrossSign) && s.Leaves != s.Signer {
				t.Errorf("%s/%s: leaves of %s are served but %s signs", scope, p, s.Leaves, s.Signer)
			}
		}
	}
}

func TestRollsFollowTheTable(t *testing.T) {
	tests := []struct {
		scope Scope
		a, b  Phase
		want  Consumers
	}{
		{ScopeCA, Steady, TrustNew, TrustConsumers},
		{ScopeCA, TrustNew, Steady, TrustConsumers},
		{ScopeCA, TrustNew, SignNew, LeafHolders},
		{ScopeCA, SignNew, DistrustOld, TrustConsumers},
		{ScopeCA, DistrustOld, Cleanup, 0},
		{ScopeCA, Cleanup, DistrustOld, 0},
		{ScopeLeaf, Steady, Reissue, LeafHolders},
		{ScopeLeaf, Reissue, Steady, LeafHolders},
		{ScopeRenew, Steady, TrustNew, TrustConsumers},
		{ScopeRenew, TrustNew, Steady, TrustConsumers},
		{ScopeRenew, TrustNew, DistrustOld, TrustConsumers},
		{ScopeRenew, DistrustOld, TrustNew, TrustConsumers},
		{ScopeRenew, DistrustOld, Cleanup, 0},
		{ScopeRenew, Cleanup, DistrustOld, 0},
		{ScopeCrossSign, Steady, SignNew, LeafHolders},
		{ScopeCrossSign, SignNew, Steady, LeafHolders},
		{ScopeCrossSign, SignNew, TrustNew, TrustConsumers},
		{ScopeCrossSign, TrustNew, DistrustOld, TrustConsumers},
		{ScopeCrossSign, DistrustOld, Cleanup, LeafHolders},
		{ScopeCrossSign, Cleanup, DistrustOld, LeafHolders},
	}
	for _, tt := range tests {
		got, err := RollsBetween(tt.scope, tt.a, tt.b)
		if err != nil || got != tt.want {
			t.Errorf("%s %s<->%s: got %v %v, want %v", tt.scope, tt.a, tt.b, got, err, tt.want)
		}
	}
}

func TestLookupHandsOutCopies(t *testing.T) {
	s, _ := Lookup(ScopeCA, TrustNew)
	s.Trusted[0] = New
	again, _ := Lookup(ScopeCA, TrustNew)
	if again.Trusted[0] != Old {
		t.Fatal("editing a looked-up state changed the model")
	}
}
