package fn

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/carousel-dev/carousel/internal/handshake"
	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/rotate"
)

// TestEmergencyReplacesACompromisedCAAndNeverTrustsItAgain walks the
// emergency route (docs/phases.md, "Emergency: a compromised CA") with the
// real commands and kustomize: start refuses until a reviewer marks the
// CA compromised, printing the line; steady renders with a warning;
// replace distrusts the CA and re-issues every leaf in one phase; the
// handshake matrix of steady and replace pods, with Go and openssl, fails
// exactly where phases.Outages says and nowhere else; plan and the pull
// request print that matrix and say there is no rollback; advance --to,
// check and a hand edit all refuse a phase trusting the marked CA, and
// check refuses removing the mark.
func TestEmergencyReplacesACompromisedCAAndNeverTrustsItAgain(t *testing.T) {
	dir := renewalPackage(t, renewalRotation)
	now := time.Now().UTC().Truncate(time.Second)
	cmd := testkit.Cmd{Dir: dir, AgeKey: true, Env: []string{"CAROUSEL_NOW=" + now.Format(time.RFC3339)}}
	git := func(args ...string) {
		t.Helper()
		gitIn(t, dir, append([]string{"-c", "user.email=t@example.dev", "-c", "user.name=t"}, args...)...)
	}
	gitIn(t, dir, "init", "-q", "-b", "main")
	git("add", "-A")
	git("commit", "-qm", "steady")
	file := filepath.Join(dir, "carousel.yaml")
	before, _ := os.ReadFile(file)

	// No mark yet: start refuses, writes nothing, and prints the mark.
	r := cmd.Run(t, "start", "carousel.yaml", "--scope", "emergency", "--age", demoRecipient)
	m := regexp.MustCompile(`compromised:\n  - ([0-9a-f]{64})\n`).FindStringSubmatch(r.Out)
	if r.Code == 0 || m == nil || !strings.Contains(r.Out, "rotate with scope ca") {
		t.Fatalf("start --scope emergency on an unmarked CA must refuse, printing the mark: exit %d\n%s", r.Code, r.Out)
	}
	if after, _ := os.ReadFile(file); string(after) != string(before) {
		t.Fatal("the refused start changed the CARotation")
	}
	if _, err := os.Stat(filepath.Join(dir, "material", "ca-new.yaml")); err == nil {
		t.Fatal("the refused start wrote material")
	}
	fp := m[1]
	// Marks stay: one from an earlier compromise is there too.
	earlier := strings.Repeat("0e", 32)
	editRotationFile(t, dir, "spec:\n", "spec:\n  compromised:\n  - "+earlier+"\n  - "+fp+"\n")
	cmd.Must(t, "start", "carousel.yaml", "--scope", "emergency", "--age", demoRecipient)
	if b := cmd.Run(t, "build", "."); b.Code != 0 || !strings.Contains(b.Out, "is marked compromised and is still trusted at steady: advance to replace now") {
		t.Fatalf("steady of the emergency route must render with a warning naming the way out: exit %d\n%s", b.Code, b.Out)
	}
	git("add", "-A")
	git("commit", "-qm", "mark the CA compromised and start the emergency route")

	load := func() *rotate.Package {
		t.Helper()
		p, err := rotate.Load(file)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	at := now.Add(time.Hour)
	walk := map[phases.Phase]renewalPhase{phases.Steady: renewalPhaseOf(t, load().Rotation, phases.Steady, renderPackage(t, dir, at))}

	plan := cmd.Must(t, "plan", "carousel.yaml").Stdout
	for _, want := range []string{"Outage while it rolls out", "client \\ server", "steady           ok             FAILS", "replace          FAILS          ok"} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan does not print %q:\n%s", want, plan)
		}
	}
	pr := filepath.Join(t.TempDir(), "pr.md")
	cmd.Must(t, "advance", "carousel.yaml", "--no-cluster", "--out", pr)
	body, _ := os.ReadFile(pr)
	for _, want := range []string{"### Outage: what breaks, and for how long", "until `carousel status` says converged", "None: the emergency route has no rollback"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("the pull request does not say %q:\n%s", want, body)
		}
	}
	if p := load(); p.Rotation.Spec.Phase != phases.Replace {
		t.Fatalf("advance must move to replace, at %s", p.Rotation.Spec.Phase)
	}
	if plan := cmd.Must(t, "plan", "carousel.yaml").Stdout; !strings.Contains(plan, "== Rollback: none: the emergency route has no rollback") {
		t.Errorf("plan at replace must say there is no rollback:\n%s", plan)
	}
	walk[phases.Replace] = renewalPhaseOf(t, load().Rotation, phases.Replace, renderPackage(t, dir, at))
	git("add", "-A")
	git("commit", "-qm", "replace")

	t.Run("replace trusts only the new CA and serves leaves it signed", func(t *testing.T) {
		for _, set := range walk[phases.Replace].trusted {
			for _, c := range set {
				if pki.Fingerprint(c) == fp {
					t.Errorf("replace trusts the compromised CA")
				}
			}
		}
		if walk[phases.Replace].server.Cert.Leaf.Equal(walk[phases.Steady].server.Cert.Leaf) {
			t.Error("replace serves the leaf the compromised CA signed")
		}
	})

	t.Run("steady and replace pods fail exactly where the model says, with Go and openssl", func(t *testing.T) {
		outages, _ := phases.Outages(phases.ScopeEmergency, phases.Steady, phases.Replace)
		fails := map[[2]phases.Phase]bool{}
		for _, o := range outages {
			// Mutual TLS: either side refusing fails the pair.
			fails[[2]phases.Phase{o.Client, o.Server}] = true
			fails[[2]phases.Phase{o.Server, o.Client}] = true
		}
		for _, cl := range []phases.Phase{phases.Steady, phases.Replace} {
			for _, srv := range []phases.Phase{phases.Steady, phases.Replace} {
				want := !fails[[2]phases.Phase{cl, srv}]
				for j, c := range walk[cl].clients {
					goErr := handshake.Handshake(walk[srv].server, c, at)
					sslErr := handshake.OpenSSL(walk[srv].serverPeer, walk[cl].clientPeers[j], at)
					if (goErr == nil) != want || (sslErr == nil) != want {
						t.Errorf("%s against the %s server: Go %v, openssl %v; the model says handshake=%v", c.Name, srv, goErr, sslErr, want)
					}
				}
			}
		}
		if len(fails) == 0 {
			t.Fatal("the model names no outage: the matrix tries nothing that fails")
		}
	})

	t.Run("advance --to, check and a hand edit refuse going back to the compromised CA", func(t *testing.T) {
		r := cmd.Run(t, "advance", "carousel.yaml", "--to", "steady", "--no-cluster")
		if r.Code == 0 || !strings.Contains(r.Out, "would trust the compromised CA again") || load().Rotation.Spec.Phase != phases.Replace {
			t.Fatalf("advance --to steady must refuse: exit %d\n%s", r.Code, r.Out)
		}
		check := func() testkit.Result {
			t.Helper()
			return testkit.Cmd{Dir: dir, AgeKey: true, NoCluster: true, Env: cmd.Env}.Run(t, "check", "carousel.yaml", "--base", "main")
		}
		editRotationFile(t, dir, "phase: replace", "phase: steady")
		if r := check(); r.Code != exitRefused || !strings.Contains(r.Out, "REFUSED [one-step]") {
			t.Errorf("check of a hand edit back to steady must refuse (exit %d):\n%s", exitRefused, r.Out)
		}
		// The same edit under another scope: the render refuses it.
		editRotationFile(t, dir, "scope: emergency", "scope: ca")
		if b := cmd.Run(t, "build", "."); b.Code == 0 || !strings.Contains(b.Out, "which spec.compromised marks compromised: no phase may trust it again") || strings.Contains(b.Stdout, "kind: Secret") {
			t.Errorf("a phase trusting the marked CA must not render (exit %d):\n%s", b.Code, b.Out)
		}
		git("checkout", "-q", "--", "carousel.yaml")
		editRotationFile(t, dir, "  - "+fp+"\n", "")
		if r := check(); r.Code != exitRefused || !strings.Contains(r.Out, "REFUSED [compromised]") || !strings.Contains(r.Out, "no longer lists "+fp) {
			t.Errorf("check must refuse removing the mark (exit %d):\n%s", exitRefused, r.Out)
		}
		git("checkout", "-q", "--", "carousel.yaml")
		if r := check(); r.Code != 0 {
			t.Errorf("check of the committed replace must pass: exit %d\n%s", r.Code, r.Out)
		}
	})
}
