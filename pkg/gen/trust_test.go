package gen_test

import (
	"crypto/x509"
	"encoding/base64"
	"path/filepath"
	"slices"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// trustObject is one place a phase publishes its trusted set.
type trustObject struct {
	where string
	pool  *x509.CertPool
}

func decode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("not base64: %v", err)
	}
	return b
}

func poolOf(t *testing.T, where string, pemBytes []byte) trustObject {
	t.Helper()
	certs, err := pki.ParseCerts(pemBytes)
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return trustObject{where, p}
}

// trustObjects collects every trust object of a rendered phase: bundles,
// the ca.crt of every rendered Secret, cluster-info, caBundles and kubeconfigs.
func trustObjects(t *testing.T, rot *spec.CARotation, items []*yaml.RNode) []trustObject {
	t.Helper()
	var out []trustObject
	for _, n := range items {
		where := n.GetKind() + " " + n.GetNamespace() + "/" + n.GetName()
		switch {
		case n.GetKind() == "ConfigMap" && n.GetName() == "cluster-info":
			kc := yaml.MustParse(yaml.GetValue(n.Field("data").Value.Field("kubeconfig").Value))
			ca, _ := kc.Pipe(yaml.Lookup("clusters", "0", "cluster", "certificate-authority-data"))
			out = append(out, poolOf(t, where, decode(t, yaml.GetValue(ca))))
		case n.GetKind() == "ConfigMap" && n.GetLabels()["carousel.dev/rotation"] == rot.Metadata.Name:
			for _, b := range rot.Spec.Bundles {
				if v, _ := n.Pipe(yaml.Lookup("data", b.Key)); v != nil && n.GetName() == b.Name {
					out = append(out, poolOf(t, where, []byte(yaml.GetValue(v))))
				}
			}
		case n.GetKind() == "Secret" && n.GetLabels()["carousel.dev/rotation"] == rot.Metadata.Name:
			if v, _ := n.Pipe(yaml.Lookup("data", "ca.crt")); v != nil {
				out = append(out, poolOf(t, where+" ca.crt", decode(t, yaml.GetValue(v))))
			}
		case n.GetKind() == "ValidatingWebhookConfiguration":
			v, _ := n.Pipe(yaml.Lookup("webhooks", "0", "clientConfig", "caBundle"))
			out = append(out, poolOf(t, where, decode(t, yaml.GetValue(v))))
		case n.GetKind() == "Secret" && n.GetName() == "admin-kubeconfig":
			kc := yaml.MustParse(yaml.GetValue(n.Field("stringData").Value.Field("value").Value))
			ca, _ := kc.Pipe(yaml.Lookup("clusters", "0", "cluster", "certificate-authority-data"))
			out = append(out, poolOf(t, where, decode(t, yaml.GetValue(ca))))
		}
	}
	if len(out) < 5 {
		t.Fatalf("found only %d trust objects; the example publishes trust in more places", len(out))
	}
	return out
}

// leaves returns the leaf certificates a phase serves, by leaf name.
func leaves(t *testing.T, rot *spec.CARotation, items []*yaml.RNode) map[string]*x509.Certificate {
	t.Helper()
	out := map[string]*x509.Certificate{}
	for _, l := range rot.Spec.Leaves {
		n := testkit.Find(items, "Secret", l.Secret.Namespace, l.Secret.Name)
		if n == nil {
			t.Fatalf("leaf Secret %s/%s was not rendered", l.Secret.Namespace, l.Secret.Name)
		}
		v, _ := n.Pipe(yaml.Lookup("data", l.Secret.Keys.Cert))
		c, err := pki.ParseCert(decode(t, yaml.GetValue(v)))
		if err != nil {
			t.Fatal(err)
		}
		out[l.Name] = c
	}
	return out
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
		rot, err := spec.Load(pkg.Config)
		if err != nil {
			t.Fatal(err)
		}
		seq := pkg.Phases(t)
		rendered := map[phases.Phase][]*yaml.RNode{}
		for _, p := range seq {
			rendered[p] = pkg.Render(t, p).Items
		}
		for i, p := range seq {
			for j := max(0, i-1); j <= min(len(seq)-1, i+1); j++ {
				q := seq[j]
				t.Run(filepath.Base(dir)+"/leaves of "+string(p)+" vs trust of "+string(q), func(t *testing.T) {
					for name, leaf := range leaves(t, rot, rendered[p]) {
						for _, obj := range trustObjects(t, rot, rendered[q]) {
							if err := verifies(leaf, obj.pool); err != nil {
								t.Errorf("leaf %s of %s does not verify against %s of %s: %v", name, p, obj.where, q, err)
							}
						}
					}
				})
			}
		}
		if rot.Spec.Scope == phases.ScopeCA {
			t.Run(filepath.Base(dir)+"/steady and sign-new do not mix", func(t *testing.T) {
				for name, leaf := range leaves(t, rot, rendered[phases.SignNew]) {
					for _, obj := range trustObjects(t, rot, rendered[phases.Steady]) {
						if verifies(leaf, obj.pool) == nil {
							t.Errorf("leaf %s of sign-new verifies against %s of steady: the model would not see a skipped phase", name, obj.where)
						}
					}
				}
			})
		}
	}
}

// TestWorkloadsRollExactlyWhenTheModelSays compares every workload's pod
// template across adjacent phases: one that consumes nothing carousel
// manages never changes; one that does changes exactly when what it
// consumes (the trusted set, or its leaf) changes in the phase model.
func TestWorkloadsRollExactlyWhenTheModelSays(t *testing.T) {
	for _, dir := range testkit.Examples(t) {
		pkg := testkit.Load(t, dir)
		rot, _ := spec.Load(pkg.Config)
		seq := pkg.Phases(t)
		type snapshot struct {
			template map[string]string
			restarts map[string]gen.Restart
		}
		snaps := map[phases.Phase]snapshot{}
		for _, p := range seq {
			out := pkg.Render(t, p)
			s := snapshot{template: map[string]string{}, restarts: map[string]gen.Restart{}}
			for _, n := range out.Items {
				if slices.Contains(spec.WorkloadKinds, n.GetKind()) {
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
			if slices.Contains(spec.WorkloadKinds, n.GetKind()) {
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
		if untouched == 0 || len(snaps[seq[0]].restarts) == 0 {
			t.Fatalf("%s: the example needs workloads that consume material and ones that do not", dir)
		}
		for i := 1; i < len(seq); i++ {
			a, b := seq[i-1], seq[i]
			sa, _ := phases.Lookup(rot.Spec.Scope, a)
			sb, _ := phases.Lookup(rot.Spec.Scope, b)
			trustChanged := !slices.Equal(sa.Trusted, sb.Trusted)
			leavesChanged := sa.Leaves != sb.Leaves
			for id, r := range snaps[a].restarts {
				want := false
				for _, c := range r.Consumes {
					switch {
					case c == spec.Trust:
						want = want || trustChanged
					case c == "ca":
						want = want || trustChanged || sa.Signer != sb.Signer
					default: // a leaf: its certificate, and the trusted set in its ca.crt
						want = want || leavesChanged || trustChanged
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
