package phases

import "slices"

// crossSignTable replaces the CA with a new one that the old one
// cross-signs (Consul's and OpenShift's route): the cross-certificate is
// the new CA's subject and key under the old CA's signature, so a leaf the
// new CA signed, served with the cross-certificate after it, verifies
// under the old CA as well as the new one (ChainsTo {New, Old} while
// Cross). Servers switch first, before any client trusts the new CA; then
// trust moves; the cross-certificate leaves the chains last, so a client
// that trusts only the old CA (outside the cluster, never updated) accepts
// every server up to cleanup (docs/phases.md, "Cross-signed rotation").
var crossSignTable = []State{
	{Phase: Steady, Trusted: []Generation{Old}, Signer: Old, Leaves: Old, CAPresent: []Generation{Old},
		Summary: "the old CA is trusted and signs; nothing changes"},
	{Phase: SignNew, Trusted: []Generation{Old}, Signer: New, Leaves: New, CAPresent: []Generation{Old, New}, ChainsTo: []Generation{New, Old}, Cross: true, Roll: LeafHolders,
		Summary: "leaves are re-issued by the new CA and served with the cross-certificate (the new CA signed by the old), so clients trusting only the old CA accept them"},
	{Phase: TrustNew, Trusted: []Generation{Old, New}, Signer: New, Leaves: New, CAPresent: []Generation{Old, New}, ChainsTo: []Generation{New, Old}, Cross: true, Roll: TrustConsumers,
		Summary: "every trust object carries old and new; leaves are still served with the cross-certificate"},
	{Phase: DistrustOld, Trusted: []Generation{New}, Signer: New, Leaves: New, CAPresent: []Generation{Old, New}, ChainsTo: []Generation{New, Old}, Cross: true, Roll: TrustConsumers,
		Summary: "the old CA leaves every trust object; leaves still carry the cross-certificate for clients outside that trust only the old CA"},
	{Phase: Cleanup, Trusted: []Generation{New}, Signer: New, Leaves: New, CAPresent: []Generation{New}, Roll: LeafHolders,
		Summary: "the cross-certificate leaves every chain and the old CA material is pruned; leaf holders roll to serve the leaf alone"},
}

// OldTrust is what happens, as a rotation moves forward from steady, to a
// client that trusts only the old CA generation and is never updated (a
// client outside the cluster, a partner, a device): which phases' servers
// it accepts, and which phases' servers accept its own certificate when
// the old CA signed it (mutual TLS). The old CA certificate's NotAfter
// (and, cross-signed, the cross-certificate's) bounds both in time, which
// the model does not see.
type OldTrust struct {
	Scope Scope `json:"scope"`
	// AcceptsUntil is the last phase whose servers it accepts; Breaks the
	// first it does not ("" when it accepts every phase).
	AcceptsUntil Phase `json:"acceptsUntil"`
	Breaks       Phase `json:"breaks,omitempty"`
	// AcceptedUntil is the last phase whose servers accept a client
	// certificate the old CA signed; RefusedFrom the first that does not.
	AcceptedUntil Phase `json:"acceptedUntil"`
	RefusedFrom   Phase `json:"refusedFrom,omitempty"`
}

// StayOnOld says how long a client that trusts only the old CA may stay
// on that trust (OldTrust), from the scope's table: it accepts a server
// whose leaves chain to the old CA (State.ChainsTo), and a server accepts
// it while the server trusts the old CA.
func StayOnOld(scope Scope) (OldTrust, error) {
	seq, err := Sequence(scope)
	if err != nil {
		return OldTrust{}, err
	}
	out := OldTrust{Scope: scope}
	client := State{Trusted: []Generation{Old}, ChainsTo: []Generation{Old}}
	accepts, accepted := true, true
	for _, ph := range seq {
		s, _ := Lookup(scope, ph)
		if accepts = accepts && client.Accepts(s); accepts {
			out.AcceptsUntil = ph
		} else if out.Breaks == "" {
			out.Breaks = ph
		}
		if accepted = accepted && s.Accepts(client); accepted {
			out.AcceptedUntil = ph
		} else if out.RefusedFrom == "" {
			out.RefusedFrom = ph
		}
	}
	return out, nil
}

// CrossPhases are the phases of a scope whose leaves are served with the
// cross-certificate (State.Cross), in order.
func CrossPhases(scope Scope) []Phase {
	t, err := table(scope)
	if err != nil {
		return nil
	}
	var out []Phase
	for _, s := range t {
		if s.Cross {
			out = append(out, s.Phase)
		}
	}
	return slices.Clip(out)
}
