package fn

import (
	"crypto/x509"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carousel-dev/carousel/internal/apiserver"
	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/status"
)

// meshCluster is a cluster's package of a shared root: its own CA and
// issuer, trusted through a bundle in namespace mesh; nothing to roll, so
// a cluster converges as soon as its phase is applied.
const meshCluster = `apiVersion: carousel.dev/v1alpha1
kind: CARotation
metadata:
  name: mesh
spec:
  sharedRoot: ../root/carousel.yaml
  phase: steady
  ca:
    commonName: root.mesh
  leaves:
  - name: issuer
    secret: {name: issuer, namespace: mesh}
    isCA: true
    usages: [server, client]
  bundles:
  - {name: mesh-trust, namespaces: [mesh]}
`

const meshRoot = `apiVersion: carousel.dev/v1alpha1
kind: CARotation
metadata:
  name: root
spec:
  ca:
    commonName: root
  clusters:
  - {name: east, rotation: ../east/carousel.yaml, context: east}
  - {name: west, rotation: ../west/carousel.yaml, context: west}
  - {name: south, rotation: ../south/carousel.yaml, context: south}
`

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
	}
	return kc
}

// applyIn applies the phase the package in dir renders to a cluster of
// the kubeconfig, with server-side apply.
func applyIn(t *testing.T, kubeconfig, context, dir string) {
	t.Helper()
	cmd := exec.Command(testkit.Tool(t, "kubectl"), "--kubeconfig", kubeconfig, "--context", context, "apply", "--server-side", "--force-conflicts", "--field-manager=test", "-f", "-")
	cmd.Stdin = strings.NewReader(testkit.String(testkit.Parse(t, testkit.KustomizeDir(t, dir))))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("applying %s in %s: %v\n%s", dir, context, err, out)
	}
}

// TestAdvanceMovesAClusterOnlyWithinTheFleetWindow walks three clusters of
// a shared root, each a real API server, through the fleet window with
// `carousel advance` (docs/fleet.md): a cluster may not move on while a
// peer is behind it or, at its phase, has not converged, and the refusal
// names the peer; once the peers caught up and converged it moves. advance
// asks each cluster in the context the root names for it. status on the
// root shows every cluster's verdict and blocks on clusters two phases
// apart.
func TestAdvanceMovesAClusterOnlyWithinTheFleetWindow(t *testing.T) {
	kc := threeClusters(t)
	repo := t.TempDir()
	cmd := testkit.Cmd{FixedClock: true, Env: []string{"KUBECONFIG=" + kc}}
	file := func(name string) string { return filepath.Join(repo, name, "carousel.yaml") }
	for _, name := range []string{"root", "east", "west", "south"} {
		if err := os.MkdirAll(filepath.Join(repo, name), 0o755); err != nil {
			t.Fatal(err)
		}
		text := meshCluster
		if name == "root" {
			text = meshRoot
		}
		if err := os.WriteFile(file(name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if name == "root" {
			continue
		}
		cmd.Must(t, "init", file(name), "--plaintext-keys")
		cmd.Must(t, "start", file(name), "--plaintext-keys")
		applyIn(t, kc, name, filepath.Join(repo, name))
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

	// Every cluster converged at steady: east moves first.
	if r := advance("east"); r.Code != 0 || phaseOf("east") != "trust-new" {
		t.Fatalf("east, its peers converged at steady, must move to trust-new: exit %d, at %s\n%s", r.Code, phaseOf("east"), r.Out)
	}
	applyIn(t, kc, "east", filepath.Join(repo, "east"))

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
	for _, name := range []string{"west", "south"} {
		if r := advance(name); r.Code != 0 || phaseOf(name) != "trust-new" {
			t.Fatalf("%s, one phase behind east, must catch up: exit %d\n%s", name, r.Code, r.Out)
		}
	}
	applyIn(t, kc, "south", filepath.Join(repo, "south"))
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

	// west converges: east moves on.
	applyIn(t, kc, "west", filepath.Join(repo, "west"))
	if r := advance("east"); r.Code != 0 || phaseOf("east") != "sign-new" {
		t.Fatalf("east, its peers converged at trust-new, must move to sign-new: exit %d, at %s\n%s", r.Code, phaseOf("east"), r.Out)
	}

	// Back is held too: west may not roll back to steady while east is at
	// sign-new (east's new leaves would meet steady's trust).
	if r := cmd.Run(t, "advance", file("west"), "--to", "steady"); r.Code != exitWait || !strings.Contains(r.Out, "east is at sign-new") || phaseOf("west") != "trust-new" {
		t.Fatalf("west's rollback two phases from east must be refused (exit %d), naming east:\n%s", exitWait, r.Out)
	}

	// status on the root asks every cluster in its context: east's
	// sign-new is merged, not applied.
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
	if r := fleetStatus(); r.Code != exitWait || fr.Verdict != status.Progressing || len(fr.Clusters) != 3 ||
		fr.Clusters[0].Name != "east" || fr.Clusters[0].Phase != "sign-new" || fr.Clusters[0].Report.Verdict != status.Progressing ||
		fr.Clusters[1].Report.Verdict != status.Converged || fr.Window != "" {
		t.Fatalf("the root's status must be progressing on east alone: exit %d\n%s", r.Code, r.Out)
	}
	applyIn(t, kc, "east", filepath.Join(repo, "east"))
	if r := fleetStatus(); r.Code != 0 || fr.Verdict != status.Converged {
		t.Fatalf("every cluster applied: the root's status must be converged: exit %d\n%s", r.Code, r.Out)
	}
	text := cmd.Run(t, "status", file("root")).Out
	for _, want := range []string{"CLUSTER  CONTEXT  PHASE      VERDICT", "east     east     sign-new   converged", "south    south    trust-new  converged", "fleet window: every group within one phase"} {
		if !strings.Contains(text, want) {
			t.Errorf("the root's status table lacks %q:\n%s", want, text)
		}
	}

	// A hand edit put south back at steady, applied: two phases from east.
	b, _ := os.ReadFile(file("south"))
	if err := os.WriteFile(file("south"), phaseRe.ReplaceAll(b, []byte("  phase: steady")), 0o644); err != nil {
		t.Fatal(err)
	}
	applyIn(t, kc, "south", filepath.Join(repo, "south"))
	if r := fleetStatus(); r.Code != exitRefused || fr.Verdict != status.Blocked || !strings.Contains(fr.Window, "south is at steady, east at sign-new") {
		t.Fatalf("clusters two phases apart must block the root's status (exit %d), naming them: exit %d\n%s", exitRefused, r.Code, r.Out)
	}
}
