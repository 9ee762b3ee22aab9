package spec

import (
	"github.com/carousel-dev/carousel/pkg/phases"
)

const (
	Group      = "carousel.dev"
	Version    = "v1alpha1"
	APIVersion = Group + "/" + Version
	Kind       = "CARotation"

	// AnnotationPrefix is the prefix of every annotation carousel writes or reads.
	AnnotationPrefix = "carousel.dev/"
	// InjectAnnotation on a webhook configuration, APIService or CRD asks the
	// rotation it names to manage its caBundle, as cert-manager's
	// cert-manager.io/inject-ca-from does.
	InjectAnnotation = AnnotationPrefix + "inject-ca-from"
)

// CARotation is the function config and the record of a rotation's state.
type CARotation struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   Metadata `json:"metadata"`
	Spec       Spec     `json:"spec"`
}

type Metadata struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Spec is a rotation: where it stands (phase, step, scope), the CA and
// the leaves it makes, where their certificates go (Secrets, bundles,
// cluster-info, caBundles, kubeconfigs) and which workloads consume them.
// docs/spec.md documents each field with its default; `carousel schema`
// prints it as a CRD.
type Spec struct {
	// Scope is what the rotation replaces: "ca" (the CA and every leaf) or
	// "leaf" (leaves re-issued under the same CA). Default "ca".
	Scope phases.Scope `json:"scope,omitempty"`
	// Phase is the phase to render. Default "steady".
	Phase phases.Phase `json:"phase,omitempty"`
	// Step is the step of the phase to render, when the phase has several
	// (docs/phases.md, "Steps within a phase"): a rotation with
	// runbook: kubernetes rolls in-cluster-config consumers in a follow-up
	// step (in-cluster-config) of the phases that change trust, after the
	// node steps; one with meshRootCertificates goes through both-active
	// before old-passive in sign-new. Default: the phase's first step.
	Step phases.Step `json:"step,omitempty"`
	// PhaseSince is when the rotation moved to its phase and step, written
	// by `carousel advance` with spec.phase (when spec.alerts is set, or
	// the file already has it). It is in git like the phase, so a render
	// knows it without a clock: the phase-stuck alert compares Prometheus's
	// time() with it.
	PhaseSince Timestamp `json:"phaseSince,omitzero"`
	// MaterialDir is where `carousel init`/`start` write key pairs, relative
	// to the directory of the file holding this CARotation. Default "material".
	MaterialDir string `json:"materialDir,omitempty"`
	// PlaintextKeys says the material may hold private keys unencrypted
	// (throwaway demos, test fixtures): `carousel check` refuses a package
	// whose KeyPairs hold a plaintext key unless it is set, since a key in
	// git is readable by everyone who can clone the repository.
	PlaintextKeys bool `json:"plaintextKeys,omitempty"`
	// ExpiryWarning is how long before a certificate's expiry the function
	// warns. Default 720h (30 days).
	ExpiryWarning Duration `json:"expiryWarning,omitzero"`
	// Runbook names the node-level steps `carousel plan` lists for each
	// phase: RunbookKubernetes for the cluster CA, RunbookFrontProxy for the
	// front-proxy CA, RunbookNone (default) otherwise.
	Runbook Runbook `json:"runbook,omitempty"`

	// RenderedAnnotations are set on every object the rotation renders
	// (CA, leaf and bundle Secrets and ConfigMaps, cluster-info), e.g.
	// argocd.argoproj.io/sync-wave: "-1" so material and bundles are applied
	// before the workloads that roll onto them.
	RenderedAnnotations map[string]string `json:"renderedAnnotations,omitempty"`

	CA          CA               `json:"ca"`
	Leaves      []Leaf           `json:"leaves,omitempty"`
	Bundles     []Bundle         `json:"bundles,omitempty"`
	ClusterInfo *ClusterInfo     `json:"clusterInfo,omitempty"`
	CABundles   []CABundleTarget `json:"caBundles,omitempty"`
	Kubeconfigs []Kubeconfig     `json:"kubeconfigs,omitempty"`
	Restarts    []Restart        `json:"restarts,omitempty"`
	// WorkloadKinds teaches carousel workload kinds its registry does not
	// know (a custom resource with a pod template: OpenKruise's CloneSet, a
	// platform's own App kind): it then annotates their pod templates, rolls
	// them and gates on them as on a Deployment. Argo Rollouts' Rollout is
	// built in.
	WorkloadKinds []WorkloadKind `json:"workloadKinds,omitempty"`
	// Probes are TLS endpoints `carousel status` dials to check the leaf
	// they serve is the phase's (optional).
	Probes []Probe `json:"probes,omitempty"`
	// ServiceAccountTokens sets data.ca.crt of every Secret of type
	// kubernetes.io/service-account-token in the input to the trusted set,
	// keeping its other keys: the manual procedure's "update all Secrets
	// that hold service account tokens". Pods read ca.crt as in-cluster
	// config. kube-controller-manager's token controller rewrites ca.crt
	// from --root-ca-file when the two differ, so this belongs with
	// runbook: kubernetes, whose steps point that flag at the same set.
	ServiceAccountTokens bool `json:"serviceAccountTokens,omitempty"`
	// MeshRootCertificates renders one OSM MeshRootCertificate per CA
	// generation present, its role stepping through OSM's rotation table
	// (active, passive, both active, inactive, deleted), its Tresor
	// secretRef naming the generation's CA Secret (spec.ca.secret, required).
	MeshRootCertificates *MeshRootCertificates `json:"meshRootCertificates,omitempty"`

	// WorkloadCertificates says a mesh's control plane issues short-lived
	// certificates to its workloads from one of the rotation's leaves
	// (Linkerd's identity issuer, Istio's plug-in CA). Proxies hold them in
	// memory for their whole lifetime, so before a phase that distrusts the
	// old CA every workload must hold one from the new signer: the live gate
	// of the phase before it requires every other workload's pods to have
	// started after the issuer's holders rolled onto it, or the lifetime to
	// have passed since.
	WorkloadCertificates *WorkloadCertificates `json:"workloadCertificates,omitempty"`

	// Publish is where `carousel publish` writes the rotation's public
	// state (a CARotationState), relative to the directory of this file:
	// consumer packages in other applications or repositories render from
	// it, and `carousel check` refuses a pull request that leaves it stale.
	Publish string `json:"publish,omitempty"`
	// Consumers names the applications expected to consume the published
	// state: an Argo CD Application's name, or a Flux Kustomization as
	// <namespace>/<name>. `advance` refuses the next phase while one
	// of them has not reported the current phase, including one that never
	// picked up the state at all.
	Consumers []string `json:"consumers,omitempty"`

	// Clusters are the clusters whose packages rotate under this
	// rotation's CA: a multi-cluster mesh's shared root, each cluster's
	// package holding its own CARotation (its intermediate) and its own
	// spec.phase. Clusters that talk to each other (Groups) are kept at
	// most one phase apart: `carousel check` on this file refuses a pull
	// request that leaves two of them further apart (docs/fleet.md, "One
	// root, many clusters").
	Clusters []Cluster `json:"clusters,omitempty"`
	// SharedRoot is, in a cluster's package, the shared root's CARotation
	// file (relative to the directory of this file) whose spec.clusters
	// lists this one: `check` on this file holds its group to the fleet
	// window as the root's check does, and `advance` refuses to move while
	// a peer is behind or has not converged.
	SharedRoot string `json:"sharedRoot,omitempty"`
	// RootState is, in a cluster's package, the metadata.name of the
	// shared root's published state (CARotationState, the root's
	// spec.publish) among the package's resources. The render reads it
	// and refuses a trusted root the root's owner does not hold, and a
	// phase behind the root's, which is the phase every cluster has
	// reached (docs/fleet.md, "The root's published state").
	RootState string `json:"rootState,omitempty"`

	// Compromised lists the SHA-256 fingerprints (hex) of CA certificates
	// whose key is known or suspected compromised: no phase may trust one
	// again. The render refuses a phase that does, except the steady
	// phase of the emergency route that replaces it (scope emergency),
	// and `carousel check` refuses a pull request removing a mark.
	// Marks are added by hand, reviewed like any other change:
	// `carousel start --scope emergency` prints the line to add.
	Compromised []string `json:"compromised,omitempty"`

	// Routes are the rotation scopes (spec.scope) the system behind this
	// rotation is known to support: a preset lists them, with why the
	// others are left out (a system signing from the CA Secret, which
	// carries no cross-certificate, cannot be cross-signed). Empty: every
	// scope. `carousel start --scope` refuses a scope not listed.
	Routes []phases.Scope `json:"routes,omitempty"`

	// Alerts renders a PrometheusRule (monitoring.coreos.com/v1) with an
	// alert per certificate the phase uses before it expires, and one when
	// a rotation stays in a phase too long (docs/spec.md, "Alerts").
	Alerts *Alerts `json:"alerts,omitempty"`

	// Backend says who holds the keys. "material" (the default, also when
	// empty): carousel renders Secrets from committed KeyPairs. "cert-manager":
	// keys never leave the cluster; carousel renders, per phase, cert-manager
	// Certificates and ClusterIssuers and trust-manager Bundles, and commits
	// only the CAs' public certificates (`carousel pull`).
	Backend Backend `json:"backend,omitempty"`
	// CertManager configures the cert-manager backend.
	CertManager *CertManager `json:"certManager,omitempty"`
}

// Cluster is one cluster of a shared root's fleet.
type Cluster struct {
	// Name names the cluster in refusals, tables and the window (a DNS
	// label).
	Name string `json:"name"`
	// Rotation is the cluster package's CARotation file, relative to the
	// directory of this file; its spec.phase is the cluster's phase.
	Rotation string `json:"rotation"`
	// Context is the cluster's kubeconfig context, for the commands that
	// look at the clusters live.
	Context string `json:"context,omitempty"`
	// Groups names the groups of clusters that talk to each other this
	// cluster is in. When no cluster names a group, every cluster talks to
	// every other (one mesh); when any does, every cluster must name at
	// least one, and only clusters sharing a group are held together.
	Groups []string `json:"groups,omitempty"`
}

// Alerts configures the PrometheusRule a rotation renders: where it goes
// and the labels the Prometheus Operator selects it by (kube-prometheus-stack
// selects rules labelled release: <its release name>, in any namespace),
// and the two thresholds.
type Alerts struct {
	// Name of the PrometheusRule. Default <rotation>-alerts.
	Name string `json:"name,omitempty"`
	// Namespace of the PrometheusRule (required: the namespace the
	// Prometheus's ruleNamespaceSelector reads, often monitoring).
	Namespace string `json:"namespace"`
	// Labels on the PrometheusRule object: what the Prometheus's
	// ruleSelector matches.
	Labels map[string]string `json:"labels,omitempty"`
	// AlertLabels are added to every alert, for Alertmanager's routes
	// (team: platform). severity (default warning) may be set here; the
	// labels carousel sets to tell the alerts apart may not.
	AlertLabels map[string]string `json:"alertLabels,omitempty"`
	// ExpiryWarning is how long before a certificate's expiry its alert
	// fires. Default spec.expiryWarning, so the alert and the render's
	// warning agree.
	ExpiryWarning Duration `json:"expiryWarning,omitzero"`
	// PhaseStuckAfter is how long a rotation may stay in a phase (or step)
	// other than steady before the phase-stuck alert fires. Default 168h.
	PhaseStuckAfter Duration `json:"phaseStuckAfter,omitzero"`
}

// MeshRootCertificates configures the OSM MeshRootCertificates
// (config.openservicemesh.io/v1alpha2) of a rotation. Only role may change
// after an MRC is created, so each generation has its own MRC, named like
// the generation's CA Secret, for its whole life.
type MeshRootCertificates struct {
	// Name is the base name: each generation's MRC is named from it as the
	// generation's CA Secret is from spec.ca.secret.name.
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// TrustDomain of the mesh. Default cluster.local.
	TrustDomain   string `json:"trustDomain,omitempty"`
	SpiffeEnabled bool   `json:"spiffeEnabled,omitempty"`
}

// InClusterConfig is what a restart rule's workload consumes when it reads
// the cluster CA through in-cluster config: the set kube-controller-manager
// publishes from --root-ca-file into every namespace's kube-root-ca.crt
// ConfigMap and every service-account token's ca.crt. It changes only once
// the runbook's node step has run, so such workloads roll in the follow-up
// step of a phase (runbook: kubernetes only).
const InClusterConfig = "in-cluster-config"

// Features are the parts of the spec that give phases steps (pkg/phases).
func (r *CARotation) Features() phases.Features {
	return phases.Features{
		NodeTrust:      r.Spec.Runbook == RunbookKubernetes,
		SigningOverlap: r.Spec.MeshRootCertificates != nil,
	}
}

// Position is the phase and step the spec renders (the step as written:
// empty for the phase's first).
func (r *CARotation) Position() phases.Position {
	return phases.Position{Phase: r.Spec.Phase, Step: r.Spec.Step}
}

// CertManager is the cert-manager backend's configuration.
type CertManager struct {
	// Namespace holds the CA Certificates and their Secrets. It must be
	// cert-manager's --cluster-resource-namespace (where a CA ClusterIssuer
	// reads its Secret) and trust-manager's --trust-namespace (where a
	// Bundle reads its sources). Default cert-manager.
	Namespace string `json:"namespace,omitempty"`
	// Generations number the CA generations. Every object of a generation
	// is named by its number (<rotation>-ca-g<number>), so a name never
	// changes meaning: the CA behind a name is made once and never replaced.
	Generations CMGenerations `json:"generations"`
	// IssuerRef issues the CA certificates (an external root or
	// intermediate issuer). Default: a self-signed ClusterIssuer
	// <rotation>-selfsigned, rendered by carousel.
	IssuerRef *IssuerRef `json:"issuerRef,omitempty"`
}

// CMGenerations are the CA generation numbers of the rotation: Old is the
// CA in use, New the one a rotation brings in (0: none; `carousel start`
// sets it to Old+1, and finishing the rotation moves it to Old).
type CMGenerations struct {
	Old int `json:"old"`
	New int `json:"new,omitempty"`
}

// IssuerRef names a cert-manager issuer.
type IssuerRef struct {
	Name string `json:"name"`
	// Kind is ClusterIssuer (default) or Issuer (then in spec.certManager.namespace).
	Kind  string `json:"kind,omitempty"`
	Group string `json:"group,omitempty"`
}

// Probe is a TLS endpoint serving one of the rotation's leaves.
type Probe struct {
	// Address is host:port, reachable from where status runs (a Service's
	// external address, or a port-forward).
	Address string `json:"address"`
	// ServerName for SNI (default: the host of Address).
	ServerName string `json:"serverName,omitempty"`
	// Leaf names the leaf of spec.leaves the endpoint must serve.
	Leaf string `json:"leaf"`
}

// Subject and key settings shared by CAs and leaves.
type Subject struct {
	CommonName   string   `json:"commonName,omitempty"`
	Organization []string `json:"organization,omitempty"`
}

// Key says which key `start` makes. Algorithm is one of ecdsa-p256 (default),
// ecdsa-p384, ed25519, rsa-2048, rsa-3072, rsa-4096.
//
// Encoding is the PEM form of the private key, because systems read only
// some: OSM's Tresor reads an RSA key only as PKCS#8 ("PRIVATE KEY"). One of
// pkcs8, pkcs1 (RSA only, "RSA PRIVATE KEY"), sec1 (ECDSA only, "EC PRIVATE
// KEY"); empty keeps what carousel always wrote (PKCS#1 for RSA, SEC 1 for
// ECDSA, cfssl's "Ed25519 PRIVATE KEY" for Ed25519), so existing material stays byte-identical.
type Key struct {
	Algorithm string `json:"algorithm,omitempty"`
	Encoding  string `json:"encoding,omitempty"`
}

// Key encodings (spec key.encoding).
const (
	KeyEncodingPKCS8 = "pkcs8"
	KeyEncodingPKCS1 = "pkcs1"
	KeyEncodingSEC1  = "sec1"
)

type CA struct {
	Subject `json:",inline"`
	// Validity of a CA made by `start`, a Go duration. Default 87600h (10 years).
	Validity Duration `json:"validity,omitzero"`
	Key      Key      `json:"key,omitempty"`
	// PathLength limits the depth of CAs below this one (nil: no limit).
	PathLength *int `json:"pathLength,omitempty"`
	// Trust says what the trusted set holds for each trusted CA generation:
	// "ca" (or empty) the CA itself; "root" the self-signed root at the end
	// of the CA's chain. With "root" each generation's CA is an
	// intermediate imported with its chain (`csr --ca`, then `import
	// --chain`): the clusters of a shared root each hold their own
	// intermediate, and trust the root, so a peer's leaves verify through
	// the intermediate they present (docs/fleet.md, "One root, many
	// clusters").
	Trust string `json:"trust,omitempty"`
	// Secret, when set, renders the signing CA of each phase into a Secret
	// (for an in-cluster issuer, such as a cert-manager CA Issuer), plus one
	// Secret per CA generation present in the phase, named <name>-<CA ID>
	// (gen.GenerationName): after the CA, which keeps its ID for life, not
	// after its role, which the next rotation's promotion changes.
	Secret *SecretTarget `json:"secret,omitempty"`
	// TrustedAnnotations are set on each generation Secret (<secret>-<CA ID>)
	// in the phases that trust its CA, and left off once the
	// CA is distrusted. They carry a GitOps controller's prune protection
	// (kustomize.toolkit.fluxcd.io/prune: disabled, or
	// argocd.argoproj.io/sync-options: Prune=false): a CA clusters still trust
	// is never pruned, and since both controllers read the annotation from the
	// live object, dropping it in distrust-old lets cleanup prune the old CA.
	TrustedAnnotations map[string]string `json:"trustedAnnotations,omitempty"`
}

// What a rotation's trusted set holds (spec.ca.trust).
const (
	TrustCA   = "ca"
	TrustRoot = "root"
)

// TrustsRoots reports whether the trusted set holds each generation's root
// rather than the CA itself (spec.ca.trust: root).
func (c *CA) TrustsRoots() bool { return c.Trust == TrustRoot }

// SecretTarget is a Secret carousel renders and the data keys it uses. The
// defaults are the kubernetes.io/tls shape; NeuVector (cert.pem, cert.key,
// ca.cert) and Istio (ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem)
// set their own.
type SecretTarget struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// Type of the Secret. Default kubernetes.io/tls.
	Type string     `json:"type,omitempty"`
	Keys SecretKeys `json:"keys,omitempty"`
}

type SecretKeys struct {
	// Cert holds the certificate. Default tls.crt.
	Cert string `json:"cert,omitempty"`
	// Key holds the private key. Default tls.key.
	Key string `json:"key,omitempty"`
	// CA holds the trusted set of the phase. Default ca.crt; "-" leaves it out.
	CA string `json:"ca,omitempty"`
	// Chain, when set, holds the certificate followed by its signer.
	Chain string `json:"chain,omitempty"`
}

type Leaf struct {
	// Name identifies the leaf in material, restarts and plans.
	Name string `json:"name"`
	// Group names the service the leaf belongs to when a service holds
	// several leaves (RKE's etcd-node1, etcd-node2, ... in group etcd; the
	// kubelet's per-node leaves in group kubelet): `start --leaf` and
	// `csr --leaf` take a group name for every leaf of the group, as
	// `rke cert rotate --service etcd` rotates every etcd certificate.
	Group   string       `json:"group,omitempty"`
	Secret  SecretTarget `json:"secret"`
	Subject `json:",inline"`
	// DNSNames and IPAddresses are the subject alternative names.
	DNSNames    []string `json:"dnsNames,omitempty"`
	IPAddresses []string `json:"ipAddresses,omitempty"`
	// Usages: any of server, client. Default [server].
	Usages []string `json:"usages,omitempty"`
	// IsCA makes the leaf an intermediate CA (Linkerd's identity issuer,
	// Istio's plug-in cacerts).
	IsCA bool `json:"isCA,omitempty"`
	// Validity, a Go duration. Default 8760h (1 year), capped at the issuer's.
	Validity Duration `json:"validity,omitzero"`
	Key      Key      `json:"key,omitempty"`
}

// Bundle is a ConfigMap (or Secret) holding the trusted set as PEM, rendered
// into each listed namespace.
type Bundle struct {
	Name string `json:"name"`
	// Kind is ConfigMap (default) or Secret.
	Kind string `json:"kind,omitempty"`
	// Key in data. Default ca.crt.
	Key        string   `json:"key,omitempty"`
	Namespaces []string `json:"namespaces,omitempty"`
	// AllNamespaces renders the bundle into every namespace of the input
	// (Namespace objects and the namespaces of namespaced objects).
	AllNamespaces bool `json:"allNamespaces,omitempty"`
}

// ClusterInfo renders kube-public/cluster-info, whose kubeconfig carries the
// trusted set so `kubeadm join` discovery works through the overlap.
type ClusterInfo struct {
	// Server is the API server URL written into the kubeconfig.
	Server string `json:"server"`
}

// CABundleTarget names objects of the input whose caBundle is the trusted set.
type CABundleTarget struct {
	// Kind: ValidatingWebhookConfiguration, MutatingWebhookConfiguration,
	// APIService or CustomResourceDefinition.
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Webhooks limits a webhook configuration to these webhooks (default all).
	Webhooks []string `json:"webhooks,omitempty"`
}

// Kubeconfig names a Secret of the input holding a kubeconfig whose
// certificate-authority-data must be the trusted set.
type Kubeconfig struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// Key in data. Default value (the Cluster API convention).
	Key string `json:"key,omitempty"`
	// Clusters limits the update to these kubeconfig clusters (default all).
	Clusters []string `json:"clusters,omitempty"`
}

// Restart adds workloads that consume rotated material in ways carousel
// cannot see in their pod spec: in-cluster config (the ServiceAccount's
// ca.crt), files baked by an init container, a sidecar injected later.
//
// Every condition a rule sets must hold (AND); a workload any rule selects
// consumes what that rule says (rules OR). A mesh's injection rule is
// usually an OR of a namespace opt-in and a pod opt-in, so it takes two or
// more rules: docs/spec.md gives Linkerd's and Istio's, and pkg/consumers
// evaluates them (for gen and status alike).
type Restart struct {
	// Kind is Deployment, DaemonSet, StatefulSet or CronJob (empty: all).
	Kind string `json:"kind,omitempty"`
	// Namespace (empty: all).
	Namespace string `json:"namespace,omitempty"`
	// Name (empty: all matching the selector).
	Name string `json:"name,omitempty"`
	// Selector matches workload labels (all must match).
	Selector map[string]string `json:"selector,omitempty"`
	// PodSelector matches the pod template's labels, as a Kubernetes label
	// selector does: the shape of an admission webhook's objectSelector,
	// so a mesh's injector selectors can be copied as they are.
	PodSelector *LabelSelector `json:"podSelector,omitempty"`
	// PodAnnotations match the pod template's annotations: each key must
	// have exactly this value, or any value for "*".
	PodAnnotations map[string]string `json:"podAnnotations,omitempty"`
	// NamespaceSelector matches the labels of the workload's Namespace
	// (a webhook's namespaceSelector). The Namespace object must be in the
	// input: carousel cannot see one that is not, and says so.
	NamespaceSelector *LabelSelector `json:"namespaceSelector,omitempty"`
	// NamespaceAnnotations match the Namespace's annotations, as
	// PodAnnotations do the pod template's.
	NamespaceAnnotations map[string]string `json:"namespaceAnnotations,omitempty"`
	// OptOut excludes a workload the rule would otherwise select (through
	// its Namespace, typically) when its pod template carries any one of
	// these labels or annotations: linkerd.io/inject: disabled,
	// sidecar.istio.io/inject: "false".
	OptOut *OptOut `json:"optOut,omitempty"`
	// Wave orders the roll: workloads of a lower wave roll first (the
	// control plane before the data plane). Default 0. A workload several
	// rules select goes in the lowest of their waves.
	Wave int `json:"wave,omitempty"`
	// Consumes: "trust", "ca" (the signing CA and the trusted set, as
	// spec.ca.secret holds them), "in-cluster-config" (the set the nodes
	// publish, runbook: kubernetes) and/or "leaf:<name>". Default [trust].
	Consumes []string `json:"consumes,omitempty"`
}

// LabelSelector is a Kubernetes label selector (metav1.LabelSelector):
// every matchLabels entry equal and every expression true.
type LabelSelector struct {
	MatchLabels      map[string]string          `json:"matchLabels,omitempty"`
	MatchExpressions []LabelSelectorRequirement `json:"matchExpressions,omitempty"`
}

// LabelSelectorRequirement is one expression: Operator is In, NotIn (both
// with Values; NotIn also holds when the key is absent), Exists or
// DoesNotExist (without Values), as in Kubernetes.
type LabelSelectorRequirement struct {
	Key      string   `json:"key"`
	Operator string   `json:"operator"`
	Values   []string `json:"values,omitempty"`
}

// OptOut lists pod-template labels and annotations of which any one,
// present with its value ("*": any value), excludes a workload.
type OptOut struct {
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// AnyValue as the value of an annotation or opt-out condition matches any
// value of a present key.
const AnyValue = "*"

// Label selector operators, as Kubernetes names them.
const (
	OpIn           = "In"
	OpNotIn        = "NotIn"
	OpExists       = "Exists"
	OpDoesNotExist = "DoesNotExist"
)

// NamespaceConditions reports whether the rule reads the workload's Namespace.
func (r Restart) NamespaceConditions() bool {
	return r.NamespaceSelector != nil || len(r.NamespaceAnnotations) > 0
}

// IssuerCA as spec.workloadCertificates.issuer names the rotation's CA.
const IssuerCA = "ca"

// Consumes is the consumption (spec.restarts[].consumes) of the issuer's
// holders: "leaf:<issuer>", or "ca" for the rotation's CA.
func (w *WorkloadCertificates) Consumes() string {
	if w.Issuer == IssuerCA {
		return IssuerCA
	}
	return LeafPrefix + w.Issuer
}

// WorkloadCertificates are the certificates a mesh issues to workloads
// from a leaf of the rotation (spec.workloadCertificates).
type WorkloadCertificates struct {
	// Issuer is the leaf (spec.leaves[].name) that signs them, or "ca"
	// (IssuerCA): the rotation's CA, which the control plane signs with
	// through spec.ca.secret (a cluster's intermediate under a shared
	// root, as Istio's plug-in CA).
	Issuer string `json:"issuer"`
	// Lifetime is how long one lives (Linkerd's
	// identity.issuer.issuanceLifetime and Istio's
	// DEFAULT_WORKLOAD_CERT_TTL are 24h). Default 24h.
	Lifetime Duration `json:"lifetime,omitzero"`
}

// WorkloadKind declares a workload kind (spec.workloadKinds): where the API
// serves it and where it keeps its pod template. carousel rolls it by
// changing the template, as it rolls a Deployment, and status reads its
// rollout by the conventions most controllers follow (targets.DeclaredRollout),
// failing closed when its status says nothing it can read.
type WorkloadKind struct {
	// Kind is the kind, as in its objects' kind field (CloneSet).
	Kind string `json:"kind"`
	// APIVersion is its group and version (apps.kruise.io/v1alpha1).
	APIVersion string `json:"apiVersion"`
	// Resource is the plural name the API serves it under (clonesets),
	// for status to read live objects.
	Resource string `json:"resource"`
	// Template is the dot-separated path of its pod template (whose spec is
	// the pod spec). Default spec.template.
	Template string `json:"template,omitempty"`
}
