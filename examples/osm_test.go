package examples

import (
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
)

// The OSM example's claim is that osm-controller in Tresor mode accepts
// every phase's osm-system/osm-ca-bundle. OSM's own code judges that:
// bin/osm-tresor (hack/systems/osm, a module of its own at
// github.com/openservicemesh/osm v1.2.4) loads the Secret with OSM's
// castorage loader, has Tresor issue a service certificate with it and
// verifies that certificate against the CA. The Secrets are what reaches the
// cluster: rendered by the real kustomize from the committed, encrypted
// material, then decrypted by the real sops.

// TestOSMTresorLoadsEveryPhasesCABundle: every phase's osm-ca-bundle loads
// and issues, signed by the CA the phase model says signs (old until
// sign-new, new from then on), and ca.crt is that CA alone.
func TestOSMTresorLoadsEveryPhasesCABundle(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(testkit.Root(t), "examples", "osm")
	bundle := func(phase phases.Phase) *yaml.RNode { return osmCABundle(t, dir, phase) }
	loaderAcceptsEveryPhase(t, "osm-tresor", dir, bundle, func(phase phases.Phase, state phases.State, root map[phases.Generation]string, out string) {
		for _, want := range []string{
			"trusted CAs (ca.crt): 1: " + root[state.Signer] + "\n",
			"verifies for server and client auth up to " + root[state.Signer] + "\n",
		} {
			if !strings.Contains(out, want) {
				t.Fatalf("%s: the loader says\n%s\nwant %q (old CA %s, new CA %s)", phase, out, want, root[phases.Old], root[phases.New])
			}
		}
	})
}

// TestOSMTresorRefusesOtherKeys feeds the loader osm-ca-bundle Secrets OSM
// must refuse: made by carousel itself from the example with another key
// (so the encoding is what differs), and the encrypted Secret. If the loader
// accepted one, the test above would prove nothing.
func TestOSMTresorRefusesOtherKeys(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(testkit.Root(t), "examples", "osm")
	encrypted := testkit.Find(testkit.Parse(t, testkit.Kustomize(t, dir, phases.Steady)), "Secret", "osm-system", "osm-ca-bundle")
	if encrypted == nil {
		t.Fatal("steady renders no osm-system/osm-ca-bundle")
	}
	loaderRefuses(t, "osm-tresor", []loaderRefusal{
		{"an RSA key in PKCS#1 (carousel's default before key.encoding) loads but Tresor cannot issue with it",
			osmWithKey(t, dir, "key: {algorithm: rsa-2048}"), 1, "Tresor cannot issue a service certificate with osm-system/osm-ca-bundle: create cert: no certificate in PEM"},
		{"an ECDSA key, even in PKCS#8, crashes OSM's RSA-only key decoding",
			osmWithKey(t, dir, "key: {algorithm: ecdsa-p256, encoding: pkcs8}"), 1, "OSM's code panicked"},
		{"a Secret still SOPS-encrypted is unusable input, not a refusal",
			encrypted, 2, "still SOPS-encrypted"},
	})
}

// osmWithKey copies the example, replaces its CA key line with key, makes
// fresh material with `carousel init --plaintext-keys` (throwaway keys in a
// temporary directory) and returns the steady phase's osm-ca-bundle.
func osmWithKey(t *testing.T, dir, key string) *yaml.RNode {
	t.Helper()
	return osmCABundle(t, remadeWith(t, dir, "key: {algorithm: rsa-2048, encoding: pkcs8}", key), phases.Steady)
}

// osmCABundle is the osm-system/osm-ca-bundle Secret of a phase, decrypted.
func osmCABundle(t *testing.T, dir string, phase phases.Phase) *yaml.RNode {
	t.Helper()
	return renderedSecret(t, dir, phase, "osm-system", "osm-ca-bundle")
}
