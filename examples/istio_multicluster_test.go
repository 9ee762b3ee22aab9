package examples

import (
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/apiserver"
	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
)

// The Istio multi-primary example: two clusters, each with its own
// intermediate (istio-system/cacerts) under the mesh's shared root
// (docs/fleet.md, "One root, many clusters").

var meshClusters = []string{"east", "west"}

// meshIdentity is a cluster's DEMO age identity.
func meshIdentity(t *testing.T, cluster string) string {
	return filepath.Join(testkit.Root(t), "hack", "testdata", "demo-age-"+cluster+".key")
}

// meshCacerts renders a cluster of examples/istio-multicluster at phase
// with the real kustomize (a copy of the whole example, the cluster's
// phase set) and returns its cacerts Secret as rendered (encrypted).
func meshCacerts(t *testing.T, cluster string, phase phases.Phase) *yaml.RNode {
	t.Helper()
	tmp := t.TempDir()
	if err := os.CopyFS(tmp, os.DirFS(filepath.Join(testkit.Root(t), "examples", "istio-multicluster"))); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(tmp, "clusters", cluster)
	testkit.SetPhase(t, dir, phase)
	s := testkit.Find(testkit.Parse(t, testkit.KustomizeDir(t, dir)), "Secret", "istio-system", "cacerts")
	if s == nil {
		t.Fatalf("%s at %s renders no istio-system/cacerts", cluster, phase)
	}
	return s
}

// decryptAs decrypts a rendered Secret with an age identity file.
func decryptAs(t *testing.T, identity string, s *yaml.RNode) (*yaml.RNode, error) {
	t.Helper()
	cmd := exec.Command(testkit.Tool(t, "sops"), "--decrypt", "--input-type", "yaml", "--output-type", "yaml", "/dev/stdin")
	cmd.Env = append(os.Environ(), "SOPS_AGE_KEY_FILE="+identity, "SOPS_AGE_KEY=")
	cmd.Stdin = strings.NewReader(s.MustString())
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, err
	}
	return yaml.Parse(string(out))
}

func secretField(t *testing.T, s *yaml.RNode, key string) []byte {
	t.Helper()
	v, _ := s.Pipe(yaml.Lookup("data", key))
	if v == nil {
		t.Fatalf("cacerts has no %s", key)
	}
	b, err := base64.StdEncoding.DecodeString(yaml.GetValue(v))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestIstioMulticlusterClustersLoadEveryPhaseAndHandshakeWithinTheWindow:
// istiod's own CA code (bin/istio-cacerts) loads each cluster's cacerts at
// every phase, whose root-cert.pem holds the phase's roots and nothing
// else; neither cluster's identity decrypts the other's cacerts; and
// sidecars of the two clusters (openssl on both sides, mutual TLS, each
// certificate signed with its cluster's cacerts as istiod would sign it)
// handshake for every pair of phases within one of each other, agree with
// the phase model on every pair, and fail two phases apart.
func TestIstioMulticlusterClustersLoadEveryPhaseAndHandshakeWithinTheWindow(t *testing.T) {
	t.Parallel()
	seq, _ := phases.Sequence(phases.ScopeCA)
	loader := testkit.Tool(t, "istio-cacerts")
	proxies := map[string]map[phases.Phase]meshProxy{}
	for i, cluster := range meshClusters {
		other := meshClusters[1-i]
		proxies[cluster] = map[phases.Phase]meshProxy{}
		for _, phase := range seq {
			enc := meshCacerts(t, cluster, phase)
			if _, err := decryptAs(t, meshIdentity(t, other), enc); err == nil {
				t.Fatalf("%s's identity decrypts %s's cacerts at %s", other, cluster, phase)
			}
			s, err := decryptAs(t, meshIdentity(t, cluster), enc)
			if err != nil {
				t.Fatalf("%s's own identity does not decrypt its cacerts at %s: %v", cluster, phase, err)
			}
			if _, stderr, err := runLoader(loader, s); err != nil {
				t.Fatalf("%s at %s: Istio's CA refuses cacerts: %v\n%s", cluster, phase, err, stderr)
			}
			roots, err := pki.ParseCerts(secretField(t, s, "root-cert.pem"))
			if err != nil {
				t.Fatal(err)
			}
			state, _ := phases.Lookup(phases.ScopeCA, phase)
			if len(roots) != len(state.Trusted) {
				t.Errorf("%s at %s: root-cert.pem holds %d certificates, the phase trusts %d generations", cluster, phase, len(roots), len(state.Trusted))
			}
			for _, r := range roots {
				if r.Subject.CommonName != "Istio mesh root CA" {
					t.Errorf("%s at %s: root-cert.pem holds %q, not the mesh's root", cluster, phase, r.Subject.CommonName)
				}
			}
			caCert, err := pki.ParseCert(secretField(t, s, "ca-cert.pem"))
			if err != nil {
				t.Fatal(err)
			}
			caKey, err := pki.ParseKey(secretField(t, s, "ca-key.pem"))
			if err != nil {
				t.Fatal(err)
			}
			proxies[cluster][phase] = issueProxy(t, phase, "reviews.bookinfo.svc.cluster.local", caCert, caKey,
				secretField(t, s, "cert-chain.pem"), secretField(t, s, "root-cert.pem"))
		}
	}
	for i, pa := range seq {
		for j, pb := range seq {
			err := opensslHandshake(t, proxies["east"][pa], proxies["west"][pb])
			ok, _ := phases.Handshakes(phases.ScopeCA, pa, pb)
			switch {
			case i-j >= -1 && i-j <= 1 && err != nil:
				t.Errorf("east at %s and west at %s are within the window and do not handshake: %v", pa, pb, err)
			case ok != (err == nil):
				t.Errorf("east at %s and west at %s: the phase model says %v, openssl says %v", pa, pb, ok, err)
			}
		}
	}
	if err := opensslHandshake(t, proxies["east"][phases.SignNew], proxies["west"][phases.Steady]); err == nil {
		t.Error("east at sign-new and west at steady handshake: the window would guard nothing")
	}
}

// TestIstioMulticlusterCheckAndGitOpsObjects: in a git repository holding
// the example, `carousel check` lets east move one phase ahead of west and
// refuses a second; the ApplicationSet (Argo CD's cluster generator) is
// accepted by a real API server with Argo CD's CRD.
func TestIstioMulticlusterCheckAndGitOpsObjects(t *testing.T) {
	t.Parallel()
	repo := t.TempDir()
	ex := filepath.Join(repo, "examples", "istio-multicluster")
	if err := os.CopyFS(ex, os.DirFS(filepath.Join(testkit.Root(t), "examples", "istio-multicluster"))); err != nil {
		t.Fatal(err)
	}
	git(t, repo, "init", "-q")
	git(t, repo, "add", "-A")
	git(t, repo, "commit", "-qm", "the mesh at steady")
	east := filepath.Join(ex, "clusters", "east")
	check := func() testkit.Result {
		return testkit.Cmd{FixedClock: true, NoCluster: true, Env: []string{"SOPS_AGE_KEY_FILE=" + meshIdentity(t, "east")}}.Run(t, "check", filepath.Join(east, "carousel.yaml"), "--base", "main")
	}
	testkit.SetPhase(t, east, phases.TrustNew)
	if r := check(); r.Code != 0 {
		t.Fatalf("east one phase ahead of west must merge: exit %d\n%s", r.Code, r.Out)
	}
	git(t, repo, "commit", "-qam", "east: trust-new")
	testkit.SetPhase(t, east, phases.SignNew)
	if r := check(); r.Code != 2 || !strings.Contains(r.Out, "REFUSED [fleet-window]") || !strings.Contains(r.Out, "west is at steady, east at sign-new") {
		t.Fatalf("east two phases ahead of west must be refused (fleet-window), naming both: exit %d\n%s", r.Code, r.Out)
	}

	s := apiserver.Start(t)
	s.Kubectl(t, "apply", "--server-side", "-f", testkit.Tool(t, "applicationset-crd.yaml"))
	s.WaitEstablished(t, "crd/applicationsets.argoproj.io")
	s.KubectlIn(t, []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: argocd}\n"), "apply", "--server-side", "-f", "-")
	if _, stderr, err := s.KubectlErr("apply", "--server-side", "--dry-run=server", "-f", filepath.Join(testkit.Root(t), "examples", "istio-multicluster", "argocd", "applicationset.yaml")); err != nil {
		t.Fatalf("the ApplicationSet is refused: %v\n%s", err, stderr)
	}
}
