package phases

import (
	"slices"
	"strings"
	"testing"
)

// TestTheEmergencyRoute holds the emergency route to what docs/phases.md
// argues: one phase leaves the compromised CA, with an outage in both
// directions while it rolls out, and no way back.
func TestTheEmergencyRoute(t *testing.T) {
	seq, err := Sequence(ScopeEmergency)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ok   func(t *testing.T) bool
	}{
		{"the route is steady then replace, one rollout", func(t *testing.T) bool {
			return slices.Equal(seq, []Phase{Steady, Replace})
		}},
		{"replace trusts the new CA alone, which signs every leaf", func(t *testing.T) bool {
			s, _ := Lookup(ScopeEmergency, Replace)
			return slices.Equal(s.Trusted, []Generation{New}) && s.Signer == New && s.Leaves == New
		}},
		{"replace keeps none of the compromised CA's material", func(t *testing.T) bool {
			s, _ := Lookup(ScopeEmergency, Replace)
			return !s.HasCA(Old) && s.Role(Old) == RoleAbsent
		}},
		{"replace rolls trust consumers and leaf holders at once", func(t *testing.T) bool {
			s, _ := Lookup(ScopeEmergency, Replace)
			return s.Roll == TrustConsumers|LeafHolders
		}},
		{"pods of steady and replace fail in both directions", func(t *testing.T) bool {
			o, err := Outages(ScopeEmergency, Steady, Replace)
			return err == nil && slices.Equal(o, []Outage{{Client: Replace, Server: Steady}, {Client: Steady, Server: Replace}})
		}},
		{"the model's handshake agrees with the outage", func(t *testing.T) bool {
			ok, err := Handshakes(ScopeEmergency, Steady, Replace)
			return err == nil && !ok
		}},
		{"pods of one phase handshake with each other", func(t *testing.T) bool {
			for _, p := range seq {
				if o, err := Outages(ScopeEmergency, p, p); err != nil || len(o) != 0 {
					return false
				}
			}
			return true
		}},
		{"a safe route has no outage between adjacent phases", func(t *testing.T) bool {
			for _, scope := range Scopes {
				if Disruptive(scope) {
					continue
				}
				s, _ := Sequence(scope)
				for i := 1; i < len(s); i++ {
					if o, err := Outages(scope, s[i-1], s[i]); err != nil || len(o) != 0 {
						t.Logf("%s: %s -> %s: %v %v", scope, s[i-1], s[i], o, err)
						return false
					}
				}
			}
			return true
		}},
		{"a CA rotation's skip from steady to sign-new is an outage one way", func(t *testing.T) bool {
			o, _ := Outages(ScopeCA, Steady, SignNew)
			return slices.Equal(o, []Outage{{Client: Steady, Server: SignNew}})
		}},
		{"moving back from replace is refused, naming the compromised CA", func(t *testing.T) bool {
			_, err := Check(Move{Scope: ScopeEmergency, From: Replace, To: Steady})
			_, serr := CheckStep(ScopeEmergency, Position{Phase: Replace}, Position{Phase: Steady}, Features{})
			return err != nil && strings.Contains(err.Error(), "would trust the compromised CA again") && serr != nil
		}},
		{"only the emergency and recover routes are disruptive and have no rollback", func(t *testing.T) bool {
			for _, scope := range Scopes {
				oneWay := scope == ScopeEmergency || scope == ScopeRecover
				if Disruptive(scope) != oneWay || RollsBack(scope) == oneWay {
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
