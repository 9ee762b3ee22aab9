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

// The multi-cluster meshes: two clusters, each with its own intermediate
// under the mesh's shared root (docs/fleet.md, "One root, many clusters"),
// as Istio multi-primary (its plug-in CA) and linked Linkerd clusters (the
// identity issuer) hold it.

// meshExample is one multi-cluster example and where its clusters' CA
// Secret keeps what the control plane reads.
type meshExample struct {
	dir               string // under examples/
	namespace, secret string // the cluster's CA Secret (spec.ca.secret)
	// Its keys: the intermediate, its key, the chain a workload
	// certificate is presented with after it, the roots trusted.
	cert, key, chain, roots string
	rootCN                  string
	// bundle is a ConfigMap (namespace/name/key) that must hold the roots
	// too; "" none.
	bundle string
	// loader is the system's own loader of the Secret (a tool of bin/);
	// "" none.
	loader string
	// proxy is a workload identity (a DNS SAN) of the mesh.
	proxy string
}

var meshExamples = []meshExample{
	{dir: "istio-multicluster", namespace: "istio-system", secret: "cacerts",
		cert: "ca-cert.pem", key: "ca-key.pem", chain: "cert-chain.pem", roots: "root-cert.pem",
		rootCN: "Istio mesh root CA", loader: "istio-cacerts", proxy: "reviews.bookinfo.svc.cluster.local"},
	// Linkerd's proxies present their certificate and the issuer.
	{dir: "linkerd-multicluster", namespace: "linkerd", secret: "linkerd-identity-issuer",
		cert: "tls.crt", key: "tls.key", chain: "tls.crt", roots: "ca.crt",
		rootCN: "root.linkerd.cluster.local", bundle: "linkerd/linkerd-identity-trust-roots/ca-bundle.crt",
		proxy: "web.emojivoto.serviceaccount.identity.linkerd.cluster.local"},
}

var meshClusters = []string{"east", "west"}

// meshIdentity is a cluster's DEMO age identity.
func meshIdentity(t *testing.T, cluster string) string {
	return filepath.Join(testkit.Root(t), "hack", "testdata", "demo-age-"+cluster+".key")
}

// meshRender renders a cluster of the example at phase with the real
// kustomize (a copy of the whole example, the cluster's phase set).
func meshRender(t *testing.T, ex meshExample, cluster string, phase phases.Phase) []*yaml.RNode {
	t.Helper()
	tmp := t.TempDir()
	if err := os.CopyFS(tmp, os.DirFS(filepath.Join(testkit.Root(t), "examples", ex.dir))); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(tmp, "clusters", cluster)
	testkit.SetPhase(t, dir, phase)
	return testkit.Parse(t, testkit.KustomizeDir(t, dir))
}

// decryptAs decrypts a rendered Secret with an age identity file.
func decryptAs(t *testing.T, identity string, s *yaml.RNode) (*yaml.RNode, error) {
	t.Helper()
	out, err := testkit.DecryptAs(t, identity, []byte(s.MustString()))
	if err != nil {
		return nil, err
	}
	return yaml.Parse(string(out))
}

func secretField(t *testing.T, s *yaml.RNode, key string) []byte {
	t.Helper()
	v, _ := s.Pipe(yaml.Lookup("data", key))
	if v == nil {
		t.Fatalf("%s has no %s", s.GetName(), key)
	}
	b, err := base64.StdEncoding.DecodeString(yaml.GetValue(v))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMulticlusterMeshesLoadEveryPhaseAndHandshakeWithinTheWindow, for
// each example: each cluster's CA Secret holds the phase's roots and
// nothing else (and so does the mesh's trust bundle), the system's own
// loader accepts it at every phase where one builds here (istiod's CA code,
// bin/istio-cacerts), neither cluster's identity decrypts the other's,
// and proxies of the two clusters (openssl on both sides, mutual TLS, each
// certificate signed with its cluster's rendered intermediate as the
// control plane would sign it) handshake for every pair of phases within
// one of each other, agree with the phase model on every pair, and fail
// two phases apart.
func TestMulticlusterMeshesLoadEveryPhaseAndHandshakeWithinTheWindow(t *testing.T) {
	seq, _ := phases.Sequence(phases.ScopeCA)
	for _, ex := range meshExamples {
		t.Run(ex.dir, func(t *testing.T) {
			t.Parallel()
			proxies := map[string]map[phases.Phase]meshProxy{}
			for i, cluster := range meshClusters {
				other := meshClusters[1-i]
				proxies[cluster] = map[phases.Phase]meshProxy{}
				for _, phase := range seq {
					items := meshRender(t, ex, cluster, phase)
					enc := testkit.Find(items, "Secret", ex.namespace, ex.secret)
					if enc == nil {
						t.Fatalf("%s at %s renders no %s/%s", cluster, phase, ex.namespace, ex.secret)
					}
					if _, err := decryptAs(t, meshIdentity(t, other), enc); err == nil {
						t.Fatalf("%s's identity decrypts %s's %s at %s", other, cluster, ex.secret, phase)
					}
					s, err := decryptAs(t, meshIdentity(t, cluster), enc)
					if err != nil {
						t.Fatalf("%s's own identity does not decrypt its %s at %s: %v", cluster, ex.secret, phase, err)
					}
					if ex.loader != "" {
						if _, stderr, err := runLoader(testkit.Tool(t, ex.loader), s); err != nil {
							t.Fatalf("%s at %s: %s refuses %s: %v\n%s", cluster, phase, ex.loader, ex.secret, err, stderr)
						}
					}
					rootsPEM := secretField(t, s, ex.roots)
					roots, err := pki.ParseCerts(rootsPEM)
					if err != nil {
						t.Fatal(err)
					}
					state, _ := phases.Lookup(phases.ScopeCA, phase)
					if len(roots) != len(state.Trusted) {
						t.Errorf("%s at %s: %s holds %d certificates, the phase trusts %d generations", cluster, phase, ex.roots, len(roots), len(state.Trusted))
					}
					for _, r := range roots {
						if r.Subject.CommonName != ex.rootCN {
							t.Errorf("%s at %s: %s holds %q, not the mesh's root", cluster, phase, ex.roots, r.Subject.CommonName)
						}
					}
					if ex.bundle != "" {
						parts := strings.SplitN(ex.bundle, "/", 3)
						cm := testkit.Find(items, "ConfigMap", parts[0], parts[1])
						if cm == nil || cm.GetDataMap()[parts[2]] != string(rootsPEM) {
							t.Errorf("%s at %s: ConfigMap %s/%s does not hold the roots of %s", cluster, phase, parts[0], parts[1], ex.secret)
						}
					}
					caCert, err := pki.ParseCert(secretField(t, s, ex.cert))
					if err != nil {
						t.Fatal(err)
					}
					caKey, err := pki.ParseKey(secretField(t, s, ex.key))
					if err != nil {
						t.Fatal(err)
					}
					proxies[cluster][phase] = issueProxy(t, phase, ex.proxy, caCert, caKey, secretField(t, s, ex.chain), rootsPEM)
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
		})
	}
}

// TestMulticlusterMeshesCheckAndGitOpsObjects, for each example: in a git
// repository holding it, `carousel check` lets east move one phase ahead
// of west and refuses a second; its ApplicationSet (Argo CD's cluster
// generator) is accepted by a real API server with Argo CD's CRD; and each
// cluster's Flux Kustomizations build its rendered phase with
// kustomize-controller's own build code (bin/flux-build).
func TestMulticlusterMeshesCheckAndGitOpsObjects(t *testing.T) {
	s := apiserver.Start(t)
	s.Kubectl(t, "apply", "--server-side", "-f", testkit.Tool(t, "applicationset-crd.yaml"))
	s.WaitEstablished(t, "crd/applicationsets.argoproj.io")
	s.KubectlIn(t, []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: argocd}\n"), "apply", "--server-side", "-f", "-")
	for _, ex := range meshExamples {
		t.Run(ex.dir, func(t *testing.T) {
			repo := t.TempDir()
			dir := filepath.Join(repo, "examples", ex.dir)
			if err := os.CopyFS(dir, os.DirFS(filepath.Join(testkit.Root(t), "examples", ex.dir))); err != nil {
				t.Fatal(err)
			}
			git(t, repo, "init", "-q")
			git(t, repo, "add", "-A")
			git(t, repo, "commit", "-qm", "the mesh at steady")
			east := filepath.Join(dir, "clusters", "east")
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
			if _, stderr, err := s.KubectlErr("apply", "--server-side", "--dry-run=server", "-f", filepath.Join(testkit.Root(t), "examples", ex.dir, "argocd", "applicationset.yaml")); err != nil {
				t.Fatalf("the ApplicationSet is refused: %v\n%s", err, stderr)
			}
			// Flux: each cluster's rendered phase, built by
			// kustomize-controller's own code from its Kustomizations.
			out := t.TempDir()
			render(t, filepath.Join(testkit.Root(t), "examples", ex.dir, "render.conf"), out)
			for _, cluster := range meshClusters {
				for _, part := range []string{"material", "workloads"} {
					if _, err := fluxBuildFile(t, filepath.Join(testkit.Root(t), "examples", ex.dir, "flux", cluster+".yaml"), "mesh-ca-"+part, filepath.Join(out, cluster, part)); err != nil {
						t.Fatalf("Flux's build of %s mesh-ca-%s: %v\n%s", cluster, part, err, err.(*exec.ExitError).Stderr)
					}
				}
			}
		})
	}
}
