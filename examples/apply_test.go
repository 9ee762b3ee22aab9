package examples

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/apiserver"
	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/phases"
)

// fieldManager is the server-side apply manager the tests apply as, the
// role Flux's kustomize-controller or Argo CD plays in a cluster.
const fieldManager = "carousel-test"

// TestEveryPhaseIsAcceptedByTheAPIServer walks every example through its
// phases on a real kube-apiserver, as a GitOps controller would: each
// phase's render, each step of it (by the real kustomize, Secrets decrypted by the real sops,
// as Flux's decryption or ksops would) must pass a server-side dry run
// against the previous phase's state, then apply for real; objects the
// phase no longer renders are pruned; afterwards the server holds exactly
// what was rendered (`kubectl diff` finds nothing) and exactly the
// rotation's rendered Secrets and ConfigMaps.
//
// No controller-manager runs: the manifests create their namespaces,
// Deployments get no pods, and nothing is garbage-collected.
func TestEveryPhaseIsAcceptedByTheAPIServer(t *testing.T) {
	t.Parallel()
	s := apiserver.Start(t)
	for _, dir := range testkit.Examples(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			pkg := testkit.Load(t, dir)
			rotation := pkg.Config.GetName()
			installCRDs(t, s, dir)
			var prev []*yaml.RNode
			// Every step of every phase is a commit a GitOps tool applies.
			for _, pos := range pkg.Positions(t) {
				objs := clusterObjectsAt(t, dir, pos)
				applyPhase(t, s, pos.Phase, objs, prev)
				checkManaged(t, s, pos.Phase, rotation, objs)
				prev = objs
			}
			// Leave the server to the next example (namespaces stay: with
			// no namespace controller a deleted namespace never goes away).
			deleteObjects(t, s, withoutNamespaces(prev))
		})
	}
}

// clusterObjectsAt is clusterObjects at a phase and step.
func clusterObjectsAt(t *testing.T, dir string, pos phases.Position) []*yaml.RNode {
	t.Helper()
	var out []*yaml.RNode
	for _, n := range testkit.Parse(t, testkit.KustomizeAt(t, dir, pos)) {
		out = append(out, testkit.Decrypt(t, n))
	}
	if len(out) == 0 {
		t.Fatalf("%s: the render is empty", pos)
	}
	return out
}

// clusterObjects renders a phase with the real kustomize and decrypts its
// SOPS-encrypted Secrets with the real sops: what reaches the cluster.
func clusterObjects(t *testing.T, dir string, phase phases.Phase) []*yaml.RNode {
	t.Helper()
	var out []*yaml.RNode
	for _, n := range testkit.Parse(t, testkit.Kustomize(t, dir, phase)) {
		out = append(out, testkit.Decrypt(t, n))
	}
	if len(out) == 0 {
		t.Fatalf("%s: the render is empty", phase)
	}
	for _, n := range out {
		if n.Field(material.SopsField) != nil {
			t.Fatalf("%s: %s %s/%s still carries SOPS metadata after decryption", phase, n.GetKind(), n.GetNamespace(), n.GetName())
		}
	}
	return out
}

func applyPhase(t *testing.T, s *apiserver.Server, phase phases.Phase, objs, prev []*yaml.RNode) {
	t.Helper()
	var namespaces []*yaml.RNode
	for _, n := range objs {
		if n.GetKind() == "Namespace" && n.GetApiVersion() == "v1" {
			namespaces = append(namespaces, n)
		}
	}
	// Namespaces first, as Flux and Argo CD order them, so the dry run of
	// the namespaced objects has somewhere to go.
	if len(namespaces) > 0 {
		s.KubectlIn(t, stream(namespaces), "apply", "--server-side", "--field-manager="+fieldManager, "-f", "-")
	}
	all := stream(objs)
	if _, stderr, err := s.KubectlInErr(all, "apply", "--server-side", "--dry-run=server", "--field-manager="+fieldManager, "-f", "-"); err != nil {
		t.Fatalf("%s: the server refused the phase in a dry run: %v\n%s", phase, err, stderr)
	}
	if _, stderr, err := s.KubectlInErr(all, "apply", "--server-side", "--field-manager="+fieldManager, "-f", "-"); err != nil {
		t.Fatalf("%s: the server refused the phase: %v\n%s", phase, err, stderr)
	}
	var gone []*yaml.RNode
	for _, p := range prev {
		if !slices.ContainsFunc(objs, func(n *yaml.RNode) bool { return sameObject(n, p) }) {
			gone = append(gone, p)
		}
	}
	deleteObjects(t, s, gone)
	if out, stderr, err := s.KubectlInErr(all, "diff", "--server-side", "--field-manager="+fieldManager, "-f", "-"); err != nil {
		t.Fatalf("%s: the server does not hold what was applied (%v):\n%s%s", phase, err, out, stderr)
	}
}

// checkManaged compares the rotation's labelled Secrets and ConfigMaps on
// the server with the render: a Secret of an earlier phase that should
// have been pruned, or one the server dropped, shows here.
func checkManaged(t *testing.T, s *apiserver.Server, phase phases.Phase, rotation string, objs []*yaml.RNode) {
	t.Helper()
	var want []string
	for _, n := range objs {
		if (n.GetKind() == "Secret" || n.GetKind() == "ConfigMap") && n.GetLabels()[material.LabelRotation] == rotation {
			want = append(want, strings.ToLower(n.GetKind())+"/"+n.GetNamespace()+"/"+n.GetName())
		}
	}
	out := s.Kubectl(t, "get", "secrets,configmaps", "--all-namespaces", "-l", material.LabelRotation+"="+rotation,
		"-o", `jsonpath={range .items[*]}{.kind}/{.metadata.namespace}/{.metadata.name}{"\n"}{end}`)
	var got []string
	for _, line := range strings.Fields(string(out)) {
		got = append(got, strings.ToLower(line))
	}
	slices.Sort(want)
	slices.Sort(got)
	if len(want) == 0 {
		t.Fatalf("%s: the render holds no Secret or ConfigMap labelled %s=%s", phase, material.LabelRotation, rotation)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s: the server holds the rotation's objects\n%s\nbut the phase renders\n%s", phase, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func deleteObjects(t *testing.T, s *apiserver.Server, objs []*yaml.RNode) {
	t.Helper()
	if len(objs) > 0 {
		s.KubectlIn(t, stream(objs), "delete", "--ignore-not-found", "--wait=false", "-f", "-")
	}
}

func withoutNamespaces(objs []*yaml.RNode) []*yaml.RNode {
	return slices.DeleteFunc(slices.Clone(objs), func(n *yaml.RNode) bool { return n.GetKind() == "Namespace" })
}

func sameObject(a, b *yaml.RNode) bool {
	return a.GetApiVersion() == b.GetApiVersion() && a.GetKind() == b.GetKind() &&
		a.GetNamespace() == b.GetNamespace() && a.GetName() == b.GetName()
}

func stream(objs []*yaml.RNode) []byte {
	return []byte(testkit.String(objs))
}
