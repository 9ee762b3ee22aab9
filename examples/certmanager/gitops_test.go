package certmanager

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/certmanager"
	"github.com/carousel-dev/carousel/internal/testkit"
)

// The GitOps tools' waits between the cert-manager objects and the
// workloads, judged by the tools' own health code (bin/flux-health,
// bin/argocd-health) on the objects the real controllers left in the API
// server.

// fluxSync holds the Flux Kustomizations that apply the rendered phases of
// examples/linkerd-cert-manager (examples/flux, cluster "mesh").
const fluxSync = "examples/flux/clusters/mesh/carousel.yaml"

// fluxHealth is what Flux's kustomize-controller computes, with `wait:
// true`, for the rotation's cert-manager and trust-manager objects as they
// are in the cluster now: bin/flux-health runs Flux's own kstatus and CEL
// evaluator over them, with the healthCheckExprs of the Kustomization
// named kustomization in fluxSync ("" for none). The result maps
// Kind/namespace/name to kstatus's verdict (Current, InProgress, ...).
func (w *world) fluxHealth(kustomization string) map[string]string {
	w.t.Helper()
	return fluxHealthOf(w.t, w.c, rotation, kustomization)
}

// fluxHealthOf is fluxHealth for any rotation's objects.
func fluxHealthOf(t *testing.T, c *certmanager.Cluster, rot, kustomization string) map[string]string {
	t.Helper()
	objs := c.Kubectl(t, "get", "certificates.cert-manager.io,clusterissuers.cert-manager.io,bundles.trust.cert-manager.io", "-A",
		"-l", "carousel.dev/rotation="+rot, "-o", "json")
	root := testkit.Root(t)
	cmd := exec.Command(testkit.Tool(t, "flux-health"), "-kustomization", filepath.Join(root, fluxSync), "-name", kustomization)
	cmd.Stdin = bytes.NewReader(objs)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("flux-health -name %q: %v\n%s", kustomization, err, stderr.Bytes())
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			t.Fatalf("flux-health printed %q", line)
		}
		got[f[1]+"/"+f[2]] = f[0]
	}
	return got
}

// argoCM is the example argocd-cm, whose health checks a sync wave of the
// material waits on before the workloads' wave.
const argoCM = "examples/argocd/argocd-cm.yaml"

// builtinArgoCM is an argocd-cm with no health customization: Argo CD's
// built-in checks only.
const builtinArgoCM = `apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: argocd
  labels: {app.kubernetes.io/name: argocd-cm, app.kubernetes.io/part-of: argocd}
`

// argoHealth is what the Argo CD application controller computes for the
// rotation's cert-manager and trust-manager objects as they are in the
// cluster now, with argocd-cm (YAML) in force: bin/argocd-health runs
// gitops-engine's GetResourceHealth with the overrides Argo CD's settings
// manager reads from the live argocd-cm. The result maps
// Kind/namespace/name to the health status ("none": Argo CD has no check,
// and a sync wave counts it done at once).
func (w *world) argoHealth(argocdCM []byte) map[string]string {
	w.t.Helper()
	w.c.KubectlIn(w.t, []byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: argocd\n"), "apply", "--server-side", "--field-manager=carousel-test", "-f", "-")
	// replace, not apply: a key the previous argocd-cm had must go.
	w.c.KubectlErr("-n", "argocd", "delete", "configmap", "argocd-cm", "--ignore-not-found")
	w.c.KubectlIn(w.t, argocdCM, "create", "-f", "-")
	objs := w.c.Kubectl(w.t, "get", "certificates.cert-manager.io,clusterissuers.cert-manager.io,bundles.trust.cert-manager.io", "-A",
		"-l", "carousel.dev/rotation="+rotation, "-o", "json")
	cmd := exec.Command(testkit.Tool(w.t, "argocd-health"), "-namespace", "argocd")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+w.c.Kubeconfig)
	cmd.Stdin = bytes.NewReader(objs)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		w.t.Fatalf("argocd-health: %v\n%s", err, stderr.Bytes())
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			w.t.Fatalf("argocd-health printed %q", line)
		}
		got[f[1]+"/"+f[2]] = f[0]
	}
	return got
}

// gitopsWaitsForReissue checks, while cert-manager has not yet seen
// sign-new's issuerRef flip, that neither GitOps tool would let the
// workloads roll: Flux's wait with linkerd-material's healthCheckExprs, and
// Argo CD's sync wave with the example argocd-cm's health checks, both
// find the identity issuer's Certificate in progress. Without them both
// tools call it done (Flux's kstatus and Argo CD's built-in Lua read the
// Ready condition left over from the previous issuer) and would roll
// linkerd-identity onto the old issuer.
func (w *world) gitopsWaitsForReissue() {
	w.t.Helper()
	w.fluxWaitsForReissue()
	key := "Certificate/" + issuerNS + "/" + issuer
	if got := w.argoHealth([]byte(builtinArgoCM))[key]; got != "Healthy" {
		w.t.Errorf("Argo CD's built-in check calls the flipped %s %s before cert-manager saw it; the example's health checks were written for it calling it Healthy", key, got)
	}
	if got := w.argoHealth(mustReadFile(w, argoCM))[key]; got != "Progressing" {
		w.t.Fatalf("with the example argocd-cm Argo CD calls the flipped %s %s before cert-manager re-issued it, want Progressing: the workloads' wave would roll onto the old issuer", key, got)
	}
}

// gitopsHealthy checks that once the phase converged both tools' waits
// pass: every Certificate, ClusterIssuer and Bundle of the rotation is
// Current for Flux and Healthy for Argo CD under the examples' checks
// (checks that never hold would stall every phase at the material).
func (w *world) gitopsHealthy() {
	w.t.Helper()
	w.fluxHealthy()
	got := w.argoHealth(mustReadFile(w, argoCM))
	for obj, st := range got {
		if st != "Healthy" {
			w.t.Errorf("%s is %s under the example argocd-cm's health checks after the phase converged, want Healthy", obj, st)
		}
	}
}

func mustReadFile(w *world, rel string) []byte {
	w.t.Helper()
	b, err := os.ReadFile(filepath.Join(testkit.Root(w.t), rel))
	if err != nil {
		w.t.Fatal(err)
	}
	return b
}

// fluxWaitsForReissue checks, while cert-manager has not yet seen sign-new's
// issuerRef flip, that the Flux Kustomization applying the material would
// not let the workloads roll: with its healthCheckExprs the identity
// issuer's Certificate is InProgress. Without them (plain kstatus, which
// reads the Ready condition left over from the previous issuer) Flux would
// call it Current and roll linkerd-identity onto the old issuer: the
// expressions are what orders the two.
func (w *world) fluxWaitsForReissue() {
	w.t.Helper()
	key := "Certificate/" + issuerNS + "/" + issuer
	if got := w.fluxHealth("")[key]; got != "Current" {
		w.t.Errorf("plain kstatus calls the flipped %s %s before cert-manager saw it; the example's healthCheckExprs were written for kstatus calling it Current", key, got)
	}
	if got := w.fluxHealth("linkerd-material")[key]; got != "InProgress" {
		w.t.Fatalf("with linkerd-material's healthCheckExprs Flux calls the flipped %s %s before cert-manager re-issued it, want InProgress: the workloads would roll onto the old issuer", key, got)
	}
}

// fluxHealthy checks that once the phase converged, Flux's wait with the
// example's healthCheckExprs passes: every Certificate, ClusterIssuer and
// Bundle of the rotation is Current (expressions that never hold would
// stall every phase at the material).
func (w *world) fluxHealthy() {
	w.t.Helper()
	got := w.fluxHealth("linkerd-material")
	if len(got) == 0 {
		w.t.Fatal("flux-health saw none of the rotation's objects")
	}
	for obj, st := range got {
		if st != "Current" {
			w.t.Errorf("%s is %s under linkerd-material's healthCheckExprs after the phase converged, want Current", obj, st)
		}
	}
}

// nextSecond waits until the wall clock is in a later second than when it
// was called. The API server records write times and pod creation in whole
// seconds, and status counts a pod created in the write's second as
// created before it (pkg/status rolledAfterWrites): a GitOps tool's wait
// between waves takes seconds, which a test on one machine must not skip.
// renderTwice renders the package in dir with the real kustomize twice and
// fails unless the renders are byte-identical and hold none of keyMarks
// (what a private key leaves in a render).
func renderTwice(t *testing.T, dir string, keyMarks ...string) []byte {
	t.Helper()
	a := testkit.KustomizeDir(t, dir)
	if b := testkit.KustomizeDir(t, dir); !bytes.Equal(a, b) {
		t.Fatalf("two renders of the same commit differ:\n%s", testkit.Diff("first", "second", a, b))
	}
	for _, m := range keyMarks {
		if bytes.Contains(a, []byte(m)) {
			t.Fatal("the render holds a private key")
		}
	}
	return a
}

// splitWorkloads parts a render into its material and its workloads
// (workloadKinds), which the GitOps setups apply after the material.
func splitWorkloads(objs []*yaml.RNode) (material, workloads []*yaml.RNode) {
	for _, n := range objs {
		if workloadKinds[n.GetKind()] {
			workloads = append(workloads, n)
		} else {
			material = append(material, n)
		}
	}
	return material, workloads
}

// applyWorkloadsOnceHealthy is the end of a phase's apply as the GitOps
// setups do it: a wait until Flux's health code with linkerd-material's
// healthCheckExprs calls the rotation's cert-manager objects current, then
// the workloads, in a later second than the material.
func applyWorkloadsOnceHealthy(t *testing.T, c *certmanager.Cluster, rot, what string, workloads []*yaml.RNode) {
	t.Helper()
	c.Eventually(t, what, func() (bool, string) {
		h := fluxHealthOf(t, c, rot, "linkerd-material")
		for _, st := range h {
			if st != "Current" {
				return false, fmt.Sprint(h)
			}
		}
		return len(h) > 0, fmt.Sprint(h)
	})
	nextSecond()
	c.Apply(t, workloads)
}

func nextSecond() {
	start := time.Now().Truncate(time.Second)
	for !time.Now().Truncate(time.Second).After(start) {
		time.Sleep(20 * time.Millisecond)
	}
}

// gitopsWaitsForTrustSync is gitopsWaitsForReissue for trust-manager: while
// it has not synced trust-new's sources, the Bundle is in progress under
// both examples' checks, and done under both tools' defaults (Flux's
// kstatus finds no condition it knows, Argo CD has no Bundle check).
func (w *world) gitopsWaitsForTrustSync() {
	w.t.Helper()
	key := "Bundle//" + rootsName
	if got := w.fluxHealth("")[key]; got != "Current" {
		w.t.Errorf("plain kstatus calls the changed %s %s before trust-manager synced it; the example's healthCheckExprs were written for it calling it Current", key, got)
	}
	if got := w.fluxHealth("linkerd-material")[key]; got != "InProgress" {
		w.t.Fatalf("with linkerd-material's healthCheckExprs Flux calls the changed %s %s before trust-manager synced it, want InProgress", key, got)
	}
	if got := w.argoHealth([]byte(builtinArgoCM))[key]; got != "none" {
		w.t.Errorf("Argo CD's built-in checks judge %s %s; the example's check was written for it having none", key, got)
	}
	if got := w.argoHealth(mustReadFile(w, argoCM))[key]; got != "Progressing" {
		w.t.Fatalf("with the example argocd-cm Argo CD calls the changed %s %s before trust-manager synced it, want Progressing", key, got)
	}
}
