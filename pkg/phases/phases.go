// Package phases is carousel's phase model: which CA generations are trusted,
// which one signs, which material exists and what must roll in every phase of
// a rotation, and which moves between phases are legal.
//
// The model is pure (no I/O) so that the function, the CLI, the pull-request
// check and the tests all reason from one table. The safety rule it encodes is
// from docs/phases.md: during a rollout pods of two adjacent phases run side by
// side, so any client of phase k or k+1 must accept any server of phase k or
// k+1. Every legal move is to an adjacent phase; that is what makes it safe.
package phases

import (
	"fmt"
	"slices"
	"strings"
)

// Scope says what a rotation replaces.
type Scope string

const (
	// ScopeCA replaces the certificate authority itself (and so every leaf).
	ScopeCA Scope = "ca"
	// ScopeLeaf re-issues leaf certificates under the same CA.
	ScopeLeaf Scope = "leaf"
	// ScopeRenew renews the CA in place: a new certificate over the same
	// key, with the same subject and subject key identifier and a longer
	// life. Every leaf verifies under either certificate, so no leaf is
	// re-issued and only trust consumers roll.
	ScopeRenew Scope = "renew"
	// ScopeCrossSign replaces the CA with a new one the old one
	// cross-signs: leaves of the new CA are served with the
	// cross-certificate, so clients that trust only the old CA accept them
	// until it leaves the chains at cleanup (crosssign.go).
	ScopeCrossSign Scope = "cross-sign"
)

// Scopes lists every scope in a stable order.
var Scopes = []Scope{ScopeCA, ScopeLeaf, ScopeRenew, ScopeCrossSign, ScopeEmergency, ScopeRecover}

// Phase names one step of a rotation.
type Phase string

const (
	Steady      Phase = "steady"
	TrustNew    Phase = "trust-new"
	SignNew     Phase = "sign-new"
	DistrustOld Phase = "distrust-old"
	Cleanup     Phase = "cleanup"
	Reissue     Phase = "reissue"
)

// Generation names one of the (at most two) generations of material a
// rotation juggles. For a CA rotation "old" is the CA being replaced and "new"
// its successor; for a leaf re-issue the CA is always "old" and the leaves come
// in an old and a new generation.
type Generation string

const (
	Old Generation = "old"
	New Generation = "new"
)

// Generations lists both generations in a stable order.
var Generations = []Generation{Old, New}

// Consumers is a set of kinds of consumer that must roll into a phase.
type Consumers uint8

const (
	// TrustConsumers read the trusted set (bundles, caBundle, ca.crt, cluster-info).
	TrustConsumers Consumers = 1 << iota
	// LeafHolders serve or present a leaf certificate.
	LeafHolders
)

func (c Consumers) String() string {
	var parts []string
	if c&TrustConsumers != 0 {
		parts = append(parts, "trust consumers")
	}
	if c&LeafHolders != 0 {
		parts = append(parts, "leaf holders")
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, " and ")
}

// State is everything the rest of carousel needs to know about one phase.
type State struct {
	Scope Scope
	Phase Phase
	// Trusted are the CA generations in every trust object of the phase.
	Trusted []Generation
	// Signer is the CA generation whose key signs the leaves served in the
	// phase, and whose certificate the CA Secret serves (the issuer of
	// what the system itself signs from it).
	Signer Generation
	// ChainsTo are the CA generations whose certificate the leaves served
	// in the phase verify under: the signer, and in a renewal in place
	// every generation, since the renewed certificate has the old one's
	// key, subject and key identifier; cross-signed, the old CA too while
	// the leaves carry the cross-certificate (Lookup fills it).
	ChainsTo []Generation
	// Cross: the leaves served in the phase carry the cross-certificate
	// after them (the new CA's subject and key, signed by the old CA), so
	// they chain to the old CA too (scope cross-sign).
	Cross bool
	// Leaves is the leaf generation every holder presents in the phase.
	Leaves Generation
	// CAPresent are the CA generations whose material is rendered as Secrets.
	// distrust-old keeps the old CA for rollback; cleanup prunes it.
	CAPresent []Generation
	// Roll is what must roll when the rotation enters this phase moving forward.
	// Moving back rolls what the phase being left rolled, for the same reason.
	Roll Consumers
	// Summary is one sentence for people: what the phase does.
	Summary string

	// Step is the step of the phase (LookupAt; empty from Lookup).
	Step Step
	// Published is the trusted set the nodes publish to in-cluster-config
	// consumers while the position is applied (LookupAt): Trusted, except
	// in the objects step of a phase whose node step has not published its
	// set yet (Features.NodeTrust).
	Published []Generation
	// Active are the generations that sign in the mesh's sense (an OSM
	// MeshRootCertificate's role: active): the signer, or both in the
	// both-active step (LookupAt).
	Active []Generation
}

// Role is a generation's role as OSM's MeshRootCertificate names it.
type Role string

const (
	RoleActive   Role = "active"   // signs and is trusted
	RolePassive  Role = "passive"  // trusted, does not sign
	RoleInactive Role = "inactive" // present (kept for rollback), not trusted
	RoleAbsent   Role = ""         // not rendered
)

// Role returns generation g's role in the state: active when it signs (see
// Active), passive when only trusted, inactive when its material is kept but
// not trusted, absent otherwise.
func (s State) Role(g Generation) Role {
	switch {
	case !s.HasCA(g):
		return RoleAbsent
	case slices.Contains(s.Active, g) || (len(s.Active) == 0 && s.Signer == g):
		return RoleActive
	case s.Trusts(g):
		return RolePassive
	}
	return RoleInactive
}

// Trusts reports whether generation g is in the trusted set of the phase.
func (s State) Trusts(g Generation) bool { return slices.Contains(s.Trusted, g) }

// LeavesChainTo reports whether the leaves served in the phase verify
// under generation g's certificate.
func (s State) LeavesChainTo(g Generation) bool { return slices.Contains(s.ChainsTo, g) }

// Accepts reports whether a client of the phase accepts the leaves a
// server of phase o serves: it trusts a generation they chain to.
func (s State) Accepts(o State) bool { return slices.ContainsFunc(o.ChainsTo, s.Trusts) }

// HasCA reports whether the CA material of generation g is rendered in the phase.
func (s State) HasCA(g Generation) bool { return slices.Contains(s.CAPresent, g) }

var caTable = []State{
	{Phase: Steady, Trusted: []Generation{Old}, Signer: Old, Leaves: Old, CAPresent: []Generation{Old},
		Summary: "the old CA is trusted and signs; nothing changes"},
	{Phase: TrustNew, Trusted: []Generation{Old, New}, Signer: Old, Leaves: Old, CAPresent: []Generation{Old, New}, Roll: TrustConsumers,
		Summary: "every trust object carries old and new; the old CA still signs"},
	{Phase: SignNew, Trusted: []Generation{Old, New}, Signer: New, Leaves: New, CAPresent: []Generation{Old, New}, Roll: LeafHolders,
		Summary: "leaves are re-issued by the new CA; both are still trusted"},
	{Phase: DistrustOld, Trusted: []Generation{New}, Signer: New, Leaves: New, CAPresent: []Generation{Old, New}, Roll: TrustConsumers,
		Summary: "the old CA leaves every trust object; its material is kept for rollback"},
	{Phase: Cleanup, Trusted: []Generation{New}, Signer: New, Leaves: New, CAPresent: []Generation{New},
		Summary: "old CA material is pruned; nothing a pod uses changes"},
}

var leafTable = []State{
	{Phase: Steady, Trusted: []Generation{Old}, Signer: Old, Leaves: Old, CAPresent: []Generation{Old},
		Summary: "the current leaves are served; nothing changes"},
	{Phase: Reissue, Trusted: []Generation{Old}, Signer: Old, Leaves: New, CAPresent: []Generation{Old}, Roll: LeafHolders,
		Summary: "re-issued leaves from the same CA are served; only their holders roll"},
}

// renewTable renews the CA in place. Both generations are one key under
// one subject and key identifier, so a leaf signed under either verifies
// under either (ChainsTo): the leaves never change, and the signer is the
// renewed certificate as soon as it is trusted anywhere, so that what the
// system signs from trust-new on names the certificate that outlives the
// old one. Clients of adjacent phases always share one trusted generation
// that every leaf chains to (docs/phases.md, "Renewal in place").
var renewTable = []State{
	{Phase: Steady, Trusted: []Generation{Old}, Signer: Old, Leaves: Old, CAPresent: []Generation{Old}, ChainsTo: []Generation{Old, New},
		Summary: "the current CA certificate is trusted and signs; nothing changes"},
	{Phase: TrustNew, Trusted: []Generation{Old, New}, Signer: New, Leaves: Old, CAPresent: []Generation{Old, New}, ChainsTo: []Generation{Old, New}, Roll: TrustConsumers,
		Summary: "every trust object carries the current and the renewed CA certificate (one key); the CA Secret serves the renewed one; leaves are untouched"},
	{Phase: DistrustOld, Trusted: []Generation{New}, Signer: New, Leaves: Old, CAPresent: []Generation{Old, New}, ChainsTo: []Generation{Old, New}, Roll: TrustConsumers,
		Summary: "only the renewed CA certificate is trusted; every leaf still verifies under it (same key); the old certificate is kept for rollback"},
	{Phase: Cleanup, Trusted: []Generation{New}, Signer: New, Leaves: Old, CAPresent: []Generation{New}, ChainsTo: []Generation{Old, New},
		Summary: "the old CA certificate is pruned; nothing a pod uses changes"},
}

func table(scope Scope) ([]State, error) {
	switch scope {
	case ScopeCA:
		return caTable, nil
	case ScopeLeaf:
		return leafTable, nil
	case ScopeEmergency:
		return emergencyTable, nil
	case ScopeRenew:
		return renewTable, nil
	case ScopeCrossSign:
		return crossSignTable, nil
	case ScopeRecover:
		return recoverTable, nil
	}
	return nil, fmt.Errorf("unknown scope %q (want one of %s)", scope, joinScopes())
}

func joinScopes() string {
	s := make([]string, len(Scopes))
	for i, sc := range Scopes {
		s[i] = string(sc)
	}
	return strings.Join(s, ", ")
}

// Sequence returns the phases of a scope in order.
func Sequence(scope Scope) ([]Phase, error) {
	t, err := table(scope)
	if err != nil {
		return nil, err
	}
	out := make([]Phase, len(t))
	for i, s := range t {
		out[i] = s.Phase
	}
	return out, nil
}

// Index returns the position of phase in the scope's sequence.
func Index(scope Scope, phase Phase) (int, error) {
	seq, err := Sequence(scope)
	if err != nil {
		return 0, err
	}
	i := slices.Index(seq, phase)
	if i < 0 {
		return 0, fmt.Errorf("unknown phase %q for scope %q (want one of %s)", phase, scope, joinPhases(seq))
	}
	return i, nil
}

func joinPhases(seq []Phase) string {
	s := make([]string, len(seq))
	for i, p := range seq {
		s[i] = string(p)
	}
	return strings.Join(s, ", ")
}

// Lookup returns the state of a phase.
func Lookup(scope Scope, phase Phase) (State, error) {
	t, err := table(scope)
	if err != nil {
		return State{}, err
	}
	i, err := Index(scope, phase)
	if err != nil {
		return State{}, err
	}
	s := t[i]
	s.Scope = scope
	// Hand out copies so callers cannot edit the table.
	s.Trusted = slices.Clone(s.Trusted)
	s.CAPresent = slices.Clone(s.CAPresent)
	s.ChainsTo = slices.Clone(s.ChainsTo)
	if s.ChainsTo == nil {
		s.ChainsTo = []Generation{s.Signer}
	}
	return s, nil
}

// Neighbours returns the phases one step back and one step forward of phase;
// either is empty at the ends of the sequence.
func Neighbours(scope Scope, phase Phase) (prev, next Phase, err error) {
	seq, err := Sequence(scope)
	if err != nil {
		return "", "", err
	}
	i, err := Index(scope, phase)
	if err != nil {
		return "", "", err
	}
	if i > 0 {
		prev = seq[i-1]
	}
	if i+1 < len(seq) {
		next = seq[i+1]
	}
	return prev, next, nil
}

// Distrusts reports whether phase to stops trusting a generation phase
// from trusts: the move after which a certificate the dropped generation
// signed is refused everywhere.
func Distrusts(scope Scope, from, to Phase) bool {
	a, err := Lookup(scope, from)
	if err != nil {
		return false
	}
	b, err := Lookup(scope, to)
	if err != nil {
		return false
	}
	return slices.ContainsFunc(a.Trusted, func(g Generation) bool { return !b.Trusts(g) })
}

// Move describes a change of phase.
type Move struct {
	Scope    Scope
	From, To Phase
}

// Direction of a legal move.
type Direction int

const (
	Stay Direction = iota
	Forward
	Back
)

func (d Direction) String() string {
	return [...]string{"stay", "forward", "rollback"}[d]
}

// Check says whether a move is legal: staying put, one step forward, or one
// step back (rollback). Anything else would let a server present a leaf to a
// client that does not trust its signer, so it is refused, and the error says
// which phase to go through instead.
func Check(m Move) (Direction, error) {
	from, err := Index(m.Scope, m.From)
	if err != nil {
		return Stay, err
	}
	to, err := Index(m.Scope, m.To)
	if err != nil {
		return Stay, err
	}
	seq, _ := Sequence(m.Scope)
	switch d := to - from; {
	case d == 0:
		return Stay, nil
	case d == 1:
		return Forward, nil
	case d == -1 && !RollsBack(m.Scope):
		return Stay, noRollback(m.Scope, m.From, m.To)
	case d == -1:
		return Back, nil
	case d > 1:
		return Stay, fmt.Errorf("moving from %s to %s skips %s: move one phase at a time, next is %s",
			m.From, m.To, joinPhases(seq[from+1:to]), seq[from+1])
	default:
		return Stay, fmt.Errorf("rolling back from %s to %s skips %s: roll back one phase at a time, to %s",
			m.From, m.To, joinPhases(seq[to+1:from]), seq[from-1])
	}
}

// RollsBetween returns what must roll when pods move between two adjacent
// phases, in either direction: the roll of whichever of the two is later.
func RollsBetween(scope Scope, a, b Phase) (Consumers, error) {
	ia, err := Index(scope, a)
	if err != nil {
		return 0, err
	}
	ib, err := Index(scope, b)
	if err != nil {
		return 0, err
	}
	if ia == ib {
		return 0, nil
	}
	later := max(ia, ib)
	t, _ := table(scope)
	return t[later].Roll, nil
}
