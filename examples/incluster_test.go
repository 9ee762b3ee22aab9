package examples

import (
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/apiserver"
	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// TestInClusterConfigConsumersRollOnlyAfterTheKCMStep walks the cluster-CA
// rotation of examples/cluster-ca on a real kube-apiserver, every phase in
// step order, forward to cleanup and back to steady, the way Flux or Argo CD
// applies each merged commit. No kube-controller-manager runs, so the test
// plays its part where the plan puts the runbook's node steps
// (phases.NodeMove): it writes kube-root-ca.crt, the ConfigMap KCM
// publishes from --root-ca-file, with the set the node steps put there.
//
// A pod reads kube-root-ca.crt when it starts, so each in-cluster-config
// consumer (kube-proxy, CoreDNS) is given, whenever its live pod template
// changes, the set kube-root-ca.crt holds at that moment. After each step:
//
//   - it trusts the CA that signs the API server's certificate in that step
//     (the runbook re-issues it with the phase's signer);
//   - once the nodes publish the phase's trusted set (the position's
//     published set is its trusted set), it holds exactly that set: it
//     rolled after the KCM step of the phase, not with the objects before it.
//
// The same walk with the consumers' rules set to consume "trust" (how the
// example said it before steps: they rolled with trust-new's objects, before
// the KCM step, and never again) must break the second rule.
func TestInClusterConfigConsumersRollOnlyAfterTheKCMStep(t *testing.T) {
	s := apiserver.Start(t)
	dir := filepath.Join(testkit.Root(t), "examples", "cluster-ca")
	if problems := walkInClusterConfig(t, s, dir, true); len(problems) > 0 {
		t.Fatalf("in-cluster-config consumers hold the wrong set:\n%s", strings.Join(problems, "\n"))
	}

	// The control: consumers that roll on the rendered trust (the rule
	// before steps) roll before the KCM step and keep the old set.
	control := t.TempDir()
	if err := os.CopyFS(control, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(control, "carousel.yaml")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "consumes: [in-cluster-config]"); n != 2 {
		t.Fatalf("the example's rules changed (%d in-cluster-config rules): update the control", n)
	}
	if err := os.WriteFile(cfg, []byte(strings.ReplaceAll(string(b), "consumes: [in-cluster-config]", "consumes: [trust]")), 0o644); err != nil {
		t.Fatal(err)
	}
	problems := walkInClusterConfig(t, s, control, false)
	t.Logf("the control (consumes: [trust]) is caught:\n%s", strings.Join(problems, "\n"))
	if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, "trust-new") && strings.Contains(p, "rolled before") }) {
		t.Fatalf("consumers rolling on the rendered trust must be caught rolling before trust-new's KCM step; problems found:\n%s", strings.Join(problems, "\n"))
	}
}

// walkInClusterConfig applies every position of the package forward then
// back, simulating kube-controller-manager, and returns what went wrong.
func walkInClusterConfig(t *testing.T, s *apiserver.Server, dir string, back bool) []string {
	t.Helper()
	pkg := testkit.Load(t, dir)
	rot := pkg.Rotation(t)
	f := rot.Features()
	path := pkg.Positions(t)
	walk := slices.Clone(path)
	for i := len(path) - 2; back && i >= 0; i-- {
		walk = append(walk, path[i])
	}
	cas := caPEMs(t, dir)

	// The consumers, and the namespaces KCM publishes into for them.
	consumers := map[string]gen.Restart{}
	for _, r := range pkg.RenderAt(t, path[0]).Restarts {
		if slices.Contains(r.Consumes, spec.InClusterConfig) || inKubeSystemOnTrust(r) {
			consumers[r.Kind+"/"+r.Namespace+"/"+r.Name] = r
		}
	}
	if len(consumers) == 0 {
		t.Fatal("the example has no in-cluster-config consumers")
	}
	publish := func(trusted []phases.Generation) {
		var set []string
		for _, g := range trusted {
			set = append(set, cas[g])
		}
		slices.Sort(set)
		namespaces := map[string]bool{}
		for _, r := range consumers {
			namespaces[r.Namespace] = true
		}
		var objs []*yaml.RNode
		for ns := range namespaces {
			cm := yaml.MustParse(fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: kube-root-ca.crt, namespace: %s}\ndata: {}\n", ns))
			_ = cm.PipeE(yaml.Lookup("data"), yaml.SetField("ca.crt", yaml.NewStringRNode(strings.Join(set, ""))))
			objs = append(objs, cm)
		}
		s.KubectlIn(t, stream(objs), "apply", "--server-side", "--field-manager=kube-controller-manager", "-f", "-")
	}
	liveSet := func(ns string) []phases.Generation {
		out := s.Kubectl(t, "-n", ns, "get", "configmap", "kube-root-ca.crt", "-o", `jsonpath={.data.ca\.crt}`)
		certs, err := pki.ParseCerts(out)
		if err != nil {
			t.Fatalf("kube-root-ca.crt in %s: %v", ns, err)
		}
		var gens []phases.Generation
		for _, c := range certs {
			for g, p := range cas {
				if string(pki.EncodeCerts(c)) == p {
					gens = append(gens, g)
				}
			}
		}
		slices.Sort(gens)
		return gens
	}

	var problems []string
	held := map[string][]phases.Generation{} // consumer -> the set its pods read at their last start
	seen := map[string]string{}              // consumer -> its live restart annotation
	rolledAt := map[string]phases.Position{} // consumer -> where it last rolled
	var prevObjs []*yaml.RNode
	publish([]phases.Generation{phases.Old}) // the cluster before the rotation
	for i, pos := range walk {
		var b phases.Phase
		var before, node bool
		if i > 0 {
			_, b, before, node = phases.NodeMove(rot.Spec.Scope, walk[i-1], pos, f)
		}
		nodeSet := func() []phases.Generation {
			st, _ := phases.Lookup(rot.Spec.Scope, b)
			return st.Trusted
		}
		if node && before {
			publish(nodeSet())
		}
		objs := withoutEncrypted(pkg.RenderAt(t, pos).Items)
		applyLight(t, s, pos, objs, prevObjs)
		prevObjs = objs
		if node && !before {
			publish(nodeSet())
		}
		st, err := phases.LookupAt(rot.Spec.Scope, pos, f)
		if err != nil {
			t.Fatal(err)
		}
		for id, r := range consumers {
			ann := string(s.Kubectl(t, "-n", r.Namespace, "get", strings.ToLower(r.Kind), r.Name,
				"-o", "jsonpath={.spec.template.metadata.annotations."+strings.ReplaceAll(gen.RestartAnnotation(rot.Metadata.Name), ".", `\.`)+"}"))
			if _, ok := seen[id]; !ok || seen[id] != ann {
				held[id] = liveSet(r.Namespace) // its pods restart and read it
				rolledAt[id] = pos
			}
			seen[id] = ann
			if !slices.Contains(held[id], st.Signer) {
				problems = append(problems, fmt.Sprintf("%s (step %d): %s holds %v (rolled at %s), without the %s CA that signs the API server's certificate",
					pos, i, id, held[id], rolledAt[id], st.Signer))
			}
			if slices.Equal(st.Published, st.Trusted) && !slices.Equal(held[id], sorted(st.Trusted)) {
				problems = append(problems, fmt.Sprintf("%s (step %d): %s holds %v, not the phase's %v that kube-controller-manager publishes: it rolled before the KCM step (at %s) and not after it",
					pos, i, id, held[id], st.Trusted, rolledAt[id]))
			}
		}
	}
	deleteObjects(t, s, withoutNamespaces(prevObjs))
	for _, r := range consumers {
		s.Kubectl(t, "-n", r.Namespace, "delete", "configmap", "kube-root-ca.crt", "--ignore-not-found")
	}
	return problems
}

// inKubeSystemOnTrust picks out the control's consumers: the example's
// kube-system add-ons selected by a rule, whatever they consume.
func inKubeSystemOnTrust(r gen.Restart) bool {
	return r.Namespace == "kube-system" && (r.Name == "kube-proxy" || r.Name == "coredns")
}

func sorted(g []phases.Generation) []phases.Generation {
	out := slices.Clone(g)
	slices.Sort(out)
	return out
}

// caPEMs reads each CA generation's certificate from the package's
// material, as PEM.
func caPEMs(t *testing.T, dir string) map[phases.Generation]string {
	t.Helper()
	out := map[phases.Generation]string{}
	for _, g := range phases.Generations {
		b, err := os.ReadFile(filepath.Join(dir, "material", "ca-"+string(g)+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		n, err := yaml.Parse(string(b))
		if err != nil {
			t.Fatal(err)
		}
		v, _ := n.Pipe(yaml.Lookup("certificate"))
		block, _ := pem.Decode([]byte(yaml.GetValue(v)))
		if block == nil {
			t.Fatalf("%s CA: no PEM certificate", g)
		}
		out[g] = string(pem.EncodeToMemory(block))
	}
	return out
}

// withoutEncrypted drops the SOPS-encrypted Secrets (CA and leaf keys),
// and what is not a Kubernetes object (the package's kustomization files):
// what in-cluster-config consumers read does not depend on them, and
// leaving them out spares a sops run per Secret and step
// (TestEveryPhaseIsAcceptedByTheAPIServer applies them decrypted).
func withoutEncrypted(objs []*yaml.RNode) []*yaml.RNode {
	return slices.DeleteFunc(slices.Clone(objs), func(n *yaml.RNode) bool {
		return n.Field(material.SopsField) != nil || n.GetApiVersion() == "" || n.GetKind() == "Kustomization"
	})
}

// applyLight applies a step's objects (namespaces first) and prunes what
// the step no longer renders, as a GitOps controller does.
func applyLight(t *testing.T, s *apiserver.Server, pos phases.Position, objs, prev []*yaml.RNode) {
	t.Helper()
	var namespaces []*yaml.RNode
	for _, n := range objs {
		if n.GetKind() == "Namespace" {
			namespaces = append(namespaces, n)
		}
	}
	if len(namespaces) > 0 {
		s.KubectlIn(t, stream(namespaces), "apply", "--server-side", "--field-manager="+fieldManager, "-f", "-")
	}
	if _, stderr, err := s.KubectlInErr(stream(objs), "apply", "--server-side", "--field-manager="+fieldManager, "-f", "-"); err != nil {
		t.Fatalf("%s: the server refused the step: %v\n%s", pos, err, stderr)
	}
	var gone []*yaml.RNode
	for _, p := range prev {
		if !slices.ContainsFunc(objs, func(n *yaml.RNode) bool { return sameObject(n, p) }) {
			gone = append(gone, p)
		}
	}
	deleteObjects(t, s, gone)
}
