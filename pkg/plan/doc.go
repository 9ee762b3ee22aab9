// Package plan says what a move between two phases does, for the reviewer
// who merges it: which objects change, which workloads roll and in which
// order, what to confirm before merging, and the steps that are not
// Kubernetes objects (a runbook with exact commands, which pkg/runbook
// builds for each move and plan lists as it gets them).
//
// It renders both phases in-process with pkg/gen and compares them, so the
// plan is exactly what the function will produce.
package plan
