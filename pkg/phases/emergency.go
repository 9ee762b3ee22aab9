package phases

import (
	"fmt"
	"slices"
)

// ScopeEmergency replaces a compromised CA (spec.compromised) in the
// fewest rollouts: one phase distrusts it, signs with a new CA and
// re-issues every leaf. It is the one route that trades handshakes for
// time: while that phase rolls out, pods of steady and pods of replace do
// not trust each other's leaves (Outage says which pairs fail), and it has
// no rollback, since rolling back would trust the compromised CA again
// (docs/phases.md, "Emergency: a compromised CA").
const ScopeEmergency Scope = "emergency"

// Replace is the emergency route's one phase: the new CA alone is
// trusted and signs, every leaf is the new CA's, the old CA's material is
// gone.
const Replace Phase = "replace"

var emergencyTable = []State{
	{Phase: Steady, Trusted: []Generation{Old}, Signer: Old, Leaves: Old, CAPresent: []Generation{Old},
		Summary: "the compromised CA is still trusted and signs: move on to replace now"},
	{Phase: Replace, Trusted: []Generation{New}, Signer: New, Leaves: New, CAPresent: []Generation{New}, Roll: TrustConsumers | LeafHolders,
		Summary: "the compromised CA leaves every trust object and the new CA re-issues every leaf, in one phase: pods of steady and of replace do not handshake until it has rolled out"},
}

// Disruptive reports whether adjacent phases of a scope may fail to
// handshake: the routes that trade handshakes for time. Every other
// scope keeps every pair of adjacent phases interoperating.
func Disruptive(scope Scope) bool { return scope == ScopeEmergency || scope == ScopeRecover }

// RollsBack reports whether a scope may move back a phase. An emergency
// may not: the phase before replace trusts the compromised CA; nor may a
// recovery: it trusts the expired or keyless one.
func RollsBack(scope Scope) bool { return scope != ScopeEmergency && scope != ScopeRecover }

// Unsafe names what the phase before replace trusts on a route without
// rollback: the CA that must not be trusted again.
func Unsafe(scope Scope) string {
	if scope == ScopeRecover {
		return "the expired (or keyless) CA"
	}
	return "the compromised CA"
}

func noRollback(scope Scope, from, to Phase) error {
	return fmt.Errorf("rolling back from %s to %s would trust %s again: the %s route has no rollback (fix forward: `carousel start` a new rotation once it is done)", from, to, Unsafe(scope), scope)
}

// Outage is a pair of phases whose pods do not complete TLS in one
// direction while a move between them rolls out: a client of Client does
// not accept the leaf a server of Server presents.
type Outage struct {
	Client Phase `json:"client"`
	Server Phase `json:"server"`
}

func (o Outage) String() string {
	return fmt.Sprintf("clients at %s refuse servers at %s", o.Client, o.Server)
}

// Outages lists, for a move between phases a and b, every direction in
// which pods of the two phases fail: none for a safe move, and for an
// emergency's replace, both directions across. Pods of one phase always
// accept each other (TestEveryPhaseIsConsistent).
func Outages(scope Scope, a, b Phase) ([]Outage, error) {
	sa, err := Lookup(scope, a)
	if err != nil {
		return nil, err
	}
	sb, err := Lookup(scope, b)
	if err != nil {
		return nil, err
	}
	var out []Outage
	for _, p := range [][2]State{{sa, sb}, {sb, sa}} {
		if p[0].Phase != p[1].Phase && !p[0].Accepts(p[1]) {
			out = append(out, Outage{Client: p[0].Phase, Server: p[1].Phase})
		}
	}
	slices.SortFunc(out, func(x, y Outage) int {
		if x.Client < y.Client {
			return -1
		}
		if x.Client > y.Client {
			return 1
		}
		return 0
	})
	return out, nil
}
