// Package spec holds the CARotation API (carousel.dev/v1alpha1): its types,
// defaults, validation with field paths, and the OpenAPI schema shipped as a
// CRD so editors, kubeconform and the function all check the same rules.
//
// The spec is deliberately general: a preset for Linkerd, OSM, Istio,
// NeuVector or the Kubernetes cluster CA is only a set of defaults over it
// (which Secrets, which keys, which bundles), never new code.
package spec
