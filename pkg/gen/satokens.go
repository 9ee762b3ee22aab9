package gen

import (
	"fmt"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/spec"
	"github.com/carousel-dev/carousel/pkg/targets"
)

// ServiceAccountTokenType is the type of a legacy service-account token
// Secret: kube-controller-manager's token controller fills in its token,
// namespace and ca.crt, and pods that mount it (or were given it as their
// ServiceAccount's token before projected tokens) read ca.crt as the CA of
// the API server.
const ServiceAccountTokenType = "kubernetes.io/service-account-token"

// serviceAccountTokenCAKey is the key the token controller writes the CA into.
const serviceAccountTokenCAKey = "ca.crt"

// updateServiceAccountTokens writes the trusted set into ca.crt of every
// service-account token Secret of the input, in place, as the manual
// procedure does with kubectl ("update all Secrets that hold service account
// tokens"): the token, namespace and any other key, and every label and
// annotation, stay as they are. They are edited rather than taken over (no
// label, no info result) because the token controller owns them: carousel
// manages one key of them, the way it manages a kubeconfig's
// certificate-authority-data.
//
// A SOPS-encrypted token Secret is refused, as a takeover is: writing into
// it breaks its MAC.
//
// ca.crt goes into data, and out of stringData, which the API server would
// write over data. The Secrets carry the trusted set, so a workload mounting
// one rolls whenever the set changes, and status verifies them.
//
// With spec.serviceAccountTokens off, a rotation with the kubernetes runbook
// (the cluster CA's, which these Secrets carry) warns on each one: they
// keep the old CA, and pods reading them stop trusting the API server once
// it serves a certificate of the new CA.
func (r *renderer) updateServiceAccountTokens() part {
	var p part
	for _, n := range r.items {
		if n.GetKind() != targets.Secret || stringField(n, "type") != ServiceAccountTokenType {
			continue
		}
		if !r.rot.Spec.ServiceAccountTokens {
			if r.rot.Spec.Runbook == spec.RunbookKubernetes {
				r.warnAt(n, "data."+serviceAccountTokenCAKey,
					"Secret %s/%s is a service-account token: its ca.crt is the cluster CA that rotation %q replaces, and nothing updates it, so pods reading it stop trusting the API server once it serves a certificate of the new CA; set spec.serviceAccountTokens: true to keep it the trusted set",
					n.GetNamespace(), n.GetName(), r.rot.Metadata.Name)
			}
			continue
		}
		if n.Field(material.SopsField) != nil {
			r.errorAt(n, material.SopsField, fmt.Errorf("Secret %s/%s is a SOPS-encrypted service-account token: rotation %q cannot write ca.crt into it without breaking its MAC; keep it unencrypted in the input, or leave spec.serviceAccountTokens off and update it by hand", n.GetNamespace(), n.GetName(), r.rot.Metadata.Name))
			continue
		}
		if sd := n.Field("stringData"); sd != nil && sd.Value.YNode().Kind == yaml.MappingNode {
			_ = sd.Value.PipeE(yaml.Clear(serviceAccountTokenCAKey))
			if len(sd.Value.Content()) == 0 {
				_ = n.PipeE(yaml.Clear("stringData"))
			}
		}
		data, err := n.Pipe(yaml.LookupCreate(yaml.MappingNode, "data"))
		if err != nil {
			r.errorAt(n, "data", fmt.Errorf("cannot write %s: %w", serviceAccountTokenCAKey, err))
			continue
		}
		_ = data.PipeE(yaml.SetField(serviceAccountTokenCAKey, yaml.NewStringRNode(b64(r.trust.pem))))
		p.manage(n, spec.Trust, r.trust.digest)
	}
	return p
}

// serviceAccountTokenTakeover is the error for a rotation that would render
// a Secret (a bundle, a CA or leaf Secret) over a service-account token:
// its type is the token controller's, and the field that updates its ca.crt
// is another one.
func serviceAccountTokenTakeover(what, rotation string) error {
	return fmt.Errorf("%s in the input is a service-account token (type %s), and rotation %q renders a Secret of that name: carousel does not render token Secrets; "+
		"remove it from spec.bundles (or the leaf's or CA's secret) and set spec.serviceAccountTokens: true, which writes the trusted set into its %s and keeps its token",
		what, ServiceAccountTokenType, rotation, serviceAccountTokenCAKey)
}
