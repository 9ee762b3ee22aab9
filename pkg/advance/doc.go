// Package advance moves a rotation one step: spec.phase (and spec.step)
// forward, or back for a rollback, with the pull request that merges it.
//
// A move is checked whole before anything is written: the step is one the
// phase model allows, the target renders, a cluster of a shared root stays
// within the fleet window (window.go: every peer at the current phase or
// beyond it, and converged there, either way), and, moving forward, the
// live gate (pkg/gate) says the current phase converged. Only then are the
// files written, each atomically, spec last: the pull-request body, the
// published state, then the CARotation itself. A failure at any point
// leaves spec.phase where it was, so a rerun does the same move again and
// never a second one.
package advance
