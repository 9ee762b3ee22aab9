package gen

import (
	"fmt"

	"github.com/carousel-dev/carousel/pkg/phases"
)

// recovering reports whether the phase is where the recover route starts:
// its steady, the cluster as it runs with an expired (or keyless) CA. There
// expired material and leaves the CA never signed (a CA held externally, a
// lost key) are what the route is for: warnings that name the way out,
// advancing to replace, not errors that would keep the plan, the pull
// request and advance from getting there (docs/phases.md, "Recover: an
// expired or lost CA").
func (r *renderer) recovering() bool {
	return r.rot.Spec.Scope == phases.ScopeRecover && r.state.Phase == phases.Steady
}

// recoverWayOut is the way out of the recover route's steady.
const recoverWayOut = "advance to replace (`carousel advance`), which trusts only the new CA and re-issues every leaf; run its node steps first (`carousel plan`)"

// missingAtRecovery reports a leaf the recover route's steady lacks: it is
// not rendered, and replace issues it.
func (r *renderer) missingAtRecovery(i int, name string) {
	r.warnAt(r.in.Config, fmt.Sprintf("spec.leaves[%d]", i), "phase steady of scope recover has no %s generation of leaf %q (none was issued: the CA expired, or its key is lost or held externally): its Secret is not rendered; %s",
		r.state.Leaves, name, recoverWayOut)
}
