package runbook

// What the rehearsal (package runbook_test, which drives pkg/plan as
// `carousel plan` does) checks against: the same rule and names the steps
// are built from, not a copy of them.
var (
	UsesBundle = usesBundle
	PEMOf      = pemOf
)

const FrontProxyClient = frontProxyClient
