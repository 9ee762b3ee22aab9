package examples

import (
	"encoding/base64"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
)

// The Istio example's claim is that istiod accepts every phase's cacerts as
// its plug-in CA. Istio's own code judges that: bin/istio-cacerts
// (hack/systems/istio, a module of its own at a pinned istio.io/istio) loads
// the Secret with Istio's key-cert bundle and plug-in CA code, signs a
// workload certificate with it and verifies that against root-cert.pem.
//
// The Secrets it reads are what reaches the cluster: rendered by the real
// kustomize from the committed, encrypted material, then decrypted by the
// real sops, as Flux or ksops would. Rendering from plaintext material
// instead would need a second copy of the keys and would skip the path a
// user runs (encrypted ca-key.pem whose SOPS MAC must survive the render).

// TestIstioLoadsEveryPhasesCacerts runs Istio's plug-in CA loader on the
// cacerts Secret of every phase of examples/istio: each must load and sign a
// workload certificate that chains to the root the phase model says signs
// (old until sign-new, new from then on), and root-cert.pem must hold
// exactly the roots the phase trusts.
func TestIstioLoadsEveryPhasesCacerts(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(testkit.Root(t), "examples", "istio")
	cacerts := func(phase phases.Phase) *yaml.RNode { return istioCacerts(t, dir, phase) }
	loaderAcceptsEveryPhase(t, "istio-cacerts", dir, cacerts, func(phase phases.Phase, state phases.State, root map[phases.Generation]string, out string) {
		var trusted []string
		for _, g := range state.Trusted {
			trusted = append(trusted, root[g])
		}
		// The order of root-cert.pem is not Istio's concern: compare sets.
		slices.Sort(trusted)
		if got := istioLoaderRoots(out); !slices.Equal(got, trusted) {
			t.Fatalf("%s: root-cert.pem holds %v, the phase trusts %v (old root %s, new root %s):\n%s", phase, got, trusted, root[phases.Old], root[phases.New], out)
		}
		if want := "verifies for server and client auth up to root " + root[state.Signer] + "\n"; !strings.Contains(out, want) {
			t.Fatalf("%s: the loader says\n%s\nwant %q (old root %s, new root %s)", phase, out, want, root[phases.Old], root[phases.New])
		}
	})
}

// istioLoaderRoots reads the sorted root fingerprints of the loader's
// "root-cert.pem: N root(s): ..." line.
func istioLoaderRoots(out string) []string {
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, "root-cert.pem: "); ok {
			_, list, _ := strings.Cut(rest, "root(s): ")
			roots := strings.Fields(list)
			slices.Sort(roots)
			return roots
		}
	}
	return nil
}

// TestIstioRefusesABrokenCacerts feeds the loader cacerts Secrets that
// istiod must not accept, each made from the example's own phases: if the
// loader accepted one, the test above would prove nothing.
func TestIstioRefusesABrokenCacerts(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(testkit.Root(t), "examples", "istio")
	steady := istioCacerts(t, dir, phases.Steady)
	signNew := istioCacerts(t, dir, phases.SignNew)
	// The encrypted Secret, as rendered, before sops.
	encrypted := testkit.Find(testkit.Parse(t, testkit.Kustomize(t, dir, phases.SignNew)), "Secret", "istio-system", "cacerts")
	if encrypted == nil {
		t.Fatal("sign-new renders no istio-system/cacerts")
	}
	serverOnly := istioServerOnlyIntermediate(t, dir)
	loaderRefuses(t, "istio-cacerts", []loaderRefusal{
		{"a ca-key.pem of the other generation's intermediate is refused by Istio's key-cert bundle",
			withIstioKey(t, signNew, "ca-key.pem", steady), 1, "the cert does not match the key"},
		{"a root-cert.pem without the root that signed cert-chain.pem is refused by Istio's key-cert bundle",
			withIstioKey(t, signNew, "root-cert.pem", steady), 1, "cannot verify the cert with the provided root chain"},
		{"a cert-chain.pem of the other generation passes Istio's bundle check but its workload certificates do not verify",
			withIstioKey(t, signNew, "cert-chain.pem", steady), 1, "the workload certificate Istio signed does not verify"},
		{"an intermediate with carousel's default usages (server only) cannot sign a sidecar's client certificate",
			serverOnly, 1, "for client auth: x509: certificate specifies an incompatible key usage"},
		{"a Secret still SOPS-encrypted is unusable input, not a refusal",
			encrypted, 2, "still SOPS-encrypted"},
	})
}

// istioServerOnlyIntermediate makes the example's mistake a user makes
// first: the cacerts leaf with the default usages. It copies the package,
// makes fresh material with `carousel init --plaintext-keys` (throwaway keys
// in a temporary directory) and returns the steady phase's cacerts.
func istioServerOnlyIntermediate(t *testing.T, dir string) *yaml.RNode {
	t.Helper()
	return istioCacerts(t, remadeWith(t, dir, "    usages: [server, client]\n", ""), phases.Steady)
}

// istioCacerts is the istio-system/cacerts Secret of a phase, decrypted.
func istioCacerts(t *testing.T, dir string, phase phases.Phase) *yaml.RNode {
	t.Helper()
	return renderedSecret(t, dir, phase, "istio-system", "cacerts")
}

// withIstioKey returns a copy of s whose data key is the one of from.
func withIstioKey(t *testing.T, s *yaml.RNode, key string, from *yaml.RNode) *yaml.RNode {
	t.Helper()
	v, err := from.Pipe(yaml.Lookup("data", key))
	if err != nil || v == nil {
		t.Fatalf("data.%s: %v", key, err)
	}
	out := s.Copy()
	if err := out.PipeE(yaml.Lookup("data"), yaml.SetField(key, yaml.NewStringRNode(v.YNode().Value))); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestIstioInjectorRulesRollTheSidecarsAfterIstiodAndNeverTheOptedOut
// holds examples/istio to what its README says of its restart rules (Istio's
// injector rule set from docs/spec.md): loadgen (pod label
// sidecar.istio.io/inject: "false" in an istio-injection=enabled namespace)
// and tools/debug (no injection) are byte-identical to their input in every
// phase; the sidecars roll on exactly the moves that change the trusted
// roots; and `carousel plan` rolls istiod in an earlier wave than every one
// of them.
func TestIstioInjectorRulesRollTheSidecarsAfterIstiodAndNeverTheOptedOut(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(testkit.Root(t), "examples", "istio")
	pkg := testkit.Load(t, dir)
	scope := pkg.Rotation(t).Spec.Scope
	const restart = "carousel.dev/istio-mesh"
	istiod := linkerdRef{"Deployment", "istio-system", "istiod"}
	meshed := []linkerdRef{{"Deployment", "bookinfo", "productpage"}, {"Deployment", "bookinfo", "reviews"}, {"StatefulSet", "payments", "ledger"}}
	unmeshed := []linkerdRef{{"Deployment", "bookinfo", "loadgen"}, {"Deployment", "tools", "debug"}}
	seq := pkg.Phases(t)
	renders := map[phases.Phase][]*yaml.RNode{}
	for _, p := range seq {
		renders[p] = pkg.Render(t, p).Items
		for _, r := range unmeshed {
			if in, got := linkerdFind(t, pkg.Items, r).MustString(), linkerdFind(t, renders[p], r).MustString(); in != got {
				t.Errorf("%s: %s changed:\n%s", p, r, testkit.Diff("input", "rendered", []byte(in), []byte(got)))
			}
		}
	}
	for i := 1; i < len(seq); i++ {
		from, to := seq[i-1], seq[i]
		sf, _ := phases.Lookup(scope, from)
		st, _ := phases.Lookup(scope, to)
		trustChanged := !slices.Equal(sf.Trusted, st.Trusted)
		for _, r := range meshed {
			a, b := restartOf(t, linkerdFind(t, renders[from], r), restart), restartOf(t, linkerdFind(t, renders[to], r), restart)
			if (a != b) != trustChanged {
				t.Errorf("%s -> %s (trust changes: %v): %s restart annotation %q -> %q", from, to, trustChanged, r, a, b)
			}
		}
	}
	rolled := 0
	for _, phase := range seq[:len(seq)-1] {
		waves := planWaves(t, dir, phase)
		w0, ok := waves[istiod.String()]
		for _, r := range meshed {
			w, in := waves[r.String()]
			if !in {
				continue
			}
			rolled++
			if !ok || w0 >= w {
				t.Errorf("%s: %s rolls in wave %d, istiod in wave %d (present %v): istiod must roll first", phase, r, w, w0, ok)
			}
		}
		for _, r := range unmeshed {
			if _, in := waves[r.String()]; in {
				t.Errorf("%s: the plan rolls %s, which Istio does not inject", phase, r)
			}
		}
	}
	if rolled != 2*len(meshed) {
		t.Fatalf("the sidecars roll %d times in the plans, want %d (trust-new and distrust-old)", rolled, 2*len(meshed))
	}
}

// istioSidecars issues, for every phase, a workload certificate under the
// phase's cacerts intermediate, as istiod does with its plug-in CA: presented
// with cert-chain.pem after it (istiod appends it to every certificate it
// signs) and trusting root-cert.pem (what istiod publishes as
// istio-ca-root-cert and the sidecar verifies peers against).
func istioSidecars(t *testing.T, pkg *testkit.Package) map[phases.Phase]meshProxy {
	t.Helper()
	rot := pkg.Rotation(t)
	out := map[phases.Phase]meshProxy{}
	for _, phase := range pkg.Phases(t) {
		var cacerts *testkit.Leaf
		for _, l := range testkit.Leaves(t, rot, pkg.Render(t, phase).Items, true) {
			if l.Name == "cacerts" {
				cacerts = &l
			}
		}
		if cacerts == nil {
			t.Fatalf("%s renders no cacerts", phase)
		}
		field := func(key string) []byte {
			v, _ := cacerts.Secret.Pipe(yaml.Lookup("data", key))
			if v == nil {
				t.Fatalf("%s: cacerts has no %s", phase, key)
			}
			b, err := base64.StdEncoding.DecodeString(yaml.GetValue(v))
			if err != nil {
				t.Fatalf("%s: cacerts %s: %v", phase, key, err)
			}
			return b
		}
		out[phase] = issueProxy(t, phase, "reviews.bookinfo.svc.cluster.local",
			cacerts.Cert, cacerts.Pair.PrivateKey, field("cert-chain.pem"), field("root-cert.pem"))
	}
	return out
}

// TestIstioSidecarsHandshakeAcrossPhasesWithOpenSSL: sidecars whose
// certificates istiod signed with adjacent phases' cacerts keep talking
// (mutual TLS, openssl on both sides), and steady and sign-new sidecars do
// not, so the harness can see a break.
func TestIstioSidecarsHandshakeAcrossPhasesWithOpenSSL(t *testing.T) {
	t.Parallel()
	pkg := testkit.Load(t, filepath.Join(testkit.Root(t), "examples", "istio"))
	opensslMatrix(t, pkg, istioSidecars(t, pkg))
}
