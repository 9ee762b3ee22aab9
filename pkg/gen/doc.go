// Package gen renders one phase of a rotation: from the CARotation, the phase
// model and the committed material it produces the phase's KRM resources and
// edits the input's consumers (caBundles, kubeconfigs, pod templates).
//
// Rendering is a pure function of its input: no clock reaches the rendered
// resources (only expiry warnings look at time), no randomness, and every
// set is sorted, so the same package renders byte-identical every time and
// GitOps tools see no drift.
//
// One file per output family, each rendering (or editing) one family and
// returning what it manages: casecrets.go (the CA generation Secrets),
// leafsecrets.go, bundles.go, clusterinfo.go (kube-public/cluster-info),
// cabundles.go (webhooks, APIServices, CRDs), kubeconfigs.go,
// satokens.go (service-account token Secrets' ca.crt),
// meshrootcerts.go (OSM's MeshRootCertificates) and alerts.go (the
// PrometheusRule of spec.alerts, which manages nothing: no certificate in
// it, no pod reads it). Around them:
// material.go takes the rotation's KeyPairs out of the input and checks
// them; objects.go holds the trusted set and object IDs; takeover.go takes
// over an input object the rotation renders (a chart's trust-roots
// ConfigMap), so only the keys it manages change; workloads.go rolls the
// workloads that read managed objects, with the restart rules of
// pkg/consumers; baseline.go is what they read before the rotation began
// (adoption rolls nothing); digests.go the per-consumption digests a
// published state carries; consumer.go renders a consumer package from a
// published state; certmanager.go renders backend cert-manager's objects
// (pkg/cmbackend decides them); render.go composes them all (and says in
// which order, and why); function.go is the KRM function around Render
// and RenderConsumer. Which kinds run pods and where objects keep a
// caBundle comes from pkg/targets.
package gen
