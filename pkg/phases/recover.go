package phases

// ScopeRecover brings a cluster back from a CA that expired, or whose key
// is lost: one phase trusts only a new CA, signs with it and re-issues
// every leaf. Nothing can keep handshakes alive here: every handshake
// through the expired CA already fails, and a lost key signs nothing, so
// a gentler sequence would only keep the broken CA trusted longer. Like
// the emergency route it is disruptive (Outages) and has no rollback:
// rolling back would trust the expired or keyless CA again
// (docs/phases.md, "Recover: an expired or lost CA").
const ScopeRecover Scope = "recover"

var recoverTable = []State{
	{Phase: Steady, Trusted: []Generation{Old}, Signer: Old, Leaves: Old, CAPresent: []Generation{Old},
		Summary: "the expired (or keyless) CA is still trusted and nothing it signed is accepted: move on to replace"},
	{Phase: Replace, Trusted: []Generation{New}, Signer: New, Leaves: New, CAPresent: []Generation{New}, Roll: TrustConsumers | LeafHolders,
		Summary: "a new CA alone is trusted and re-issues every leaf, in one phase: the node steps bring the control plane back first, then every trust consumer and leaf holder rolls"},
}
