package gen

import (
	"fmt"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/phases"
)

// MeshRootCertificate is OSM's custom resource naming a mesh root CA and
// its role (config.openservicemesh.io/v1alpha2, OSM's MRC preview).
const (
	MRCAPIVersion = "config.openservicemesh.io/v1alpha2"
	MRCKind       = "MeshRootCertificate"
)

// renderMeshRootCertificates renders one MeshRootCertificate per CA
// generation present in the position, with the role the phase model gives
// it (phases.State.Role): OSM's rotation table, step by step. Only role
// may change once an MRC exists, so every other field, secretRef
// included, is the same in every phase: it names the generation's CA
// Secret, through the one function that names generation objects.
//
// The MRC carries the digest of its generation's CA and its role, so a
// role change is a change of what the mesh reads; nothing rolls on it
// (osm-controller watches MRCs).
func (r *renderer) renderMeshRootCertificates() part {
	var p part
	m := r.rot.Spec.MeshRootCertificates
	if m == nil || r.rot.Spec.CA.Secret == nil {
		return p
	}
	secret := r.rot.Spec.CA.Secret
	for _, g := range phases.Generations {
		role := r.state.Role(g)
		if role == phases.RoleAbsent {
			continue
		}
		k, ok := r.set.CA[g]
		if !ok {
			continue // loadMaterial reported it
		}
		name := r.generationName(m.Name, g)
		if in := r.inputObject(objID{MRCKind, m.Namespace, name}); in != nil {
			r.errorAt(in, "spec.role", fmt.Errorf("%s %s/%s is rendered by rotation %q (one per CA generation, its role set per phase): remove it from the input", MRCKind, m.Namespace, name, r.rot.Metadata.Name))
			continue
		}
		n := yaml.MustParse(fmt.Sprintf(`apiVersion: %s
kind: %s
metadata:
  name: %s
  namespace: %s
  labels: {}
spec:
  role: %s
  provider:
    tresor:
      ca:
        secretRef:
          name: %s
          namespace: %s
  spiffeEnabled: %t
  trustDomain: %s
`, MRCAPIVersion, MRCKind, name, m.Namespace, role, r.generationName(secret.Name, g), secret.Namespace, m.SpiffeEnabled, m.TrustDomain))
		p.render(r.labelled(n), "ca", hashLines(string(role), digestOf(k.Cert())))
	}
	return p
}
