package gen_test

import (
	"crypto/x509"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/spec"
	"github.com/carousel-dev/carousel/pkg/targets"
)

// declaredTrustPlaces is the least number of trust objects a spec renders.
func declaredTrustPlaces(rot *spec.CARotation) int {
	n := len(rot.Spec.CABundles) + len(rot.Spec.Kubeconfigs)
	for _, l := range rot.Spec.Leaves {
		if l.Secret.Keys.CA != spec.OmitKey {
			n++
		}
	}
	if rot.Spec.CA.Secret != nil && rot.Spec.CA.Secret.Keys.CA != spec.OmitKey {
		n++
	}
	if rot.Spec.ClusterInfo != nil {
		n++
	}
	for _, b := range rot.Spec.Bundles {
		n += max(1, len(b.Namespaces))
	}
	if n == 0 && len(rot.Spec.Leaves) == 0 && rot.Spec.ClusterInfo == nil && rot.Spec.CA.Secret != nil {
		// The system distributes trust itself from the CA Secret (OSM's
		// Tresor): carousel renders no trust object to check leaves against.
		return 0
	}
	return max(n, 1)
}

func verifies(leaf *x509.Certificate, pool *x509.CertPool) error {
	_, err := leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: testkit.Now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err
}

// TestEveryLeafChainsToEveryNeighbouringTrustObject is the mixed-rollout
// property with crypto/x509: in every phase every leaf verifies against
// every trust object of that phase and of both neighbours, and a skip
// (steady to sign-new) does not.
func TestEveryLeafChainsToEveryNeighbouringTrustObject(t *testing.T) {
	for _, dir := range testkit.Examples(t) {
		pkg := testkit.Load(t, dir)
		rot := pkg.Rotation(t)
		seq := pkg.Phases(t)
		rendered := map[phases.Phase][]*yaml.RNode{}
		for _, p := range seq {
			rendered[p] = pkg.Render(t, p).Items
		}
		for i, p := range seq {
			for j := max(0, i-1); j <= min(len(seq)-1, i+1); j++ {
				q := seq[j]
				t.Run(filepath.Base(dir)+"/leaves of "+string(p)+" vs trust of "+string(q), func(t *testing.T) {
					objs := testkit.TrustObjects(t, rot, rendered[q])
					if want := declaredTrustPlaces(rot); len(objs) < want {
						t.Fatalf("found %d trust objects; the spec declares at least %d", len(objs), want)
					}
					for _, leaf := range testkit.Leaves(t, rot, rendered[p], false) {
						for _, obj := range objs {
							if err := verifies(leaf.Cert, obj.Pool); err != nil {
								t.Errorf("leaf %s of %s does not verify against %s of %s: %v", leaf.Name, p, obj.Where, q, err)
							}
						}
					}
				})
			}
		}
		if rot.Spec.Scope == phases.ScopeCA {
			t.Run(filepath.Base(dir)+"/steady and sign-new do not mix", func(t *testing.T) {
				for _, leaf := range testkit.Leaves(t, rot, rendered[phases.SignNew], false) {
					for _, obj := range testkit.TrustObjects(t, rot, rendered[phases.Steady]) {
						if verifies(leaf.Cert, obj.Pool) == nil {
							t.Errorf("leaf %s of sign-new verifies against %s of steady: the model would not see a skipped phase", leaf.Name, obj.Where)
						}
					}
				}
			})
		}
	}
}

// TestWorkloadsRollExactlyWhenTheModelSays compares every workload's pod
// template across adjacent positions (phases and their steps): one that consumes nothing carousel
// manages never changes; one that does changes exactly when what it
// consumes (the trusted set, or its leaf) changes in the phase model.
func TestWorkloadsRollExactlyWhenTheModelSays(t *testing.T) {
	for _, dir := range testkit.Examples(t) {
		pkg := testkit.Load(t, dir)
		rot := pkg.Rotation(t)
		seq := pkg.Positions(t)
		type snapshot struct {
			template map[string]string
			restarts map[string]gen.Restart
		}
		snaps := map[phases.Position]snapshot{}
		for _, p := range seq {
			out := pkg.RenderAt(t, p)
			s := snapshot{template: map[string]string{}, restarts: map[string]gen.Restart{}}
			for _, n := range out.Items {
				if slices.Contains(targets.Builtin().RolledKinds(), n.GetKind()) {
					s.template[n.GetKind()+"/"+n.GetNamespace()+"/"+n.GetName()] = n.MustString()
				}
			}
			for _, r := range out.Restarts {
				s.restarts[r.Kind+"/"+r.Namespace+"/"+r.Name] = r
			}
			snaps[p] = s
		}
		inputs := map[string]string{}
		for _, n := range pkg.Items {
			if slices.Contains(targets.Builtin().RolledKinds(), n.GetKind()) {
				inputs[n.GetKind()+"/"+n.GetNamespace()+"/"+n.GetName()] = n.MustString()
			}
		}
		untouched := 0
		for id, in := range inputs {
			if _, rolls := snaps[seq[0]].restarts[id]; rolls {
				continue
			}
			untouched++
			for _, p := range seq {
				if snaps[p].template[id] != in {
					t.Errorf("%s consumes nothing managed but changed in %s", id, p)
				}
			}
		}
		// An MRC rotation rolls nothing: osm-controller watches the MRCs
		// and hands proxies new certificates itself.
		if len(snaps[seq[0]].restarts) == 0 && rot.Spec.MeshRootCertificates == nil {
			t.Fatalf("%s: the example needs workloads that consume material", dir)
		}
		leafFP := map[phases.Position]map[string]string{}
		for _, p := range seq {
			leafFP[p] = map[string]string{}
			for _, l := range testkit.Leaves(t, rot, pkg.RenderAt(t, p).Items, false) {
				leafFP[p][l.Name] = pki.Fingerprint(l.Cert)
			}
		}
		for i := 1; i < len(seq); i++ {
			a, b := seq[i-1], seq[i]
			sa, _ := phases.LookupAt(rot.Spec.Scope, a, rot.Features())
			sb, _ := phases.LookupAt(rot.Spec.Scope, b, rot.Features())
			trustChanged := !slices.Equal(sa.Trusted, sb.Trusted)
			publishedChanged := !slices.Equal(sa.Published, sb.Published)
			for id, r := range snaps[a].restarts {
				want := false
				for _, c := range r.Consumes {
					switch {
					case c == spec.Trust:
						want = want || trustChanged
					case c == spec.InClusterConfig:
						// The set the nodes publish: it changes only in the
						// step after the node step (docs/phases.md).
						want = want || publishedChanged
					case c == "ca":
						want = want || trustChanged || sa.Signer != sb.Signer
					default: // a leaf: its certificate, and the trusted set in its ca.crt
						name := strings.TrimPrefix(c, spec.LeafPrefix)
						want = want || leafFP[a][name] != leafFP[b][name] || trustChanged
					}
				}
				got := snaps[a].restarts[id].Hash != snaps[b].restarts[id].Hash
				if got != want {
					t.Errorf("%s (consumes %v) %s -> %s: rolls=%v, the model says %v", id, r.Consumes, a, b, got, want)
				}
			}
		}
	}
}
