package phases

import (
	"slices"
	"strings"
	"testing"
)

// TestTheRecoverRoute holds the recover route to what docs/phases.md
// argues: from an expired or keyless CA, one phase installs a new CA and
// every leaf; pods of the two phases do not handshake (they did not before
// either: the expired CA is refused everywhere) and there is no way back.
func TestTheRecoverRoute(t *testing.T) {
	seq, err := Sequence(ScopeRecover)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ok   func(t *testing.T) bool
	}{
		{"recover is a scope of its own", func(t *testing.T) bool {
			return slices.Contains(Scopes, ScopeRecover)
		}},
		{"the route is steady then replace, one rollout", func(t *testing.T) bool {
			return slices.Equal(seq, []Phase{Steady, Replace})
		}},
		{"steady is the expired CA, trusted and signing the served leaves", func(t *testing.T) bool {
			s, _ := Lookup(ScopeRecover, Steady)
			return slices.Equal(s.Trusted, []Generation{Old}) && s.Signer == Old && s.Leaves == Old && s.Roll == 0
		}},
		{"replace trusts the new CA alone, which signs every leaf", func(t *testing.T) bool {
			s, _ := Lookup(ScopeRecover, Replace)
			return slices.Equal(s.Trusted, []Generation{New}) && s.Signer == New && s.Leaves == New && slices.Equal(s.ChainsTo, []Generation{New})
		}},
		{"replace keeps none of the expired CA's material", func(t *testing.T) bool {
			s, _ := Lookup(ScopeRecover, Replace)
			return !s.HasCA(Old) && s.Role(Old) == RoleAbsent && s.Role(New) == RoleActive
		}},
		{"replace rolls trust consumers and leaf holders at once", func(t *testing.T) bool {
			s, _ := Lookup(ScopeRecover, Replace)
			return s.Roll == TrustConsumers|LeafHolders
		}},
		{"the route is disruptive: pods of steady and replace fail in both directions", func(t *testing.T) bool {
			o, err := Outages(ScopeRecover, Steady, Replace)
			return Disruptive(ScopeRecover) && err == nil && slices.Equal(o, []Outage{{Client: Replace, Server: Steady}, {Client: Steady, Server: Replace}})
		}},
		{"pods of one phase handshake with each other", func(t *testing.T) bool {
			for _, p := range seq {
				if o, err := Outages(ScopeRecover, p, p); err != nil || len(o) != 0 {
					return false
				}
			}
			return true
		}},
		{"the move to replace is one step forward", func(t *testing.T) bool {
			d, err := Check(Move{Scope: ScopeRecover, From: Steady, To: Replace})
			return err == nil && d == Forward
		}},
		{"moving back from replace is refused, naming the expired CA, not a compromise", func(t *testing.T) bool {
			_, err := Check(Move{Scope: ScopeRecover, From: Replace, To: Steady})
			_, serr := CheckStep(ScopeRecover, Position{Phase: Replace}, Position{Phase: Steady}, Features{})
			return !RollsBack(ScopeRecover) && err != nil && serr != nil &&
				strings.Contains(err.Error(), "would trust the expired (or keyless) CA again") &&
				!strings.Contains(err.Error(), "compromised")
		}},
		{"the route has the emergency route's shape", func(t *testing.T) bool {
			for _, p := range seq {
				r, _ := Lookup(ScopeRecover, p)
				e, _ := Lookup(ScopeEmergency, p)
				if !slices.Equal(r.Trusted, e.Trusted) || r.Signer != e.Signer || r.Leaves != e.Leaves || !slices.Equal(r.CAPresent, e.CAPresent) || r.Roll != e.Roll {
					return false
				}
			}
			return true
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.ok(t) {
				t.Error("does not hold")
			}
		})
	}
}
