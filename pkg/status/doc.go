// Package status is the live gate: it reads the cluster and says whether
// the rotation's current phase has converged, so a reviewer or a pipeline
// knows when the next phase may merge. Advancing before the previous phase
// converged is the incident users report most (a bundle not yet in every
// namespace, a pod still on the old trust, a caBundle swapped early).
package status
