package examples

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
)

// examples/linkerd claims four things the generic tests (goldens, apply,
// the Go handshake matrix) do not check: Linkerd's injector rules select
// exactly the meshed workloads, so an opted-out one is never touched and
// the meshed ones roll exactly when the anchors change; the chart's own
// trust-roots ConfigMap stays Helm's; the control plane rolls before the
// proxies; and proxies of adjacent phases keep talking, judged by a second
// TLS stack (openssl) as well as Go's.

// linkerdRestart is the restart annotation of the example's rotation.
const linkerdRestart = "carousel.dev/linkerd-trust-anchor"

type linkerdRef struct{ kind, namespace, name string }

func (r linkerdRef) String() string { return r.kind + " " + r.namespace + "/" + r.name }

var (
	// The control plane, in the order it must roll.
	linkerdControlPlane = []linkerdRef{
		{"Deployment", "linkerd", "linkerd-identity"},
		{"Deployment", "linkerd", "linkerd-destination"},
		{"Deployment", "linkerd", "linkerd-proxy-injector"},
	}
	// Meshed by the Namespace annotation (emojivoto) or the pod's own
	// (reports/report-api): no pod spec reference, only the rules.
	linkerdMeshed = []linkerdRef{
		{"Deployment", "emojivoto", "web"},
		{"Deployment", "emojivoto", "emoji"},
		{"Deployment", "emojivoto", "voting"},
		{"Deployment", "reports", "report-api"},
	}
	// vote-bot opts out (linkerd.io/inject: disabled in an enabled
	// Namespace); report-export is in a Namespace without injection.
	linkerdUnmeshed = []linkerdRef{
		{"Deployment", "emojivoto", "vote-bot"},
		{"CronJob", "reports", "report-export"},
	}
)

func linkerdDir(t *testing.T) string {
	return filepath.Join(testkit.Root(t), "examples", "linkerd")
}

func linkerdFind(t *testing.T, items []*yaml.RNode, r linkerdRef) *yaml.RNode {
	t.Helper()
	n := testkit.Find(items, r.kind, r.namespace, r.name)
	if n == nil {
		t.Fatalf("no %s", r)
	}
	return n
}

// restartOf reads a rotation's restart annotation (key) on a workload's pod
// template ("" when absent).
func restartOf(t *testing.T, n *yaml.RNode, key string) string {
	t.Helper()
	path := []string{"spec", "template", "metadata", "annotations", key}
	if n.GetKind() == "CronJob" {
		path = append([]string{"spec", "jobTemplate"}, path...)
	}
	v, err := n.Pipe(yaml.Lookup(path...))
	if err != nil {
		t.Fatal(err)
	}
	return yaml.GetValue(v)
}

// TestLinkerdOptedOutWorkloadsAreByteIdenticalInEveryPhase: a workload
// Linkerd does not mesh has no proxy and no anchors, so the rotation must
// leave it exactly as it is, in every phase.
func TestLinkerdOptedOutWorkloadsAreByteIdenticalInEveryPhase(t *testing.T) {
	t.Parallel()
	pkg := testkit.Load(t, linkerdDir(t))
	for _, phase := range pkg.Phases(t) {
		out := pkg.Render(t, phase).Items
		for _, r := range linkerdUnmeshed {
			in, got := linkerdFind(t, pkg.Items, r).MustString(), linkerdFind(t, out, r).MustString()
			if in != got {
				t.Errorf("%s: %s changed:\n%s", phase, r, testkit.Diff("input", "rendered", []byte(in), []byte(got)))
			}
		}
	}
}

// TestLinkerdMeshedWorkloadsRollExactlyWhenTrustChanges walks the phases
// forward: a meshed workload's (and a control-plane reader's) restart
// annotation changes exactly on a move that changes the trusted anchors.
// linkerd-identity also mounts the issuer, so it rolls when the issuer
// changes too (sign-new).
func TestLinkerdMeshedWorkloadsRollExactlyWhenTrustChanges(t *testing.T) {
	t.Parallel()
	pkg := testkit.Load(t, linkerdDir(t))
	scope := pkg.Rotation(t).Spec.Scope
	seq := pkg.Phases(t)
	renders := map[phases.Phase][]*yaml.RNode{}
	for _, p := range seq {
		renders[p] = pkg.Render(t, p).Items
	}
	identity := linkerdControlPlane[0]
	trustReaders := append(slices.Clone(linkerdControlPlane[1:]), linkerdMeshed...)
	rolled := 0
	for i := 1; i < len(seq); i++ {
		from, to := seq[i-1], seq[i]
		sf, _ := phases.Lookup(scope, from)
		st, _ := phases.Lookup(scope, to)
		trustChanged := !slices.Equal(sf.Trusted, st.Trusted)
		for _, r := range trustReaders {
			a, b := restartOf(t, linkerdFind(t, renders[from], r), linkerdRestart), restartOf(t, linkerdFind(t, renders[to], r), linkerdRestart)
			if (a != b) != trustChanged {
				t.Errorf("%s -> %s (trust changes: %v): %s restart annotation %q -> %q", from, to, trustChanged, r, a, b)
			}
			if a != b {
				rolled++
			}
		}
		a, b := restartOf(t, linkerdFind(t, renders[from], identity), linkerdRestart), restartOf(t, linkerdFind(t, renders[to], identity), linkerdRestart)
		if want := trustChanged || sf.Leaves != st.Leaves; (a != b) != want {
			t.Errorf("%s -> %s: %s restart annotation %q -> %q, want a roll: %v", from, to, identity, a, b, want)
		}
	}
	if rolled == 0 {
		t.Fatal("nothing rolled in the whole rotation: the test saw no annotation")
	}
}

// TestLinkerdChartConfigMapStaysHelms: the chart's
// linkerd-identity-trust-roots is taken over, not replaced: every label and
// annotation Helm and the chart put on it survives every phase, and
// ca-bundle.crt holds exactly the anchors the phase trusts.
func TestLinkerdChartConfigMapStaysHelms(t *testing.T) {
	t.Parallel()
	dir := linkerdDir(t)
	pkg := testkit.Load(t, dir)
	scope := pkg.Rotation(t).Spec.Scope
	cm := linkerdRef{"ConfigMap", "linkerd", "linkerd-identity-trust-roots"}
	in := linkerdFind(t, pkg.Items, cm)
	if in.GetLabels()["app.kubernetes.io/managed-by"] != "Helm" {
		t.Fatalf("the example's ConfigMap is no longer the chart's: labels %v", in.GetLabels())
	}
	anchor := caFingerprints(t, dir)
	for _, phase := range pkg.Phases(t) {
		out := pkg.Render(t, phase)
		got := linkerdFind(t, out.Items, cm)
		for _, m := range []struct {
			what    string
			in, got map[string]string
		}{{"label", in.GetLabels(), got.GetLabels()}, {"annotation", in.GetAnnotations(), got.GetAnnotations()}} {
			for k, v := range m.in {
				if m.got[k] != v {
					t.Errorf("%s: %s %s=%q became %q", phase, m.what, k, v, m.got[k])
				}
			}
		}
		v, _ := got.Pipe(yaml.Lookup("data", "ca-bundle.crt"))
		certs, err := pki.ParseCerts([]byte(yaml.GetValue(v)))
		if err != nil {
			t.Fatalf("%s: ca-bundle.crt: %v", phase, err)
		}
		var have, want []string
		for _, c := range certs {
			have = append(have, fmt.Sprintf("sha256:%x", sha256.Sum256(c.Raw)))
		}
		state, _ := phases.Lookup(scope, phase)
		for _, g := range state.Trusted {
			want = append(want, anchor[g])
		}
		slices.Sort(have)
		slices.Sort(want)
		if !slices.Equal(have, want) {
			t.Errorf("%s: ca-bundle.crt holds %v, the phase trusts %v", phase, have, want)
		}
		taken := false
		for _, r := range out.Results {
			taken = taken || (r.ResourceRef != nil && r.ResourceRef.Name == cm.name && strings.Contains(r.Message, "taken over"))
		}
		if !taken {
			t.Errorf("%s: no result says the ConfigMap was taken over: %v", phase, out.Results)
		}
	}
}

// TestLinkerdPlanRollsTheControlPlaneBeforeTheDataPlane asks `carousel plan
// -o json` of every phase for its next move: identity, destination and the
// proxy injector each roll in a wave of their own, in that order, before
// every meshed workload; the unmeshed never appear.
func TestLinkerdPlanRollsTheControlPlaneBeforeTheDataPlane(t *testing.T) {
	t.Parallel()
	dir := linkerdDir(t)
	pkg := testkit.Load(t, dir)
	seq := pkg.Phases(t)
	moves := 0
	for i, phase := range seq[:len(seq)-1] {
		wave, to := planWaves(t, dir, phase), seq[i+1]
		for _, r := range linkerdUnmeshed {
			if _, ok := wave[r.String()]; ok {
				t.Errorf("%s -> %s rolls %s, which Linkerd does not mesh", phase, to, r)
			}
		}
		last, ok := wave[linkerdControlPlane[len(linkerdControlPlane)-1].String()]
		if !ok {
			continue // a move that changes no trust: checked by the test above
		}
		moves++
		for i := 1; i < len(linkerdControlPlane); i++ {
			a, b := linkerdControlPlane[i-1].String(), linkerdControlPlane[i].String()
			if wa, ok := wave[a]; !ok || wa >= wave[b] {
				t.Errorf("%s -> %s: %s (wave %d, present %v) must roll before %s (wave %d)", phase, to, a, wa, ok, b, wave[b])
			}
		}
		for _, r := range linkerdMeshed {
			if w, ok := wave[r.String()]; !ok || w <= last {
				t.Errorf("%s -> %s: %s (wave %d, present %v) must roll after the control plane (wave %d)", phase, to, r, w, ok, last)
			}
		}
	}
	if moves != 2 {
		t.Fatalf("%d moves roll the control plane, want 2 (trust-new, distrust-old)", moves)
	}
}

// linkerdProxies issues, for every phase, a proxy certificate under that
// phase's decrypted identity issuer, as linkerd-identity does, presented
// with the issuer as its chain and trusting the phase's ca-bundle.crt.
func linkerdProxies(t *testing.T, pkg *testkit.Package) map[phases.Phase]meshProxy {
	t.Helper()
	rot := pkg.Rotation(t)
	out := map[phases.Phase]meshProxy{}
	for _, phase := range pkg.Phases(t) {
		items := pkg.Render(t, phase).Items
		var issuer *testkit.Leaf
		for _, l := range testkit.Leaves(t, rot, items, true) {
			if l.Name == "identity-issuer" {
				issuer = &l
			}
		}
		if issuer == nil {
			t.Fatalf("%s renders no identity issuer", phase)
		}
		cm := linkerdFind(t, items, linkerdRef{"ConfigMap", "linkerd", "linkerd-identity-trust-roots"})
		bundle, _ := cm.Pipe(yaml.Lookup("data", "ca-bundle.crt"))
		out[phase] = issueProxy(t, phase, "web.emojivoto.serviceaccount.identity.linkerd.cluster.local",
			issuer.Cert, issuer.Pair.PrivateKey, pki.EncodeCerts(issuer.Cert), []byte(yaml.GetValue(bundle)))
	}
	return out
}

// TestLinkerdProxiesHandshakeAcrossPhasesWithOpenSSL is the zero-downtime
// claim with a second TLS stack: for every pair of phases, a proxy of one
// serves (mutual TLS, its own anchors) and a proxy of the other connects
// (its anchors, its certificate); see opensslMatrix.
func TestLinkerdProxiesHandshakeAcrossPhasesWithOpenSSL(t *testing.T) {
	t.Parallel()
	pkg := testkit.Load(t, linkerdDir(t))
	opensslMatrix(t, pkg, linkerdProxies(t, pkg))
}

// planWaves runs `carousel plan -o json` on a copy of the package in dir at
// phase and returns the wave (its index in the plan) each object of the
// next move goes in, keyed "Kind namespace/name" for workloads.
func planWaves(t *testing.T, dir string, phase phases.Phase) map[string]int {
	t.Helper()
	tmp := t.TempDir()
	if err := os.CopyFS(tmp, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	testkit.SetPhase(t, tmp, phase)
	r := testkit.Cmd{BinOnPath: true, FixedClock: true}.Run(t, "plan", filepath.Join(tmp, "carousel.yaml"), "-o", "json")
	if r.Err != nil {
		t.Fatalf("%s: carousel plan: %v", phase, r.Err)
	}
	b := []byte(r.Stdout)
	var plan struct {
		Next struct {
			Waves []struct {
				Objects []string `json:"objects"`
			} `json:"waves"`
		} `json:"next"`
	}
	if err := json.Unmarshal(b, &plan); err != nil {
		t.Fatalf("%s: %v", phase, err)
	}
	wave := map[string]int{}
	for i, w := range plan.Next.Waves {
		for _, o := range w.Objects {
			wave[o] = i
		}
	}
	return wave
}
