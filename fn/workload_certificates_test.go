package fn

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carousel-dev/carousel/internal/apiserver"
	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/status"
)

// TestTheMeshGateWaitsForWorkloadCertificatesOfTheNewSigner: Linkerd's
// proxies keep the workload certificate the identity issuer signed for its
// whole lifetime (24h), and nothing rolls them at sign-new (their trust is
// unchanged). On a cluster that rolls out for real, sign-new converges as
// far as rollouts go, yet status stays progressing, naming every meshed
// workload whose pods started before linkerd-identity signed with the new
// issuer (and not vote-bot, which opts out, nor identity itself), and
// advance to distrust-old refuses; with the clock past the lifetime it
// converges, and so it does at once when those workloads are restarted.
//
// It starts the real controllers on the package's shared API server, and so
// must run after the tests that play the controllers by hand
// (status_rollout_test.go): its file name sorts after theirs.
func TestTheMeshGateWaitsForWorkloadCertificatesOfTheNewSigner(t *testing.T) {
	s := apiserver.Start(t)
	s.StartControllers(t)
	dir := filepath.Join(t.TempDir(), "linkerd")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(testkit.Root(t), "examples", "linkerd"))); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "carousel.yaml")
	// The emojivoto ServiceAccounts the example leaves to the demo's own
	// manifests: without them the ServiceAccount admission refuses the pods.
	s.KubectlIn(t, []byte(`apiVersion: v1
kind: Namespace
metadata: {name: emojivoto}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: web, namespace: emojivoto}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: emoji, namespace: emojivoto}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: voting, namespace: emojivoto}
`), "apply", "-f", "-")
	// Other tests of the package's shared server ran Linkerd's control
	// plane from other manifests (other selectors): start from none.
	for _, ns := range []string{"linkerd", "emojivoto", "reports"} {
		s.Kubectl(t, "-n", ns, "delete", "deployments,cronjobs", "--all", "--ignore-not-found", "--wait=true")
	}
	wall := func() string { return time.Now().UTC().Format(time.RFC3339) }
	until := func(what string, done func(statusRun) bool) statusRun {
		t.Helper()
		var r statusRun
		s.Poll(t, what, func() (bool, string) {
			r = carouselStatusAt(t, s, file, wall())
			return done(r), fmt.Sprintf("exit %d %s", r.code, r.raw)
		})
		return r
	}

	testkit.SetPhase(t, dir, phases.TrustNew)
	applyRendered(t, s, dir)
	until("trust-new rolls out and converges", func(r statusRun) bool { return r.code == 0 })

	testkit.SetPhase(t, dir, phases.SignNew)
	applyRendered(t, s, dir)
	meshed := []string{"Deployment emojivoto/web", "Deployment emojivoto/emoji", "Deployment emojivoto/voting", "Deployment reports/report-api", "Deployment linkerd/linkerd-destination", "Deployment linkerd/linkerd-proxy-injector"}
	r := until("linkerd-identity rolls onto the new issuer", func(r statusRun) bool {
		return workload(r.report, "Deployment", "linkerd", "linkerd-identity").State == status.Converged && reasonsContain(r.report, "started before")
	})
	if r.code != 3 || r.report.Verdict != status.Progressing {
		t.Fatalf("proxies holding certificates of the old signer: want progressing (exit 3), got %d: %s", r.code, r.raw)
	}
	for _, w := range meshed {
		if !reasonsContain(r.report, w+": ") || !reasonsContain(r.report, "started before Deployment linkerd/linkerd-identity signed with the new CA") {
			t.Errorf("want %s named as started before the issuer switched: %s", w, r.raw)
		}
	}
	for _, w := range []string{"emojivoto/vote-bot", "Deployment linkerd/linkerd-identity: "} {
		if reasonsContain(r.report, w) {
			t.Errorf("%s holds no workload certificate of the old signer, yet is named: %s", w, r.raw)
		}
	}

	// advance to distrust-old is refused (wait: exit 3) and writes nothing.
	before, _ := os.ReadFile(file)
	adv := testkit.Cmd{Env: []string{"KUBECONFIG=" + s.Kubeconfig, NowEnv + "=" + wall()}}.Run(t, "advance", file)
	if adv.Code != 3 || !strings.Contains(adv.Out, "sign-new has not converged") {
		t.Fatalf("advance before the proxies hold certificates of the new signer: want exit 3, got %d:\n%s", adv.Code, adv.Out)
	}
	if after, _ := os.ReadFile(file); !bytes.Equal(before, after) {
		t.Fatal("a refused advance changed the spec")
	}

	// Once the lifetime has passed, every certificate from before was renewed.
	if r := carouselStatusAt(t, s, file, time.Now().Add(25*time.Hour).UTC().Format(time.RFC3339)); r.code != 0 {
		t.Fatalf("24h after the switch the gate must open: %d %s", r.code, r.raw)
	}

	// Or the meshed workloads restart now: their new proxies ask the new issuer.
	// Creation times are whole seconds, and the gate holds a pod of the same
	// second as the switch (it may have asked the old issuer): on a fast
	// machine the restart can land in that second, so start it in the next.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 50*time.Millisecond)))
	for _, w := range meshed {
		kind, name, _ := strings.Cut(w, " ")
		ns, dep, _ := strings.Cut(name, "/")
		s.Kubectl(t, "-n", ns, "rollout", "restart", strings.ToLower(kind)+"/"+dep)
	}
	t.Cleanup(func() {
		if t.Failed() {
			// What a stale pod's owner and timestamps say, to tell a slow
			// controller from a wrong gate.
			t.Logf("pods:\n%s", s.Kubectl(t, "get", "pods", "-A", "-o", "custom-columns=NS:.metadata.namespace,NAME:.metadata.name,CREATED:.metadata.creationTimestamp,DEL:.metadata.deletionTimestamp,OWNER:.metadata.ownerReferences[0].name,PHASE:.status.phase"))
			t.Logf("rs:\n%s", s.Kubectl(t, "get", "rs", "-A"))
		}
	})
	until("the restarted meshed workloads converge", func(r statusRun) bool { return r.code == 0 })
}
