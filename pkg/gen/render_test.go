package gen_test

import (
	"slices"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// fromSpec is what the spec says a phase manages, worked out from the
// rendered items the way status used to: objects labelled with the
// rotation, objects asking for injection, the spec's caBundles, kubeconfigs,
// cluster-info and, with serviceAccountTokens, every token Secret.
func fromSpec(rot *spec.CARotation, items []*yaml.RNode) []string {
	var out []string
	for _, n := range items {
		id := n.GetKind() + "/" + n.GetNamespace() + "/" + n.GetName()
		switch {
		case n.GetLabels()[material.LabelRotation] == rot.Metadata.Name,
			n.GetAnnotations()[spec.InjectAnnotation] == rot.Metadata.Name,
			rot.Spec.ClusterInfo != nil && id == "ConfigMap/kube-public/cluster-info",
			rot.Spec.ServiceAccountTokens && n.GetKind() == "Secret" && stringOf(n, "type") == "kubernetes.io/service-account-token":
			out = append(out, id)
			continue
		}
		for _, t := range rot.Spec.CABundles {
			if n.GetKind() == t.Kind && n.GetName() == t.Name {
				out = append(out, id)
			}
		}
		for _, k := range rot.Spec.Kubeconfigs {
			if n.GetKind() == "Secret" && n.GetNamespace() == k.Namespace && n.GetName() == k.Name {
				out = append(out, id)
			}
		}
	}
	return out
}

// Output.Managed is what status verifies against the cluster: every object
// the spec says the phase manages, in the order of Items, each the very
// object rendered, carrying what its Secret or bundle holds.
func TestManagedIsEveryObjectThePhaseManagesInItemsOrder(t *testing.T) {
	for _, dir := range testkit.Examples(t) {
		pkg := testkit.Load(t, dir)
		rot := pkg.Rotation(t)
		// The CA generation Secrets, one per CA in the material, named
		// after its ID.
		var caSecrets []string
		if s := rot.Spec.CA.Secret; s != nil {
			caSecrets = append(caSecrets, s.Name)
			for _, n := range pkg.CopyItems() {
				if material.IsKeyPair(n) && material.RotationOf(n) == rot.Metadata.Name {
					if k, err := material.Parse(n); err == nil && k.Role == material.RoleCA {
						caSecrets = append(caSecrets, gen.GenerationName(s.Name, k.CAID))
					}
				}
			}
		}
		for _, phase := range pkg.Phases(t) {
			t.Run(rot.Metadata.Name+"/"+string(phase), func(t *testing.T) {
				out := pkg.Render(t, phase)
				var got []string
				next := 0 // Managed follows Items
				trust := map[string]bool{}
				for _, m := range out.Managed {
					got = append(got, m.Kind+"/"+m.Namespace+"/"+m.Name)
					i := slices.Index(out.Items, m.Object)
					if i < next {
						t.Fatalf("%s/%s/%s is not an item after the previous managed one (index %d)", m.Kind, m.Namespace, m.Name, i)
					}
					next = i + 1
					if m.Object.GetKind() != m.Kind || m.Object.GetName() != m.Name || m.Object.GetNamespace() != m.Namespace {
						t.Errorf("%s/%s/%s points at %s/%s", m.Kind, m.Namespace, m.Name, m.Object.GetKind(), m.Object.GetName())
					}
					want := spec.Trust
					for _, l := range rot.Spec.Leaves {
						if m.Kind == "Secret" && m.Namespace == l.Secret.Namespace && m.Name == l.Secret.Name {
							want = spec.LeafPrefix + l.Name
						}
					}
					if s := rot.Spec.CA.Secret; s != nil && m.Kind == "Secret" && m.Namespace == s.Namespace && slices.Contains(caSecrets, m.Name) {
						want = "ca"
					}
					if m.Kind == "MeshRootCertificate" {
						want = "ca" // a CA generation and its role
					}
					if m.Carries != want {
						t.Errorf("%s carries %q, want %q", got[len(got)-1], m.Carries, want)
					}
					if m.Carries == spec.Trust {
						trust[m.Digest] = true
					}
				}
				if want := fromSpec(rot, out.Items); !slices.Equal(got, want) {
					t.Errorf("Managed is\n%v\nthe spec says\n%v", got, want)
				}
				if len(trust) > 1 {
					t.Errorf("objects carrying the trusted set disagree on its digest: %v", trust)
				}
			})
		}
	}
}

// The digest of the trusted set changes exactly when the phase model
// changes the trusted set: workloads roll on it.
func TestTheTrustDigestFollowsTheTrustedSet(t *testing.T) {
	pkg := example(t)
	rot := pkg.Rotation(t)
	seq := pkg.Phases(t)
	digest := func(p phases.Phase) string {
		for _, m := range pkg.Render(t, p).Managed {
			if m.Carries == spec.Trust {
				return m.Digest
			}
		}
		t.Fatalf("%s manages nothing carrying the trusted set", p)
		return ""
	}
	for i := 1; i < len(seq); i++ {
		a, _ := phases.Lookup(rot.Spec.Scope, seq[i-1])
		b, _ := phases.Lookup(rot.Spec.Scope, seq[i])
		changed := digest(seq[i-1]) != digest(seq[i])
		if want := !slices.Equal(a.Trusted, b.Trusted); changed != want {
			t.Errorf("%s -> %s: trust digest changed=%v, the model says %v", seq[i-1], seq[i], changed, want)
		}
	}
}
