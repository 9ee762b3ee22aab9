// Package gate holds the live gate: whether the cluster has converged on a
// package's current phase, the one question `carousel status` answers and
// `carousel advance` asks before it moves a rotation forward.
//
// Every gate here fails closed. A gate that cannot look (no cluster
// configured, a kubeconfig that does not load, an API server that does not
// answer) is an error, never a pass: moving a phase forward on a gate that
// was not checked is how pods of three phases end up running at once. The
// way past a gate is explicit (advance --no-cluster, --force) and the pull
// request body records it (Override), so a reviewer sees what nobody
// checked.
//
// A shared root's clusters (spec.clusters) are asked each in its own
// kubeconfig context (Fleet, fleet.go): one report per cluster and the
// fleet window over their phases.
package gate
