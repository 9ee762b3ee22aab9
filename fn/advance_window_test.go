package fn

import (
	"crypto/x509"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/kyaml/yaml"
	k8syaml "sigs.k8s.io/yaml"

	"github.com/carousel-dev/carousel/internal/apiserver"
	"github.com/carousel-dev/carousel/internal/handshake"
	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/spec"
	"github.com/carousel-dev/carousel/pkg/status"
)

// threeClusters starts the suite's API server and two siblings (each its
// own cluster: its own etcd prefix) and returns a kubeconfig with a
// context per cluster, east, west and south, all with the admin user.
func threeClusters(t *testing.T) string {
	t.Helper()
	s := apiserver.Start(t)
	pki := filepath.Join(s.Dir, "pki")
	ca, err := os.ReadFile(filepath.Join(pki, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	urls := map[string]string{"east": s.URL}
	for _, name := range []string{"west", "south"} {
		urls[name] = s.Sibling(t, filepath.Join(pki, "ca.crt"), filepath.Join(pki, "apiserver.crt"), filepath.Join(pki, "apiserver.key"), roots)
	}
	kc := filepath.Join(t.TempDir(), "fleet.kubeconfig")
	kubectl := func(args ...string) {
		t.Helper()
		out, err := exec.Command(testkit.Tool(t, "kubectl"), append([]string{"--kubeconfig", kc}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %v: %v\n%s", args, err, out)
		}
	}
	kubectl("config", "set-credentials", "admin", "--client-certificate", filepath.Join(pki, "admin.crt"), "--client-key", filepath.Join(pki, "admin.key"), "--embed-certs")
	for name, url := range urls {
		kubectl("config", "set-cluster", name, "--server", url, "--certificate-authority", filepath.Join(pki, "ca.crt"), "--embed-certs")
		kubectl("config", "set-context", name, "--cluster", name, "--user", "admin")
		kubectl("--context", name, "create", "namespace", "mesh")
		kubectl("--context", name, "create", "namespace", "istio-system")
	}
	return kc
}

// applyIn applies the phase the package in dir renders to a cluster of
// the kubeconfig, with server-side apply, its Secrets decrypted with the
// cluster's identity, as Flux or a repo-server with that key would.
func applyIn(t *testing.T, kubeconfig, context, dir, identity string) {
	t.Helper()
	var objs []*yaml.RNode
	for _, n := range testkit.Parse(t, testkit.KustomizeDir(t, dir)) {
		if n.Field("sops") != nil {
			plain, err := testkit.DecryptAs(t, identity, []byte(n.MustString()))
			if err != nil {
				t.Fatalf("decrypting %s/%s with %s's identity: %v\n%s", n.GetNamespace(), n.GetName(), context, err, plain)
			}
			if n, err = yaml.Parse(string(plain)); err != nil {
				t.Fatal(err)
			}
		}
		objs = append(objs, n)
	}
	cmd := exec.Command(testkit.Tool(t, "kubectl"), "--kubeconfig", kubeconfig, "--context", context, "apply", "--server-side", "--force-conflicts", "--field-manager=test", "-f", "-")
	cmd.Stdin = strings.NewReader(testkit.String(objs))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("applying %s in %s: %v\n%s", dir, context, err, out)
	}
}

// TestAdvanceMovesAClusterOnlyWithinTheFleetWindow walks three clusters of
// a shared root (each a real API server; each cluster's intermediate signed
// by the root's owner, sharedRootFleet) through the root's whole rotation
// with `carousel advance`, cluster by cluster, with a staggered sign-new
// (docs/fleet.md): a cluster may not move on while a peer is behind it or,
// at its phase, has not converged, and the refusal names the peer; once
// the peers caught up and converged it moves. advance asks each cluster in
// the context the root names for it. At every state the walk reaches,
// every pair of clusters completes mutual TLS with what their committed
// phases render. status on the root shows every cluster's verdict and
// blocks on clusters two phases apart.
func TestAdvanceMovesAClusterOnlyWithinTheFleetWindow(t *testing.T) {
	kc := threeClusters(t)
	names := []string{"east", "west", "south"}
	repo, ids := sharedRootFleet(t, names...)
	cmd := testkit.Cmd{Env: []string{"KUBECONFIG=" + kc}}
	file := func(name string) string { return filepath.Join(repo, name, "carousel.yaml") }
	apply := func(name string) { t.Helper(); applyIn(t, kc, name, filepath.Join(repo, name), ids[name]) }
	for _, name := range names {
		apply(name)
	}
	phaseOf := func(name string) string {
		b, _ := os.ReadFile(file(name))
		m := phaseRe.Find(b)
		return strings.TrimSpace(strings.TrimPrefix(string(m), "  phase:"))
	}
	advance := func(name string) testkit.Result {
		t.Helper()
		return cmd.Run(t, "advance", file(name))
	}
	// moved advances a cluster that must move, applies its new phase to
	// its cluster, and holds every pair of clusters to mutual TLS at the
	// phases the repository now holds.
	moved := func(name, to string) {
		t.Helper()
		if r := advance(name); r.Code != 0 || phaseOf(name) != to {
			t.Fatalf("%s must move to %s: exit %d, at %s\n%s", name, to, r.Code, phaseOf(name), r.Out)
		}
		apply(name)
		at := map[string]clusterPhase{}
		for _, n := range names {
			at[n] = renderCluster(t, filepath.Join(repo, n), ids[n], phases.Phase(phaseOf(n)))
		}
		for _, a := range names {
			for _, b := range names {
				if a == b {
					continue
				}
				client := at[b].cert
				err := handshake.Handshake(
					handshake.Server{Name: a, Cert: at[a].cert, ServerDNS: "workload." + a + ".mesh", ClientCAs: at[a].roots},
					handshake.Client{Name: b, Roots: at[b].roots, Cert: &client}, time.Now())
				if err != nil {
					t.Errorf("after %s moved to %s: %s (at %s) serving %s (at %s) fails: %v", name, to, a, phaseOf(a), b, phaseOf(b), err)
				}
			}
		}
	}

	// rootAt advances the shared root, which records the phase every
	// cluster has reached, and checks the state it publishes says so.
	rootAt := func(to string) {
		t.Helper()
		if r := advance("root"); r.Code != 0 || phaseOf("root") != to {
			t.Fatalf("the root must record %s: exit %d, at %s\n%s", to, r.Code, phaseOf("root"), r.Out)
		}
		if b, _ := os.ReadFile(filepath.Join(repo, "state", "root.yaml")); !strings.Contains(string(b), "  phase: "+to+"\n") {
			t.Fatalf("the root's published state must say %s:\n%s", to, b)
		}
	}

	// Every cluster converged at steady: east moves first.
	moved("east", "trust-new")

	// The root records the phase every cluster has reached: not trust-new.
	if r := advance("root"); r.Code != exitWait || !strings.Contains(r.Out, "west is at steady") || !strings.Contains(r.Out, "south is at steady") || phaseOf("root") != "steady" {
		t.Fatalf("the root must not record trust-new while west and south are at steady (exit %d), naming them:\n%s", exitWait, r.Out)
	}

	// Its peers are at steady: east may not go on to sign-new, whose
	// leaves they do not trust.
	r := advance("east")
	if r.Code != exitWait || !strings.Contains(r.Out, "west is at steady") || !strings.Contains(r.Out, "south is at steady") || phaseOf("east") != "trust-new" {
		t.Fatalf("east two phases ahead of west and south must be refused (exit %d), naming both, and stay at trust-new (at %s):\n%s", exitWait, phaseOf("east"), r.Out)
	}
	// Without a cluster the peers' phases still count: they are the
	// repository's.
	if r := cmd.Run(t, "advance", file("east"), "--no-cluster"); r.Code != exitWait || !strings.Contains(r.Out, "west is at steady") || phaseOf("east") != "trust-new" {
		t.Fatalf("advance --no-cluster must still refuse a peer two phases behind (exit %d):\n%s", exitWait, r.Out)
	}

	// west and south follow; west's phase is merged but not applied yet.
	if r := advance("west"); r.Code != 0 || phaseOf("west") != "trust-new" {
		t.Fatalf("west, one phase behind east, must catch up: exit %d\n%s", r.Code, r.Out)
	}
	moved("south", "trust-new")
	r = advance("east")
	if r.Code != exitWait || !strings.Contains(r.Out, "west has not converged at trust-new") || strings.Contains(r.Out, "south has not converged") || phaseOf("east") != "trust-new" {
		t.Fatalf("east must wait for west to converge at trust-new (exit %d), naming west alone:\n%s", exitWait, r.Out)
	}

	// --no-cluster cannot ask west: the pull request says so (and east
	// goes back, as a reviewer would revert it).
	pr := filepath.Join(t.TempDir(), "pr.md")
	if r := cmd.Run(t, "advance", file("east"), "--no-cluster", "--out", pr); r.Code != 0 {
		t.Fatalf("advance --no-cluster must write the pull request: exit %d\n%s", r.Code, r.Out)
	}
	if body, _ := os.ReadFile(pr); !strings.Contains(string(body), "The fleet window did not ask whether west, south, at trust-new, converged there") {
		t.Fatalf("the pull request must say the peers' convergence was not checked:\n%s", body)
	}
	cmd.Must(t, "advance", file("east"), "--to", "trust-new", "--no-cluster")

	// Nor while west, merged at trust-new, has not converged there.
	if r := advance("root"); r.Code != exitWait || !strings.Contains(r.Out, "west is progressing at trust-new") || phaseOf("root") != "steady" {
		t.Fatalf("the root must wait for west to converge at trust-new (exit %d):\n%s", exitWait, r.Out)
	}

	// status --wait on the root polls every cluster: west, merged and not
	// applied, keeps it progressing until the timeout; applied, it
	// converges.
	if r := cmd.Run(t, "status", file("root"), "--wait", "--timeout", "3s"); r.Code != exitWait || !strings.Contains(r.Out, "west     west     trust-new  progressing") {
		t.Fatalf("status --wait on the root must time out progressing while west has not converged (exit %d):\n%s", exitWait, r.Out)
	}
	// west converges: a staggered sign-new, east first, the others after.
	apply("west")
	if r := cmd.Run(t, "status", file("root"), "--wait", "--timeout", "1m"); r.Code != 0 {
		t.Fatalf("status --wait on the root must say converged once west is applied: exit %d\n%s", r.Code, r.Out)
	}
	moved("east", "sign-new")

	// Back is held too: west may not roll back to steady while east is at
	// sign-new (east's new leaves would meet steady's trust).
	if r := cmd.Run(t, "advance", file("west"), "--to", "steady"); r.Code != exitWait || !strings.Contains(r.Out, "east is at sign-new") || phaseOf("west") != "trust-new" {
		t.Fatalf("west's rollback two phases from east must be refused (exit %d), naming east:\n%s", exitWait, r.Out)
	}
	// east may not distrust the old root while a peer still signs with it.
	if r := advance("east"); r.Code != exitWait || !strings.Contains(r.Out, "west is at trust-new") || phaseOf("east") != "sign-new" {
		t.Fatalf("east must wait at sign-new for its peers (exit %d):\n%s", exitWait, r.Out)
	}
	// Every cluster reached trust-new and converged (east beyond it).
	rootAt("trust-new")
	moved("west", "sign-new")
	moved("south", "sign-new")
	rootAt("sign-new")

	// status on the root asks every cluster in its context.
	var fr status.FleetReport
	fleetStatus := func() testkit.Result {
		t.Helper()
		r := cmd.Run(t, "status", file("root"), "-o", "json")
		fr = status.FleetReport{}
		if err := json.Unmarshal([]byte(r.Stdout), &fr); err != nil {
			t.Fatalf("status -o json on the root is not JSON (exit %d): %v\n%s", r.Code, err, r.Out)
		}
		return r
	}
	if r := fleetStatus(); r.Code != 0 || fr.Verdict != status.Converged || len(fr.Clusters) != 3 || fr.Clusters[0].Name != "east" || fr.Clusters[0].Phase != "sign-new" || fr.Window != "" {
		t.Fatalf("every cluster applied at sign-new: the root's status must be converged: exit %d\n%s", r.Code, r.Out)
	}
	text := cmd.Run(t, "status", file("root")).Out
	for _, want := range []string{"CLUSTER  CONTEXT  PHASE     VERDICT", "east     east     sign-new  converged", "fleet window: every group within one phase"} {
		if !strings.Contains(text, want) {
			t.Errorf("the root's status table lacks %q:\n%s", want, text)
		}
	}

	// The rest of the rotation, one cluster at a time.
	for _, to := range []string{"distrust-old", "cleanup"} {
		for _, name := range names {
			moved(name, to)
		}
		rootAt(to)
	}
	// At cleanup the root's state holds the new root alone, and every
	// cluster, trusting it alone, still renders from that state.
	var st spec.CARotationState
	b, _ := os.ReadFile(filepath.Join(repo, "state", "root.yaml"))
	if err := k8syaml.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	if strings.Count(st.Spec.Roots, "BEGIN CERTIFICATE") != 1 || st.Spec.Roots != st.Spec.Trusted {
		t.Fatalf("the root's state at cleanup must hold the new root alone, the one it trusts:\n%s", b)
	}
	for _, n := range names {
		renderCluster(t, filepath.Join(repo, n), ids[n], phases.Cleanup)
	}
	if r := fleetStatus(); r.Code != 0 || fr.Verdict != status.Converged {
		t.Fatalf("every cluster applied at cleanup: the root's status must be converged: exit %d\n%s", r.Code, r.Out)
	}

	// A cluster cannot roll back behind the root: advance refuses, and so
	// does its render after a hand edit.
	if r := cmd.Run(t, "advance", file("south"), "--to", "distrust-old"); r.Code == 0 || !strings.Contains(r.Out, "distrust-old is behind the shared root's phase cleanup") || phaseOf("south") != "cleanup" {
		t.Fatalf("south's rollback behind the root must be refused: exit %d\n%s", r.Code, r.Out)
	}
	b, _ = os.ReadFile(file("south"))
	if err := os.WriteFile(file("south"), phaseRe.ReplaceAll(b, []byte("  phase: distrust-old")), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := cmd.Run(t, "build", filepath.Join(repo, "south")); r.Code == 0 || !strings.Contains(r.Out, "distrust-old is behind the shared root mesh-root, at cleanup") {
		t.Fatalf("south behind the root must not render: exit %d\n%s", r.Code, r.Out)
	}
	// The root moves back first (a rollback, not held), one phase at a
	// time; then a hand edit puts south back at sign-new,
	// applied: two phases from east, and the root's status blocks.
	cmd.Must(t, "advance", file("root"), "--to", "distrust-old")
	cmd.Must(t, "advance", file("root"), "--to", "sign-new")
	if err := os.WriteFile(file("south"), phaseRe.ReplaceAll(b, []byte("  phase: sign-new")), 0o644); err != nil {
		t.Fatal(err)
	}
	apply("south")
	if r := fleetStatus(); r.Code != exitRefused || fr.Verdict != status.Blocked || !strings.Contains(fr.Window, "south is at sign-new, east at cleanup") {
		t.Fatalf("clusters two phases apart must block the root's status (exit %d), naming them: exit %d\n%s", exitRefused, r.Code, r.Out)
	}
}
