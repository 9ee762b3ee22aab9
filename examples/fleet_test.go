package examples

import (
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

var fleet = map[string]phases.Phase{"prod-us": phases.Steady, "prod-eu": phases.TrustNew, "staging": phases.SignNew}

// TestEveryFleetClusterRendersItsOwnPhase builds each cluster overlay with
// the real kustomize: the shared rotation, patched to the cluster's phase,
// must publish that phase's trusted set and serve that phase's leaf.
func TestEveryFleetClusterRendersItsOwnPhase(t *testing.T) {
	t.Parallel()
	root := testkit.Root(t)
	env := "PATH=" + filepath.Join(root, "bin") + ":" + os.Getenv("PATH")
	mat := testkit.Load(t, filepath.Join(root, "examples", "fleet", "rotation"))
	caFP := map[phases.Generation]string{}
	for _, n := range mat.Items {
		if n.GetKind() == "KeyPair" && n.GetAnnotations()["carousel.dev/role"] == "ca" {
			c, _ := n.Pipe(yaml.Lookup("certificate"))
			cert, err := pki.ParseCert([]byte(yaml.GetValue(c)))
			if err != nil {
				t.Fatal(err)
			}
			caFP[phases.Generation(n.GetAnnotations()["carousel.dev/generation"])] = pki.Fingerprint(cert)
		}
	}
	hashes := map[string]string{}
	for cluster, phase := range fleet {
		out := testkit.KustomizeDir(t, filepath.Join(root, "examples", "fleet", "clusters", cluster), env)
		nodes := testkit.Parse(t, out)
		st, _ := phases.Lookup(phases.ScopeCA, phase)
		bundle := testkit.Find(nodes, "ConfigMap", "edge", "fleet-trust")
		if bundle == nil {
			t.Fatalf("%s: no bundle rendered", cluster)
		}
		v, _ := bundle.Pipe(yaml.Lookup("data", "ca.crt"))
		certs, err := pki.ParseCerts([]byte(yaml.GetValue(v)))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range certs {
			got = append(got, pki.Fingerprint(c))
		}
		for _, g := range st.Trusted {
			if !strings.Contains(strings.Join(got, " "), caFP[g]) || len(got) != len(st.Trusted) {
				t.Errorf("%s at %s: the bundle holds %d certificates, want the %v CA(s)", cluster, phase, len(got), st.Trusted)
			}
		}
		for _, n := range nodes {
			if n.GetKind() == "Deployment" {
				a, _ := n.Pipe(yaml.Lookup("spec", "template", "metadata", "annotations", "carousel.dev/fleet-ca"))
				hashes[cluster] = yaml.GetValue(a)
			}
		}
	}
	if hashes["prod-us"] == hashes["prod-eu"] || hashes["prod-eu"] == hashes["staging"] {
		t.Fatalf("clusters at different phases carry the same restart hash: %v", hashes)
	}
}

// TestTheFleetsGitOpsObjectsAreValid renders the fleet for Flux with the
// CI's render step and builds each cluster's Kustomizations with Flux's
// own build code (bin/flux-build), and checks the ApplicationSet against Argo CD's CRD.
func TestTheFleetsGitOpsObjectsAreValid(t *testing.T) {
	t.Parallel()
	root := testkit.Root(t)
	out := t.TempDir()
	render(t, filepath.Join(root, "examples", "fleet", "render.conf"), out)
	for cluster := range fleet {
		for _, part := range []string{"material", "workloads"} {
			if _, err := fluxBuildFile(t, filepath.Join(root, "examples", "fleet", "flux", cluster+".yaml"), "fleet-ca-"+part, filepath.Join(out, cluster, part)); err != nil {
				t.Fatalf("Flux's build of %s fleet-ca-%s: %v\n%s", cluster, part, err, err.(*exec.ExitError).Stderr)
			}
		}
	}
	s := apiserver.Start(t)
	s.Kubectl(t, "apply", "--server-side", "-f", testkit.Tool(t, "applicationset-crd.yaml"))
	s.WaitEstablished(t, "crd/applicationsets.argoproj.io")
	s.KubectlIn(t, []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: argocd}\n"), "apply", "--server-side", "-f", "-")
	if _, stderr, err := s.KubectlErr("apply", "--server-side", "--dry-run=server", "-f", filepath.Join(root, "examples", "fleet", "argocd", "applicationset.yaml")); err != nil {
		t.Fatalf("the ApplicationSet is refused: %v\n%s", err, stderr)
	}
	// Every cluster's phase, decrypted as Flux would, is accepted by the
	// real API server (a server-side dry run after its namespace exists).
	s.KubectlIn(t, []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: edge}\n"), "apply", "--server-side", "-f", "-")
	for cluster := range fleet {
		var objs []*yaml.RNode
		for _, part := range []string{"material", "workloads"} {
			b, err := os.ReadFile(filepath.Join(out, cluster, part, "resources.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range testkit.Parse(t, b) {
				if n.GetKind() != "Namespace" {
					objs = append(objs, testkit.Decrypt(t, n))
				}
			}
		}
		if _, stderr, err := s.KubectlInErr([]byte(testkit.String(objs)), "apply", "--server-side", "--dry-run=server", "--field-manager=fleet-test", "-f", "-"); err != nil {
			t.Fatalf("%s: the API server refuses the rendered phase: %v\n%s", cluster, err, stderr)
		}
	}
}
