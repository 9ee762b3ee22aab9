package examples

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carousel-dev/carousel/internal/apiserver"
	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
	"sigs.k8s.io/kustomize/kyaml/yaml"
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
		"kustomization.yaml": "resources: [repo-server.yaml]\npatches:\n- path: repo-server-patch.yaml\n- path: cmp-patch.yaml\n",
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
      # As Argo CD's install manifest has them: the CMP sidecar mounts both.
      volumes:
      - {name: var-files, emptyDir: {}}
      - {name: plugins, emptyDir: {}}
`,
	}
	patch, _ := os.ReadFile(filepath.Join(dir, "repo-server-patch.yaml"))
	files["repo-server-patch.yaml"] = string(patch)
	cmp, _ := os.ReadFile(filepath.Join(dir, "cmp", "repo-server-patch.yaml"))
	files["cmp-patch.yaml"] = string(cmp)
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(tmp, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	merged := testkit.KustomizeDir(t, tmp)
	if !strings.Contains(string(merged), "install-carousel") || !strings.Contains(string(merged), "SOPS_AGE_KEY_FILE") || !strings.Contains(string(merged), "argocd-cmp-server") {
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

// TestArgoCDRepoServerRendersEveryPhaseWithoutExec renders the example's
// Application, at every phase, with Argo CD's own repo-server code
// (bin/argocd-render: reposerver/repository.GenerateManifests with the
// kustomize settings its settings manager reads from the example's
// argocd-cm in a real API server), once through the named kustomize
// `carousel` (the carousel binary, `carousel build`, no build options) and
// once through the config management plugin of cmp/plugin.yaml served by
// Argo CD's cmp-server. Both must equal, object for object, what the
// pinned kustomize renders with --enable-alpha-plugins --enable-exec, apart
// from the tracking annotation Argo CD adds. The binary directory holds
// carousel and sops only: no kustomize, no shell to exec into. A function
// other than carousel's in the app is refused through Argo CD's code.
func TestArgoCDRepoServerRendersEveryPhaseWithoutExec(t *testing.T) {
	t.Parallel()
	root := testkit.Root(t)
	tools := t.TempDir()
	for name, target := range map[string]string{"carousel": testkit.Carousel(t), "sops": testkit.Tool(t, "sops")} {
		if err := os.Symlink(target, filepath.Join(tools, name)); err != nil {
			t.Fatal(err)
		}
	}
	cm, err := os.ReadFile(filepath.Join(root, "examples", "argocd", "argocd-cm.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cm), "  kustomize.path.carousel: /custom-tools/carousel\n") || strings.Contains(string(cm), "\n  kustomize.buildOptions.carousel:") {
		t.Fatal("argocd-cm.yaml must name the carousel binary as kustomize `carousel`, with no build options (no --enable-exec)")
	}
	s := apiserver.Start(t)
	s.KubectlIn(t, []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: argocd}\n"), "apply", "-f", "-")
	s.KubectlIn(t, []byte(strings.ReplaceAll(string(cm), "/custom-tools/", tools+"/")), "apply", "--server-side", "-f", "-")

	// A socket path must fit in 108 bytes: t.TempDir() may be too long.
	socks, err := os.MkdirTemp("", "cmp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(socks) })
	env := []string{"KUBECONFIG=" + s.Kubeconfig, "PATH=" + tools, "SOPS_AGE_KEY_FILE=" + filepath.Join(root, testkit.AgeKeyFile), testkit.NowEnv(), pluginSockEnv + "=" + socks}
	render := func(t *testing.T, repo string, args ...string) (string, string, error) {
		cmd := exec.Command(testkit.Tool(t, "argocd-render"), append([]string{"-app", filepath.Join(repo, "examples", "argocd", "application.yaml"), "-repo", repo}, args...)...)
		cmd.Env = env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}
	for _, phase := range []phases.Phase{phases.Steady, phases.TrustNew, phases.SignNew, phases.DistrustOld, phases.Cleanup} {
		t.Run(string(phase), func(t *testing.T) {
			dir := argoCopy(t, phase)
			repo := filepath.Dir(filepath.Dir(dir))
			want := argoObjects(t, testkit.KustomizeDir(t, filepath.Join(dir, "app"), testkit.BinFirstOnPath(t), "SOPS_AGE_KEY_FILE="+filepath.Join(root, testkit.AgeKeyFile)))
			plugin := filepath.Join(t.TempDir(), "cmp")
			if err := os.MkdirAll(plugin, 0o755); err != nil {
				t.Fatal(err)
			}
			pc, _ := os.ReadFile(filepath.Join(dir, "cmp", "plugin.yaml"))
			if err := os.WriteFile(filepath.Join(plugin, "plugin.yaml"), []byte(strings.ReplaceAll(string(pc), "/custom-tools/", tools+"/")), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, way := range []struct {
				name string
				args []string
			}{{"named kustomize carousel", nil}, {"config management plugin", []string{"-plugin", plugin}}} {
				out, stderr, err := render(t, repo, way.args...)
				if err != nil {
					t.Fatalf("%s: Argo CD's repo-server code failed: %v\n%s", way.name, err, stderr)
				}
				got := argoObjects(t, []byte(out))
				if len(got) != len(want) {
					t.Fatalf("%s: Argo CD rendered %d objects, kustomize with exec %d", way.name, len(got), len(want))
				}
				for i := range want {
					if got[i] != want[i] {
						t.Errorf("%s: object %d differs from kustomize --enable-exec's:\n%s\nwant:\n%s", way.name, i, got[i], want[i])
					}
				}
			}
		})
	}
	t.Run("another function is refused", func(t *testing.T) {
		dir := argoCopy(t, phases.Steady)
		repo := filepath.Dir(filepath.Dir(dir))
		app := filepath.Join(dir, "app")
		fn := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: evil\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: ./evil.sh\n"
		if err := os.WriteFile(filepath.Join(app, "evil.yaml"), []byte(fn), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(app, "evil.sh"), []byte("#!/bin/sh\ntouch "+filepath.Join(repo, "ran")+"\ncat\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		k, _ := os.ReadFile(filepath.Join(app, "kustomization.yaml"))
		if err := os.WriteFile(filepath.Join(app, "kustomization.yaml"), append(k, []byte("- evil.yaml\n")...), 0o644); err != nil {
			t.Fatal(err)
		}
		_, stderr, err := render(t, repo)
		if err == nil || !strings.Contains(stderr, "evil.sh") {
			t.Fatalf("Argo CD rendered an app with another exec function (err %v):\n%s", err, stderr)
		}
		if _, err := os.Stat(filepath.Join(repo, "ran")); err == nil {
			t.Fatal("the repository's program ran on the repo-server")
		}
	})
}

// pluginSockEnv is Argo CD's ARGOCD_PLUGINSOCKFILEPATH: where
// its repo-server looks for config management plugins' sockets.
const pluginSockEnv = "ARGOCD_PLUGINSOCKFILEPATH"

// argoObjects normalises a rendered stream to one canonical JSON string per
// object, in order, without Argo CD's tracking annotation.
func argoObjects(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	for _, n := range testkit.Parse(t, b) {
		if _, err := n.Pipe(yaml.ClearAnnotation("argocd.argoproj.io/tracking-id")); err != nil {
			t.Fatal(err)
		}
		if len(n.GetAnnotations()) == 0 {
			if _, err := n.Pipe(yaml.Lookup("metadata"), yaml.Clear("annotations")); err != nil {
				t.Fatal(err)
			}
		}
		j, err := n.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(j, &v); err != nil {
			t.Fatal(err)
		}
		c, _ := json.Marshal(v)
		out = append(out, string(c))
	}
	return out
}
