package examples

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/apiserver"
	"github.com/carousel-dev/carousel/internal/handshake"
	"github.com/carousel-dev/carousel/internal/testkit"
	fleetpkg "github.com/carousel-dev/carousel/pkg/fleet"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/spec"
	"github.com/carousel-dev/carousel/pkg/targets"
)

// consumerApps are the consumer packages of examples/multi-app; the last
// stands for another repository and takes the state as a remote resource.
var consumerApps = []string{"apps/payments", "apps/orders", "team-ledger/ledger"}

// multiApp is a copy of examples/multi-app whose tree is a real git
// repository standing for the platform's: each phase is published and
// committed, and the other repository's consumer fetches the state through
// kustomize's own git support, pinned to that commit.
type multiApp struct{ dir string }

func newMultiApp(t *testing.T) *multiApp {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(testkit.Root(t), "examples", "multi-app"))); err != nil {
		t.Fatal(err)
	}
	testkit.SetPhase(t, dir, "") // exec paths to bin/carousel
	git(t, dir, "init", "-q", "-b", "main")
	return &multiApp{dir: dir}
}

var ownerPhase = regexp.MustCompile(`(?m)^  phase: \S+`)
var remoteState = regexp.MustCompile(`(?m)^- (https://git\.example\.dev/|file://)\S+$`)

// at moves the owner to phase, publishes and commits, and pins the other
// repository's remote resource to that commit.
func (m *multiApp) at(t *testing.T, phase phases.Phase) {
	t.Helper()
	owner := filepath.Join(m.dir, "platform", "rotation", "carousel.yaml")
	b, _ := os.ReadFile(owner)
	if err := os.WriteFile(owner, ownerPhase.ReplaceAll(b, []byte("  phase: "+phase)), 0o644); err != nil {
		t.Fatal(err)
	}
	testkit.Cmd{FixedClock: true, NoCluster: true}.Must(t, "publish", owner)
	git(t, m.dir, "add", "-A")
	git(t, m.dir, "commit", "-qm", "mesh-ca: "+string(phase), "--allow-empty")
	sha := git(t, m.dir, "rev-parse", "HEAD")
	k := filepath.Join(m.dir, "team-ledger", "ledger", "kustomization.yaml")
	b, _ = os.ReadFile(k)
	if !remoteState.Match(b) {
		t.Fatalf("%s lists no remote state", k)
	}
	if err := os.WriteFile(k, remoteState.ReplaceAll(b, []byte("- file://"+m.dir+"//platform/state?ref="+sha)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (m *multiApp) build(t *testing.T, rel string) []*yaml.RNode {
	t.Helper()
	return testkit.Parse(t, testkit.KustomizeDir(t, filepath.Join(m.dir, rel)))
}

// placed builds the consumer's workloads inside the owner's package, its
// bundles, caBundles and restart rules added to the owner's spec: what the
// consumer would render if it were part of the rotation's own package.
func (m *multiApp) placed(t *testing.T, app string) []*yaml.RNode {
	t.Helper()
	dir := filepath.Join(m.dir, "placed-"+filepath.Base(app))
	_ = os.RemoveAll(dir)
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(m.dir, "platform", "rotation"))); err != nil {
		t.Fatal(err)
	}
	appYAML, err := os.ReadFile(filepath.Join(m.dir, app, "app.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "consumer-app.yaml"), appYAML, 0o644); err != nil {
		t.Fatal(err)
	}
	k, _ := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	k = bytes.Replace(k, []byte("resources:\n"), []byte("resources:\n- consumer-app.yaml\n"), 1)
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), k, 0o644); err != nil {
		t.Fatal(err)
	}
	owner, err := yaml.ReadFile(filepath.Join(dir, "carousel.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	consumer, err := yaml.ReadFile(filepath.Join(m.dir, app, "carousel.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"bundles", "caBundles", "restarts"} {
		src, _ := consumer.Pipe(yaml.Lookup("spec", field))
		if src == nil {
			continue
		}
		dst, err := owner.Pipe(yaml.LookupCreate(yaml.SequenceNode, "spec", field))
		if err != nil {
			t.Fatal(err)
		}
		els, _ := src.Elements()
		for _, e := range els {
			dst.YNode().Content = append(dst.YNode().Content, e.YNode())
		}
	}
	if err := yaml.WriteFile(owner, filepath.Join(dir, "carousel.yaml")); err != nil {
		t.Fatal(err)
	}
	return testkit.Parse(t, testkit.KustomizeDir(t, dir))
}

// restartOf is a workload's restart annotation ("" without one).
func meshRestart(n *yaml.RNode) string {
	k, ok := targets.Builtin().Of(n)
	if !ok || k.Workload == nil {
		return ""
	}
	v, _ := n.Pipe(yaml.Lookup(append(k.Workload.Annotations(), "carousel.dev/mesh-ca")...))
	return yaml.GetValue(v)
}

// TestConsumersRollExactlyAsInTheOwnersPackage is the consumer contract:
// for every phase, every workload of every consumer package carries the
// restart annotation it would carry inside the owner's package, and every
// bundle and caBundle holds what the owner's package would render there.
func TestConsumersRollExactlyAsInTheOwnersPackage(t *testing.T) {
	t.Parallel()
	m := newMultiApp(t)
	seq, _ := phases.Sequence(phases.ScopeCA)
	annotated := map[phases.Phase]int{}
	for _, phase := range seq {
		m.at(t, phase)
		for _, app := range consumerApps {
			got := m.build(t, app)
			want := m.placed(t, app)
			appItems := testkit.Parse(t, mustReadFile(t, filepath.Join(m.dir, app, "app.yaml")))
			for _, in := range appItems {
				if k, ok := targets.Builtin().Of(in); !ok || k.Workload == nil {
					continue
				}
				g := testkit.Find(got, in.GetKind(), in.GetNamespace(), in.GetName())
				w := testkit.Find(want, in.GetKind(), in.GetNamespace(), in.GetName())
				if g == nil || w == nil {
					t.Fatalf("%s at %s: %s %s/%s missing from a render", app, phase, in.GetKind(), in.GetNamespace(), in.GetName())
				}
				if meshRestart(g) != meshRestart(w) {
					t.Errorf("%s at %s: %s %s/%s carries %q, in the owner's package %q", app, phase, in.GetKind(), in.GetNamespace(), in.GetName(), meshRestart(g), meshRestart(w))
				}
				if meshRestart(g) != "" {
					annotated[phase]++
				}
			}
			// Every object the consumer manages is the owner's rendering of it.
			for _, g := range got {
				if g.GetAnnotations()["phase.carousel.dev/mesh-ca"] == "" {
					continue
				}
				if g.GetAnnotations()["phase.carousel.dev/mesh-ca"] != string(phase) {
					t.Errorf("%s at %s: %s %s/%s reports phase %s", app, phase, g.GetKind(), g.GetNamespace(), g.GetName(), g.GetAnnotations()["phase.carousel.dev/mesh-ca"])
				}
				if k, ok := targets.Builtin().Of(g); ok && k.Workload != nil {
					continue
				}
				w := testkit.Find(want, g.GetKind(), g.GetNamespace(), g.GetName())
				if w == nil || payload(t, g) != payload(t, w) {
					t.Errorf("%s at %s: %s %s/%s differs from the owner's rendering of it", app, phase, g.GetKind(), g.GetNamespace(), g.GetName())
				}
			}
		}
	}
	// The comparison must have had something to compare: adoption at
	// steady rolls nothing, and every phase that changes the trust rolls.
	if annotated[phases.Steady] != 0 {
		t.Errorf("%d consumer workloads are annotated at steady: adoption must roll nothing", annotated[phases.Steady])
	}
	for _, p := range []phases.Phase{phases.TrustNew, phases.SignNew, phases.DistrustOld} {
		if annotated[p] == 0 {
			t.Errorf("no consumer workload is annotated at %s", p)
		}
	}
}

// payload is what a managed object holds: its data, or its caBundles.
func payload(t *testing.T, n *yaml.RNode) string {
	t.Helper()
	var out []string
	if d, _ := n.Pipe(yaml.Lookup("data")); d != nil {
		out = append(out, d.MustString())
	}
	if k, ok := targets.Builtin().Lookup(n.GetKind()); ok && k.CABundle != nil {
		for _, p := range k.CABundle.Paths(n, nil) {
			v, _ := n.Pipe(yaml.Lookup(append(p, "caBundle")...))
			b, err := base64.StdEncoding.DecodeString(yaml.GetValue(v))
			if err != nil || !bytes.Contains(b, []byte("BEGIN CERTIFICATE")) {
				t.Fatalf("%s %s: caBundle is not a PEM bundle", n.GetKind(), n.GetName())
			}
			out = append(out, string(b))
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s %s/%s holds nothing", n.GetKind(), n.GetNamespace(), n.GetName())
	}
	return strings.Join(out, "\n")
}

func mustReadFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestConsumersOnePhaseApartFromTheOwnerHandshake: applications sync on
// their own schedule, so a consumer may still run phase k-1 (or, after a
// rollback, k+1) while the owner's servers run k, and mid-roll k-1 too.
// Every client configured from a consumer package's bundles and caBundles
// must then handshake with every server of the owner's leaves, with real
// TLS; two phases apart must break exactly where the phase model says, or
// the harness could not see a break.
func TestConsumersOnePhaseApartFromTheOwnerHandshake(t *testing.T) {
	t.Parallel()
	m := newMultiApp(t)
	seq, _ := phases.Sequence(phases.ScopeCA)
	ownerRot := loadRotation(t, filepath.Join(m.dir, "platform", "rotation", "carousel.yaml"))
	servers := map[phases.Phase][]handshake.Server{}
	clients := map[phases.Phase][]handshake.Client{}
	for _, p := range seq {
		m.at(t, p)
		for _, l := range testkit.Leaves(t, ownerRot, m.build(t, "platform/rotation"), true) {
			servers[p] = append(servers[p], handshake.Server{Name: string(p) + " " + l.Name, Cert: l.Pair, ServerDNS: l.Cert.DNSNames[0]})
		}
		for _, app := range consumerApps {
			rot := consumerAsRotation(t, filepath.Join(m.dir, app, "carousel.yaml"))
			for _, o := range testkit.TrustObjects(t, rot, m.build(t, app)) {
				clients[p] = append(clients[p], handshake.Client{Name: fmt.Sprintf("%s at %s trusting %s", app, p, o.Where), Roots: o.Pool})
			}
		}
		if len(servers[p]) == 0 || len(clients[p]) < len(consumerApps) {
			t.Fatalf("%s: %d servers, %d clients: nothing to handshake", p, len(servers[p]), len(clients[p]))
		}
	}
	breaks := 0
	for i, owner := range seq {
		for j, consumer := range seq {
			apart := i - j
			if apart < -1 || apart > 2 {
				continue
			}
			// The owner's servers mid-roll: its phase and the one it left.
			var srv []handshake.Server
			for _, k := range []int{i - 1, i} {
				if k >= 0 && (apart >= 0 || k == i) {
					srv = append(srv, servers[seq[k]]...)
				}
			}
			failed, tried := 0, 0
			first := ""
			for _, s := range srv {
				for _, c := range clients[consumer] {
					tried++
					if err := handshake.Handshake(s, c, testkit.Now); err != nil {
						if failed == 0 {
							first = fmt.Sprintf("%s x %s: %v", s.Name, c.Name, err)
						}
						failed++
					}
				}
			}
			ownerSt, _ := phases.Lookup(phases.ScopeCA, owner)
			consumerSt, _ := phases.Lookup(phases.ScopeCA, consumer)
			switch {
			case apart <= 1 && failed > 0:
				t.Errorf("owner at %s, consumer at %s: %d of %d handshakes failed: %s", owner, consumer, failed, tried, first)
			case apart == 2 && !consumerSt.Trusts(ownerSt.Signer):
				breaks++
				if failed == 0 {
					t.Errorf("owner at %s, consumer at %s: the consumer does not trust the owner's signer, yet all %d handshakes succeeded", owner, consumer, tried)
				}
			}
		}
	}
	if breaks == 0 {
		t.Fatal("no pair two phases apart breaks in the model: the harness was never shown to see a break")
	}
}

func loadRotation(t *testing.T, file string) *spec.CARotation {
	t.Helper()
	n, err := yaml.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	r, err := spec.Load(n)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// consumerAsRotation is the consumer's bundles as testkit reads them.
func consumerAsRotation(t *testing.T, file string) *spec.CARotation {
	t.Helper()
	n, err := yaml.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	c, err := spec.LoadConsumer(n)
	if err != nil {
		t.Fatal(err)
	}
	return &spec.CARotation{Metadata: spec.Metadata{Name: c.Spec.State}, Spec: spec.Spec{Bundles: c.Spec.Bundles, CABundles: c.Spec.CABundles}}
}

// TestMultiAppGitOpsObjectsRenderWithTheirTools: the consumer applications
// delivered as users run them. Flux: the render step renders the owner and
// the other repository's consumer (its state fetched by kustomize at the
// pinned commit), Flux's own build code (bin/flux-build) builds each
// Kustomization, and what Flux would apply for the ledger carries the labels
// `carousel advance` names it by (flux-system/ledger, as spec.consumers
// lists it) and the phase marker. Argo CD: the ApplicationSet over the apps
// and the owner's Application are accepted by a real API server with Argo
// CD's CRDs.
func TestMultiAppGitOpsObjectsRenderWithTheirTools(t *testing.T) {
	t.Parallel()
	m := newMultiApp(t)
	m.at(t, phases.TrustNew)
	out := t.TempDir()
	render(t, filepath.Join(m.dir, "flux", "render.conf"), out)
	flux := func(name, path, file string) []*yaml.RNode {
		t.Helper()
		b, err := fluxBuildFile(t, filepath.Join(m.dir, "flux", file), name, path)
		if err != nil {
			t.Fatalf("Flux's build of Kustomization %s: %v\n%s", name, err, err.(*exec.ExitError).Stderr)
		}
		return testkit.Parse(t, b)
	}
	flux("mesh-ca-material", filepath.Join(out, "mesh-ca", "material"), "platform.yaml")
	flux("mesh-ca-workloads", filepath.Join(out, "mesh-ca", "workloads"), "platform.yaml")
	ledger := append(flux("ledger", filepath.Join(out, "ledger", "material"), "ledger.yaml"),
		flux("ledger", filepath.Join(out, "ledger", "workloads"), "ledger.yaml")...)
	marked := 0
	for _, n := range ledger {
		obj, err := n.Map()
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{Object: obj}
		if got := fleetpkg.AppOf(u); got != "flux-system/ledger" {
			t.Errorf("%s %s/%s: Flux applies it as application %q, not flux-system/ledger", n.GetKind(), n.GetNamespace(), n.GetName(), got)
		}
		if p := n.GetAnnotations()["phase.carousel.dev/mesh-ca"]; p != "" {
			marked++
			if p != string(phases.TrustNew) {
				t.Errorf("%s %s/%s reports %s, the state is at trust-new", n.GetKind(), n.GetNamespace(), n.GetName(), p)
			}
		}
	}
	if marked < 3 {
		t.Fatalf("only %d objects of the ledger carry the phase marker", marked)
	}

	s := apiserver.Start(t)
	for _, crd := range []string{"application-crd.yaml", "applicationset-crd.yaml", "appproject-crd.yaml"} {
		s.Kubectl(t, "apply", "--server-side", "-f", testkit.Tool(t, crd))
	}
	s.WaitEstablished(t, "crd/applications.argoproj.io")
	s.WaitEstablished(t, "crd/applicationsets.argoproj.io")
	s.KubectlIn(t, []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: argocd}\n"), "apply", "--server-side", "-f", "-")
	if _, stderr, err := s.KubectlErr("apply", "--server-side", "--dry-run=server", "-f", filepath.Join(m.dir, "argocd", "applicationset.yaml")); err != nil {
		t.Fatalf("the ApplicationSet and Application are refused: %v\n%s", err, stderr)
	}
	// The ApplicationSet's git directories generator names each
	// Application after its directory: spec.consumers must list them.
	owner := loadRotation(t, filepath.Join(m.dir, "platform", "rotation", "carousel.yaml"))
	apps, _ := filepath.Glob(filepath.Join(m.dir, "apps", "*"))
	for _, a := range apps {
		if !slices.Contains(owner.Spec.Consumers, filepath.Base(a)) {
			t.Errorf("Application %s (apps/%s) is not in the owner's spec.consumers %v", filepath.Base(a), filepath.Base(a), owner.Spec.Consumers)
		}
	}
}
