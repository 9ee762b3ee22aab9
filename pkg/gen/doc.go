// Package gen renders one phase of a rotation: from the CARotation, the phase
// model and the committed material it produces the phase's KRM resources and
// edits the input's consumers (caBundles, kubeconfigs, pod templates).
//
// Rendering is a pure function of its input: no clock reaches the rendered
// resources (only expiry warnings look at time), no randomness, and every
// set is sorted, so the same package renders byte-identical every time and
// GitOps tools see no drift.
//
// One file per output family: casecrets.go, leafsecrets.go, bundles.go,
// clusterinfo.go, cabundles.go and kubeconfigs.go each render (or edit) one
// family and return what they manage; takeover.go takes over an input
// object the rotation renders (a chart's trust-roots ConfigMap), so only
// the keys it manages change; workloads.go rolls the workloads that read
// managed objects; render.go composes them (and says in which order, and
// why). Which kinds run pods and where objects keep a caBundle comes from
// pkg/targets.
package gen
