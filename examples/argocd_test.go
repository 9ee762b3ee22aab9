package examples

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carousel-dev/carousel/internal/apiserver"
	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
)

// argoCopy copies examples/argocd and examples/cluster-ca side by side (the
// app overlay references ../../cluster-ca) with the rotation at phase.
func argoCopy(t *testing.T, phase phases.Phase) string {
	t.Helper()
	tmp := t.TempDir()
	for _, d := range []string{"argocd", "cluster-ca"} {
		if err := os.CopyFS(filepath.Join(tmp, "examples", d), os.DirFS(filepath.Join(testkit.Root(t), "examples", d))); err != nil {
			t.Fatal(err)
		}
	}
	testkit.SetPhase(t, filepath.Join(tmp, "examples", "cluster-ca"), phase)
	return filepath.Join(tmp, "examples", "argocd")
}

// TestArgoCDRendersDecryptedSecretsInSyncWaves renders the app overlay the
// way the repo-server does: the named kustomize with exec functions,
// `carousel` and `carousel decrypt` found on PATH, the age identity from the
// environment.
func TestArgoCDRendersDecryptedSecretsInSyncWaves(t *testing.T) {
	t.Parallel()
	root := testkit.Root(t)
	env := []string{"PATH=" + filepath.Join(root, "bin") + ":" + os.Getenv("PATH"), "SOPS_AGE_KEY_FILE=" + filepath.Join(root, testkit.AgeKeyFile)}
	for _, phase := range []phases.Phase{phases.Steady, phases.TrustNew, phases.SignNew, phases.DistrustOld, phases.Cleanup} {
		dir := argoCopy(t, phase)
		out := testkit.KustomizeDir(t, filepath.Join(dir, "app"), env...)
		if strings.Contains(string(out), "sops:") || strings.Contains(string(out), "ENC[") {
			t.Fatalf("%s: Argo CD would apply encrypted Secrets", phase)
		}
		secrets, oldSeen := 0, false
		for _, n := range testkit.Parse(t, out) {
			managed := n.GetLabels()["carousel.dev/rotation"] == "cluster-ca"
			if managed && n.GetAnnotations()["argocd.argoproj.io/sync-wave"] != "-1" {
				t.Errorf("%s: %s %s/%s is not in sync wave -1, before the workloads", phase, n.GetKind(), n.GetNamespace(), n.GetName())
			}
			if n.GetKind() == "Deployment" && n.GetAnnotations()["argocd.argoproj.io/sync-wave"] != "" {
				t.Errorf("%s: workloads must stay in the default wave", phase)
			}
			if !managed || n.GetKind() != "Secret" {
				continue
			}
			secrets++
			if err := testkit.TLSKeyMatches(n); err != nil {
				t.Errorf("%s: %v", phase, err)
			}
			old := n.GetName() == "cluster-ca-g1" // the old CA's generation Secret (its CA ID, material/ca-old.yaml)
			oldSeen = oldSeen || old
			prune := n.GetAnnotations()["argocd.argoproj.io/sync-options"] == "Prune=false"
			if old && prune != (phase != phases.DistrustOld) {
				t.Errorf("%s: the old CA Secret's Prune=false must hold while the old CA is trusted, and come off in distrust-old", phase)
			}
		}
		if secrets < 3 {
			t.Fatalf("%s: only %d rotation Secrets rendered", phase, secrets)
		}
		if oldSeen != (phase != phases.Cleanup) {
			t.Fatalf("%s: the old CA's generation Secret cluster-ca-g1 rendered: %v; it must be until cleanup prunes it", phase, oldSeen)
		}
		acceptedByServer(t, "examples/argocd/app at "+string(phase), testkit.Parse(t, out))
	}
}

// TestArgoCDManifestsAreAcceptedWithArgoCDsCRDs installs Argo CD's own CRDs
// (v3.2.12, from its module source) into the real API server and applies
// the example's Application, argocd-cm and the patched repo-server.
func TestArgoCDManifestsAreAcceptedWithArgoCDsCRDs(t *testing.T) {
	t.Parallel()
	s := apiserver.Start(t)
	for _, crd := range []string{"application-crd.yaml", "appproject-crd.yaml"} {
		s.Kubectl(t, "apply", "--server-side", "-f", testkit.Tool(t, crd))
	}
	s.WaitEstablished(t, "crd/applications.argoproj.io")
	s.KubectlIn(t, []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: argocd}\n"), "apply", "-f", "-")
	dir := filepath.Join(testkit.Root(t), "examples", "argocd")
	for _, f := range []string{"application.yaml", "argocd-cm.yaml"} {
		if _, stderr, err := s.KubectlErr("apply", "--server-side", "--dry-run=server", "-f", filepath.Join(dir, f)); err != nil {
			t.Fatalf("%s is refused: %v\n%s", f, err, stderr)
		}
	}
	// The schema is really checked: a source whose kustomize block is not
	// an object is refused.
	app, _ := os.ReadFile(filepath.Join(dir, "application.yaml"))
	bad := strings.Replace(string(app), "    kustomize:\n      version: carousel\n", "    kustomize: carousel\n", 1)
	if _, _, err := s.KubectlInErr([]byte(bad), "apply", "--server-side", "--dry-run=server", "-f", "-"); err == nil {
		t.Fatal("a malformed Application was accepted: the CRD schema is not being checked")
	}
	// The repo-server patch merges onto a repo-server Deployment and the
	// result is a valid Deployment.
	tmp := t.TempDir()
	files := map[string]string{
		"kustomization.yaml": "resources: [repo-server.yaml]\npatches:\n- path: repo-server-patch.yaml\n",
		"repo-server.yaml": `apiVersion: apps/v1
kind: Deployment
metadata: {name: argocd-repo-server, namespace: argocd}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: argocd-repo-server}}
  template:
    metadata: {labels: {app.kubernetes.io/name: argocd-repo-server}}
    spec:
      containers:
      - name: argocd-repo-server
        image: quay.io/argoproj/argocd:v3.2.12
`,
	}
	patch, _ := os.ReadFile(filepath.Join(dir, "repo-server-patch.yaml"))
	files["repo-server-patch.yaml"] = string(patch)
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(tmp, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	merged := testkit.KustomizeDir(t, tmp)
	if !strings.Contains(string(merged), "install-carousel") || !strings.Contains(string(merged), "SOPS_AGE_KEY_FILE") {
		t.Fatalf("the patch did not merge:\n%s", merged)
	}
	// The tools come from release images, copied by `carousel install`: no
	// compiler and no module download at pod start.
	for _, banned := range []string{"golang:", "go install", "sh, -c"} {
		if strings.Contains(string(merged), banned) {
			t.Errorf("the repo-server patch compiles or shells at pod start (%q):\n%s", banned, merged)
		}
	}
	if _, stderr, err := s.KubectlInErr(merged, "apply", "--server-side", "--dry-run=server", "-f", "-"); err != nil {
		t.Fatalf("the patched repo-server is refused: %v\n%s", err, stderr)
	}
}
