package fn

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// publishRepo is gitRepo with spec.publish set, the state published and
// committed with it as the base.
func publishRepo(t *testing.T, phase string) (repo, state string) {
	t.Helper()
	repo = gitRepo(t, phase)
	edit(t, repo, "carousel.yaml", "  phase: "+phase+"\n", "  phase: "+phase+"\n  publish: ../../state/cluster-ca.yaml\n")
	offline.Must(t, "publish", filepath.Join(repo, "clusters", "prod", "carousel.yaml"))
	gitIn(t, repo, "-c", "user.email=t@example.dev", "-c", "user.name=t", "add", "-A")
	gitIn(t, repo, "-c", "user.email=t@example.dev", "-c", "user.name=t", "commit", "-qm", "publish")
	return repo, filepath.Join(repo, "state", "cluster-ca.yaml")
}

func TestPublishWritesTheSameStateEveryTimeAndNoKey(t *testing.T) {
	repo, state := publishRepo(t, "sign-new")
	first, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	if r := offline.Run(t, "publish", filepath.Join(repo, "clusters", "prod", "carousel.yaml")); r.Err != nil || !strings.Contains(r.Stdout, "up to date") {
		t.Fatalf("a second publish of the same phase must change nothing: %v\n%s", r.Err, r.Out)
	}
	again, _ := os.ReadFile(state)
	if !bytes.Equal(first, again) {
		t.Fatal("the state differs between two publishes of the same phase")
	}
	for _, want := range []string{"kind: CARotationState", "phase: sign-new", "signer: new", "leaf:policy-webhook:", "ca:", "trust:", "BEGIN CERTIFICATE"} {
		if !strings.Contains(string(first), want) {
			t.Errorf("the state lacks %q:\n%s", want, first)
		}
	}
	for _, secret := range []string{"PRIVATE KEY", "ENC[", "sops"} {
		if strings.Contains(string(first), secret) {
			t.Errorf("the state holds %q: it must be public only", secret)
		}
	}
}

func TestCheckRefusesAStalePublishedState(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, repo, state string)
		stale  bool
	}{
		{"a phase move without a new state is refused", func(t *testing.T, repo, state string) { setPhaseLine(t, repo, "trust-new") }, true},
		{"a phase move with the state published again may merge", func(t *testing.T, repo, state string) {
			setPhaseLine(t, repo, "trust-new")
			offline.Must(t, "publish", filepath.Join(repo, "clusters", "prod", "carousel.yaml"))
		}, false},
		{"a hand-edited state is refused", func(t *testing.T, repo, state string) {
			b, _ := os.ReadFile(state)
			if err := os.WriteFile(state, bytes.Replace(b, []byte("phase: steady"), []byte("phase: trust-new"), 1), 0o644); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"a removed state is refused", func(t *testing.T, repo, state string) {
			if err := os.Remove(state); err != nil {
				t.Fatal(err)
			}
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			repo, state := publishRepo(t, "steady")
			tc.change(t, repo, state)
			out, code := runCheck(t, repo)
			refused := strings.Contains(out, "[published-state]")
			if refused != tc.stale || (tc.stale && code != 2) || (!tc.stale && code != 0) {
				t.Fatalf("want stale=%v, got exit %d:\n%s", tc.stale, code, out)
			}
		})
	}
}
