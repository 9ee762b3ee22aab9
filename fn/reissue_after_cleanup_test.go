package fn

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carousel-dev/carousel/internal/testkit"
	mat "github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/rotate"
)

// TestALeafReissueRightAfterCleanupIsOneCommand: at the end of a CA
// rotation, `start --scope leaf` promotes the finished rotation (its new CA
// becomes the current one) and starts the leaf re-issue under that CA, in
// one command. Mid-rotation the scope still cannot change, and the refusal
// writes nothing.
func TestALeafReissueRightAfterCleanupIsOneCommand(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "carousel.yaml")
	if err := os.WriteFile(file, []byte(strings.Replace(bareRotation, "spec:\n", "spec:\n  phase: steady\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := testkit.Cmd{Dir: dir}
	cmd.Must(t, "init", "carousel.yaml", "--plaintext-keys")
	cmd.Must(t, "start", "carousel.yaml", "--plaintext-keys")
	newCA := materialOf(t, file).CA[phases.New].Cert()

	testkit.SetPhase(t, dir, phases.TrustNew)
	before := stateHash(t, dir)
	if r := cmd.Run(t, "start", "carousel.yaml", "--scope", "leaf", "--leaf", "webhook", "--plaintext-keys"); r.Code == 0 || !strings.Contains(r.Out, "between rotations") {
		t.Fatalf("mid-rotation, a scope change must be refused: %d\n%s", r.Code, r.Out)
	}
	if stateHash(t, dir) != before {
		t.Fatal("the refused start changed the package")
	}

	testkit.SetPhase(t, dir, phases.Cleanup)
	cmd.Must(t, "start", "carousel.yaml", "--scope", "leaf", "--leaf", "webhook", "--plaintext-keys")
	p, err := rotate.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if p.Rotation.Spec.Phase != phases.Steady || p.Rotation.Spec.Scope != phases.ScopeLeaf {
		t.Fatalf("after the one command: phase %s scope %s, want steady and leaf", p.Rotation.Spec.Phase, p.Rotation.Spec.Scope)
	}
	set := materialOf(t, file)
	if pki.Fingerprint(set.CA[phases.Old].Cert()) != pki.Fingerprint(newCA) {
		t.Fatal("the finished rotation's new CA is not the current one: nothing was promoted")
	}
	webhook := set.Leaves["webhook"]
	if _, ok := webhook[phases.New]; !ok || pki.Fingerprint(webhook[phases.New].Cert()) == pki.Fingerprint(webhook[phases.Old].Cert()) {
		t.Fatal("the webhook leaf was not re-issued")
	}
	if err := pki.CheckSignedBy(webhook[phases.New].Cert(), newCA); err != nil {
		t.Fatalf("the re-issued leaf is not signed by the promoted CA: %v", err)
	}
	// The leaf not named is carried forward as it is: the promoted
	// rotation's certificate, unchanged by the reissue phase.
	issuer := set.Leaves["issuer"]
	if pki.Fingerprint(issuer[phases.New].Cert()) != pki.Fingerprint(issuer[phases.Old].Cert()) {
		t.Fatal("--leaf webhook re-issued the issuer too")
	}
	if err := pki.CheckSignedBy(issuer[phases.Old].Cert(), newCA); err != nil {
		t.Fatalf("the issuer is not the promoted rotation's: %v", err)
	}
}

func materialOf(t *testing.T, file string) *mat.Set {
	t.Helper()
	p, err := rotate.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	set, err := p.Material()
	if err != nil {
		t.Fatal(err)
	}
	return set
}
