package examples

import (
	"encoding/base64"
	"path/filepath"
	"slices"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
)

// TestTheClusterCAExamplesTokenSecretCarriesEveryPhasesTrustedSet renders
// the cluster-ca example with the real kustomize and reads the ca.crt of
// its ServiceAccount token Secret in every phase: the old CA, both, both,
// the new CA, the new CA, as the manual procedure updates them, with the
// token and namespace as the package holds them.
func TestTheClusterCAExamplesTokenSecretCarriesEveryPhasesTrustedSet(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(testkit.Root(t), "examples", "cluster-ca")
	tests := []struct {
		phase phases.Phase
		cas   int
	}{
		{phases.Steady, 1},
		{phases.TrustNew, 2},
		{phases.SignNew, 2},
		{phases.DistrustOld, 1},
		{phases.Cleanup, 1},
	}
	sets := map[phases.Phase][]string{}
	for _, tt := range tests {
		objs := testkit.Parse(t, testkit.Kustomize(t, dir, tt.phase))
		s := testkit.Find(objs, "Secret", "kube-system", "ci-deployer-token")
		if s == nil {
			t.Fatalf("%s: the token Secret is not rendered", tt.phase)
		}
		for key, want := range map[string]string{"token": "not-a-real-token", "namespace": "kube-system", "ca.crt": ""} {
			v, _ := s.Pipe(yaml.Lookup("data", key))
			raw, err := base64.StdEncoding.DecodeString(yaml.GetValue(v))
			if err != nil || v == nil {
				t.Fatalf("%s: data.%s is missing or not base64: %v", tt.phase, key, err)
			}
			if key != "ca.crt" {
				if string(raw) != want {
					t.Errorf("%s: data.%s is %q, want it kept as %q", tt.phase, key, raw, want)
				}
				continue
			}
			certs, err := pki.ParseCerts(raw)
			if err != nil {
				t.Fatalf("%s: ca.crt: %v", tt.phase, err)
			}
			if len(certs) != tt.cas {
				t.Errorf("%s: ca.crt holds %d CAs, want %d", tt.phase, len(certs), tt.cas)
			}
			for _, c := range certs {
				sets[tt.phase] = append(sets[tt.phase], pki.Fingerprint(c))
			}
			slices.Sort(sets[tt.phase])
		}
	}
	old, new := sets[phases.Steady], sets[phases.Cleanup]
	both := slices.Sorted(slices.Values(append(slices.Clone(old), new...)))
	for phase, want := range map[phases.Phase][]string{phases.TrustNew: both, phases.SignNew: both, phases.DistrustOld: new} {
		if !slices.Equal(sets[phase], want) {
			t.Errorf("%s: ca.crt holds %v, want %v (steady's and cleanup's CAs)", phase, sets[phase], want)
		}
	}
	if slices.Equal(old, new) {
		t.Error("steady and cleanup trust the same CA: the rotation replaced nothing")
	}
}
