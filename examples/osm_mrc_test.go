package examples

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/apiserver"
	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/phases"
)

// mrcChange is one object of a move that touches MeshRootCertificates: its
// state after the move, or nil when the move deletes it.
type mrcChange struct {
	name  string
	after *yaml.RNode
}

// mrcsOf returns the MeshRootCertificates of a render by name.
func mrcsOf(items []*yaml.RNode) map[string]*yaml.RNode {
	out := map[string]*yaml.RNode{}
	for _, n := range items {
		if n.GetKind() == gen.MRCKind && n.GetApiVersion() == gen.MRCAPIVersion {
			out[n.GetName()] = n
		}
	}
	return out
}

func role(n *yaml.RNode) string {
	v, _ := n.Pipe(yaml.Lookup("spec", "role"))
	return yaml.GetValue(v)
}

// mrcMove lists the MRC objects that differ between two renders.
func mrcMove(a, b map[string]*yaml.RNode) []mrcChange {
	var out []mrcChange
	for name, n := range b {
		if o, ok := a[name]; !ok || o.MustString() != n.MustString() {
			out = append(out, mrcChange{name, n})
		}
	}
	for name := range a {
		if _, ok := b[name]; !ok {
			out = append(out, mrcChange{name, nil})
		}
	}
	slices.SortFunc(out, func(x, y mrcChange) int { return strings.Compare(x.name, y.name) })
	return out
}

// permutations returns every order of n items (n is at most 2 or 3 here).
func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(append([]int{}, p[:i]...), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}

// zeroActiveStates applies every order of every move between adjacent
// renders, forward and back, one object at a time, and returns each
// intermediate state with no active MeshRootCertificate.
func zeroActiveStates(names []string, renders [][]*yaml.RNode) []string {
	var bad []string
	for i := 0; i+1 < len(renders); i++ {
		for _, dir := range []int{1, -1} {
			from, to := i, i+1
			if dir < 0 {
				from, to = i+1, i
			}
			a, b := mrcsOf(renders[from]), mrcsOf(renders[to])
			changes := mrcMove(a, b)
			for _, order := range permutations(len(changes)) {
				state := map[string]string{}
				for name, n := range a {
					state[name] = role(n)
				}
				var applied []string
				for _, k := range order {
					c := changes[k]
					if c.after == nil {
						delete(state, c.name)
						applied = append(applied, "delete "+c.name)
					} else {
						state[c.name] = role(c.after)
						applied = append(applied, c.name+"="+role(c.after))
					}
					active := 0
					for _, r := range state {
						if r == "active" {
							active++
						}
					}
					if active == 0 {
						bad = append(bad, fmt.Sprintf("%s -> %s after %s: no active MeshRootCertificate (%v)", names[from], names[to], strings.Join(applied, ", "), state))
					}
				}
			}
		}
	}
	return bad
}

// TestNoApplyOrderLeavesTheMeshWithoutAnActiveMeshRootCertificate walks
// every phase and step of examples/osm-mrc and, for every move between
// adjacent steps, forward and back, applies the MeshRootCertificates that
// change in every possible order, one at a time (a GitOps tool applies a
// commit's objects in some order, and may stop half-way): every
// intermediate state has one active MRC or more, as OSM requires ("there
// must always be one active certificate"). Other objects of a move do not
// change any MRC's role, so the MRCs' orders are every interleaving that
// matters. Walking the same phases without the both-active step must
// find a state with none: trust-new -> sign-new would swap the only active MRC.
func TestNoApplyOrderLeavesTheMeshWithoutAnActiveMeshRootCertificate(t *testing.T) {
	t.Parallel()
	pkg := testkit.Load(t, filepath.Join(testkit.Root(t), "examples", "osm-mrc"))
	var names []string
	var renders [][]*yaml.RNode
	var withoutBothActive [][]*yaml.RNode
	var namesWithout []string
	for _, pos := range pkg.Positions(t) {
		out := pkg.RenderAt(t, pos)
		names = append(names, pos.String())
		renders = append(renders, out.Items)
		if pos.Step != phases.StepBothActive {
			namesWithout = append(namesWithout, pos.String())
			withoutBothActive = append(withoutBothActive, out.Items)
		}
	}
	if !slices.Contains(names, "sign-new/both-active") {
		t.Fatalf("the rotation has no both-active step: %v", names)
	}
	if bad := zeroActiveStates(names, renders); len(bad) > 0 {
		t.Fatalf("states without an active MeshRootCertificate:\n%s", strings.Join(bad, "\n"))
	}
	bad := zeroActiveStates(namesWithout, withoutBothActive)
	if !slices.ContainsFunc(bad, func(s string) bool { return strings.HasPrefix(s, "trust-new/objects -> sign-new/old-passive") }) {
		t.Fatalf("without the both-active step, trust-new -> sign-new must pass through a state without an active MRC; found:\n%s", strings.Join(bad, "\n"))
	}
}

// TestMeshRootCertificatesFollowOSMsTable checks the roles of each step
// against OSM's rotation table (seed 003) and that an MRC never changes
// anything but its role over its life, its secretRef naming its
// generation's CA Secret, rendered beside it.
func TestMeshRootCertificatesFollowOSMsTable(t *testing.T) {
	t.Parallel()
	pkg := testkit.Load(t, filepath.Join(testkit.Root(t), "examples", "osm-mrc"))
	const old, new = "osm-mesh-root-certificate-g1", "osm-mesh-root-certificate-g2" // named after the CA IDs (material: g1 old, g2 new)
	want := map[string][2]string{                                                   // position -> roles of old, new ("" absent)
		"steady/objects":       {"active", ""},
		"trust-new/objects":    {"active", "passive"},
		"sign-new/both-active": {"active", "active"},
		"sign-new/old-passive": {"passive", "active"},
		"distrust-old/objects": {"inactive", "active"},
		"cleanup/objects":      {"", "active"},
	}
	specs := map[string]string{} // MRC -> its spec without role
	for _, pos := range pkg.Positions(t) {
		out := pkg.RenderAt(t, pos)
		mrcs := mrcsOf(out.Items)
		var got [2]string
		for i, name := range []string{old, new} {
			n, ok := mrcs[name]
			if !ok {
				continue
			}
			got[i] = role(n)
			ref, _ := n.Pipe(yaml.Lookup("spec", "provider", "tresor", "ca", "secretRef"))
			secret := yaml.GetValue(ref.Field("name").Value)
			if s := testkit.Find(out.Items, "Secret", yaml.GetValue(ref.Field("namespace").Value), secret); s == nil {
				t.Errorf("%s: %s points at Secret %s, which the step does not render", pos, name, secret)
			}
			if gen := strings.TrimPrefix(name, "osm-mesh-root-certificate-"); secret != "osm-ca-bundle-"+gen {
				t.Errorf("%s: %s points at %s, not its generation's Secret", pos, name, secret)
			}
			c := n.Copy()
			_ = c.PipeE(yaml.Lookup("spec"), yaml.Clear("role"))
			s, _ := c.Pipe(yaml.Lookup("spec"))
			if prev, ok := specs[name]; ok && prev != s.MustString() {
				t.Errorf("%s: %s changed beyond its role (OSM refuses it):\n%s\nwas\n%s", pos, name, s.MustString(), prev)
			}
			specs[name] = s.MustString()
		}
		if got != want[pos.String()] {
			t.Errorf("%s: roles (old, new) %v, OSM's table says %v", pos, got, want[pos.String()])
		}
	}
}

// TestMeshRootCertificatesStepThroughARealAPIServer installs the MRC CRD
// (with role, and OSM's rule that only role may change, as transition
// rules) and applies each move's MRCs one at a time, in every order, forward
// to cleanup and back to steady, reading the live MRCs after each apply:
// the server accepts every object, and at least one is active throughout.
func TestMeshRootCertificatesStepThroughARealAPIServer(t *testing.T) {
	s := apiserver.Start(t)
	dir := filepath.Join(testkit.Root(t), "examples", "osm-mrc")
	installCRDs(t, s, dir)
	pkg := testkit.Load(t, dir)
	path := pkg.Positions(t)
	walk := slices.Clone(path)
	for i := len(path) - 2; i >= 0; i-- {
		walk = append(walk, path[i])
	}
	s.KubectlIn(t, []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: osm-system}\n"), "apply", "--server-side", "--field-manager="+fieldManager, "-f", "-")
	liveActive := func() (int, string) {
		out := s.Kubectl(t, "-n", "osm-system", "get", "meshrootcertificates", "-o", `jsonpath={range .items[*]}{.metadata.name}={.spec.role}{" "}{end}`)
		return strings.Count(string(out), "=active"), strings.TrimSpace(string(out))
	}
	var prev map[string]*yaml.RNode
	for i, pos := range walk {
		cur := mrcsOf(pkg.RenderAt(t, pos).Items)
		changes := mrcMove(prev, cur)
		// Alternate the order from move to move, so both orders of a
		// two-object move reach the server in the walk forward and back.
		if i%2 == 1 {
			slices.Reverse(changes)
		}
		for _, c := range changes {
			if c.after == nil {
				s.Kubectl(t, "-n", "osm-system", "delete", "meshrootcertificate", c.name)
			} else if _, stderr, err := s.KubectlInErr(stream([]*yaml.RNode{c.after}), "apply", "--server-side", "--field-manager="+fieldManager, "-f", "-"); err != nil {
				t.Fatalf("%s: the server refused %s: %v\n%s", pos, c.name, err, stderr)
			}
			if n, live := liveActive(); n == 0 {
				t.Fatalf("%s: after applying %s the cluster holds no active MeshRootCertificate: %s", pos, c.name, live)
			}
		}
		prev = cur
	}
	// The server enforces OSM's rule: an MRC's secretRef cannot change.
	moved := prev["osm-mesh-root-certificate-g1"].Copy()
	_ = moved.PipeE(yaml.Lookup("spec", "provider", "tresor", "ca", "secretRef"), yaml.SetField("name", yaml.NewStringRNode("osm-ca-bundle-elsewhere")))
	if _, _, err := s.KubectlInErr(stream([]*yaml.RNode{moved}), "apply", "--server-side", "--field-manager="+fieldManager, "-f", "-"); err == nil {
		t.Fatal("the CRD lets an MRC's secretRef change: its transition rules do not hold OSM's rule")
	}
	s.Kubectl(t, "-n", "osm-system", "delete", "meshrootcertificates", "--all")
}

// installCRDs applies an example's crds/ (custom resource definitions of
// the system it rotates for) and waits until the server serves them.
func installCRDs(t *testing.T, s *apiserver.Server, dir string) {
	t.Helper()
	crds := filepath.Join(dir, "crds")
	files, _ := filepath.Glob(filepath.Join(crds, "*.yaml"))
	if len(files) == 0 {
		return
	}
	s.Kubectl(t, "apply", "--server-side", "--field-manager="+fieldManager, "-f", crds)
	s.WaitEstablished(t, "-f", crds)
}
