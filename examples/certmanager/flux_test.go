package certmanager

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/carousel-dev/carousel/internal/testkit"
)

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
	objs := w.c.Kubectl(w.t, "get", "certificates.cert-manager.io,clusterissuers.cert-manager.io,bundles.trust.cert-manager.io", "-A",
		"-l", "carousel.dev/rotation="+rotation, "-o", "json")
	root := testkit.Root(w.t)
	cmd := exec.Command(testkit.Tool(w.t, "flux-health"), "-kustomization", filepath.Join(root, fluxSync), "-name", kustomization)
	cmd.Stdin = bytes.NewReader(objs)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		w.t.Fatalf("flux-health -name %q: %v\n%s", kustomization, err, stderr.Bytes())
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			w.t.Fatalf("flux-health printed %q", line)
		}
		got[f[1]+"/"+f[2]] = f[0]
	}
	return got
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
