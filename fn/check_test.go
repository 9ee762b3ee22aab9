package fn

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/carousel-dev/carousel/internal/testkit"
)

// gitRepo makes a real git repository holding the cluster-ca example at
// phase, committed as the base.
func gitRepo(t *testing.T, phase string) string {
	t.Helper()
	repo := t.TempDir()
	pkg := filepath.Join(repo, "clusters", "prod")
	if err := os.MkdirAll(pkg, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(pkg, os.DirFS(filepath.Join(testkit.Root(t), "examples", "cluster-ca"))); err != nil {
		t.Fatal(err)
	}
	setPhaseLine(t, repo, phase)
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"-c", "user.email=t@example.dev", "-c", "user.name=t", "add", "-A"},
		{"-c", "user.email=t@example.dev", "-c", "user.name=t", "commit", "-qm", "base"},
	} {
		gitIn(t, repo, args...)
	}
	return repo
}

func gitIn(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v %s", args, err, out)
	}
}

var phaseRe = regexp.MustCompile(`(?m)^  phase: \S+`)

func setPhaseLine(t *testing.T, repo, phase string) {
	t.Helper()
	f := filepath.Join(repo, "clusters", "prod", "carousel.yaml")
	b, _ := os.ReadFile(f)
	if err := os.WriteFile(f, phaseRe.ReplaceAll(b, []byte("  phase: "+phase)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func edit(t *testing.T, repo, file, old, new string) {
	t.Helper()
	f := filepath.Join(repo, "clusters", "prod", file)
	b, _ := os.ReadFile(f)
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not contain %q", file, old)
	}
	if err := os.WriteFile(f, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func runCheck(t *testing.T, repo string, extra ...string) (string, int) {
	t.Helper()
	args := append([]string{"check", filepath.Join(repo, "clusters", "prod", "carousel.yaml"), "--base", "main"}, extra...)
	// With the examples' identity: the keys are compared, in CI or not.
	r := testkit.Cmd{FixedClock: true, NoCluster: true, AgeKey: true}.Run(t, args...)
	return r.Out, r.Code
}

func TestCheckRefusesWhatBreaksTheModel(t *testing.T) {
	tests := []struct {
		name   string
		base   string
		change func(t *testing.T, repo string)
		rule   string // "" means the change may merge
		says   string
	}{
		{"one step forward may merge", "steady", func(t *testing.T, repo string) { setPhaseLine(t, repo, "trust-new") }, "", ""},
		// sign-new's step before is trust-new's last, in-cluster-config.
		{"one step back may merge", "sign-new", func(t *testing.T, repo string) { setPhaseLine(t, repo, "trust-new\n  step: in-cluster-config") }, "", ""},
		{"the next step of a phase may merge", "trust-new", func(t *testing.T, repo string) { setPhaseLine(t, repo, "trust-new\n  step: in-cluster-config") }, "", ""},
		{"a skipped step is refused", "trust-new", func(t *testing.T, repo string) { setPhaseLine(t, repo, "sign-new") }, "one-step", "skips trust-new/in-cluster-config"},
		{"a skipped phase is refused", "steady", func(t *testing.T, repo string) { setPhaseLine(t, repo, "sign-new") }, "one-step", "skips trust-new"},
		{"a skipped rollback is refused", "distrust-old", func(t *testing.T, repo string) { setPhaseLine(t, repo, "trust-new") }, "one-step", "skips sign-new"},
		// The render at steady would put the old CA, distrusted since
		// distrust-old, back as the only trusted and signing one.
		{"a rotation ended by editing spec.phase is refused", "cleanup", func(t *testing.T, repo string) { setPhaseLine(t, repo, "steady") }, "one-step", "moved from cleanup to steady by hand: nothing was promoted"},
		{"a rotation ended by carousel start may merge", "cleanup", func(t *testing.T, repo string) {
			testkit.Cmd{FixedClock: true, AgeKey: true}.Must(t, "start", filepath.Join(repo, "clusters", "prod", "carousel.yaml"), "--age", demoRecipient)
		}, "", ""},
		{"a phase moved by hand without its start is refused when the rotation renders alerts", "steady", func(t *testing.T, repo string) {
			withAlertsInBase(t, repo)
			setPhaseLine(t, repo, "trust-new")
		}, "one-step", "spec.phaseSince did not"},
		{"a phase moved by carousel advance with alerts may merge", "steady", func(t *testing.T, repo string) {
			withAlertsInBase(t, repo)
			testkit.Cmd{FixedClock: true, NoCluster: true}.Must(t, "advance", "--no-cluster", filepath.Join(repo, "clusters", "prod", "carousel.yaml"))
		}, "", ""},
		{"a plaintext private key is refused", "steady", func(t *testing.T, repo string) { plaintextLeaf(t, repo) }, "plaintext-key", "holds its private key (data.tls.key) unencrypted"},
		{"a plaintext private key may merge when the spec opts in", "steady", func(t *testing.T, repo string) {
			plaintextLeaf(t, repo)
			edit(t, repo, "carousel.yaml", "spec:\n", "spec:\n  plaintextKeys: true\n")
			gitIn(t, repo, "-c", "user.email=t@example.dev", "-c", "user.name=t", "commit", "-qam", "opt in (base)")
		}, "", ""},
		{"a shape change mid-flight is refused", "trust-new", func(t *testing.T, repo string) {
			edit(t, repo, "carousel.yaml", "- policy-webhook.policy.svc\n", "- policy-webhook.policy.svc\n    - webhook.example.dev\n")
		}, "shape-in-flight", "while it is at trust-new"},
		{"a shape change together with a phase move is refused", "steady", func(t *testing.T, repo string) {
			setPhaseLine(t, repo, "trust-new")
			edit(t, repo, "carousel.yaml", "server: https://10.0.0.1:6443", "server: https://10.0.0.2:6443")
		}, "shape-in-flight", "same pull request as the phase"},
		{"material changed mid-flight is refused", "sign-new", func(t *testing.T, repo string) {
			edit(t, repo, "material/leaf-policy-webhook-new.yaml", `carousel.dev/not-after: "20`, `carousel.dev/not-after: "19`)
		}, "material", "while the rotation is at sign-new"},
		{"material changed with a phase move is refused", "steady", func(t *testing.T, repo string) {
			setPhaseLine(t, repo, "trust-new")
			edit(t, repo, "material/ca-new.yaml", `carousel.dev/not-after: "20`, `carousel.dev/not-after: "19`)
		}, "material", "same pull request as a phase move"},
		{"the material in use may not change at steady", "steady", func(t *testing.T, repo string) {
			// Replace the current CA's certificate with the new one's.
			dir := filepath.Join(repo, "clusters", "prod", "material")
			oldB, _ := os.ReadFile(filepath.Join(dir, "ca-old.yaml"))
			newB, _ := os.ReadFile(filepath.Join(dir, "ca-new.yaml"))
			cert := regexp.MustCompile(`(?s)certificate: \|\n.*?-----END CERTIFICATE-----\n`)
			out := cert.ReplaceAll(oldB, cert.Find(newB))
			// A careful edit keeps the reviewers' fingerprint in step.
			fp := regexp.MustCompile(`carousel.dev/sha256: [0-9a-f]+`)
			out = fp.ReplaceAll(out, fp.Find(newB))
			if err := os.WriteFile(filepath.Join(dir, "ca-old.yaml"), out, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "material", "current (old) CA changed"},
		{"the current CA's ID may not change: its objects would be renamed", "steady", func(t *testing.T, repo string) {
			edit(t, repo, "material/ca-old.yaml", "carousel.dev/ca-id: g1\n", "carousel.dev/ca-id: g5\n")
		}, "material", `the ID of the current CA changed from "g1" to "g5"`},
		{"a phase whose material is missing is refused", "steady", func(t *testing.T, repo string) {
			setPhaseLine(t, repo, "trust-new")
			gitIn(t, repo, "rm", "-q", "clusters/prod/material/ca-new.yaml")
			edit(t, repo, "material/kustomization.yaml", "- ca-new.yaml\n", "")
			gitIn(t, repo, "-c", "user.email=t@example.dev", "-c", "user.name=t", "commit", "-qam", "drop new CA (base)")
		}, "renders", "needs the new CA"},
		{"a package kustomize cannot build is refused", "steady", func(t *testing.T, repo string) {
			gitIn(t, repo, "rm", "-q", "clusters/prod/material/ca-new.yaml")
		}, "renders", "the package does not build"},
		{"a file the kustomization does not list is not read", "steady", func(t *testing.T, repo string) {
			// A stray copy of the current CA (a backup, a file from another
			// branch) would make two old CAs if the folder were read.
			b, err := os.ReadFile(filepath.Join(repo, "clusters", "prod", "material", "ca-old.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(repo, "clusters", "prod", "ca-old.backup.yaml"), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := gitRepo(t, tt.base)
			tt.change(t, repo)
			out, code := runCheck(t, repo)
			if tt.rule == "" {
				if code != 0 {
					t.Fatalf("want exit 0, got %d:\n%s", code, out)
				}
				return
			}
			if code != 2 {
				t.Fatalf("want exit 2 (refused), got %d:\n%s", code, out)
			}
			if !strings.Contains(out, "REFUSED ["+tt.rule+"]") || !strings.Contains(out, tt.says) || !strings.Contains(out, "instead: ") {
				t.Fatalf("want a %s refusal saying %q and what to do instead, got:\n%s", tt.rule, tt.says, out)
			}
		})
	}
}

// withAlertsInBase adds spec.alerts to the package and commits it as the base.
func withAlertsInBase(t *testing.T, repo string) {
	t.Helper()
	edit(t, repo, "carousel.yaml", "spec:\n", "spec:\n  alerts: {namespace: monitoring}\n")
	gitIn(t, repo, "-c", "user.email=t@example.dev", "-c", "user.name=t", "commit", "-qam", "alerts (base)")
}

func TestCheckRefusesStaleRenderedOutput(t *testing.T) {
	repo := gitRepo(t, "steady")
	pkg := filepath.Join(repo, "clusters", "prod")
	testkit.SetPhase(t, pkg, "") // point the exec function at bin/carousel
	rendered := filepath.Join(repo, "rendered.yaml")
	if err := os.WriteFile(rendered, testkit.KustomizeDir(t, pkg), 0o644); err != nil {
		t.Fatal(err)
	}
	gitIn(t, repo, "add", "-A")
	gitIn(t, repo, "-c", "user.email=t@example.dev", "-c", "user.name=t", "commit", "-qm", "rendered")
	kustomize := testkit.Tool(t, "kustomize")
	if out, code := runCheck(t, repo, "--rendered", rendered, "--kustomize", kustomize); code != 0 {
		t.Fatalf("fresh output must pass: %d %s", code, out)
	}
	setPhaseLine(t, repo, "trust-new")
	out, code := runCheck(t, repo, "--rendered", rendered, "--kustomize", kustomize)
	if code != 2 || !strings.Contains(out, "REFUSED [rendered-output]") || !strings.Contains(out, "re-render and commit") {
		t.Fatalf("stale output must be refused with the command to fix it: %d\n%s", code, out)
	}
}

func TestCheckFailsClearlyWhenItCannotRun(t *testing.T) {
	repo := gitRepo(t, "steady")
	out, code := runCheck(t, repo, "--base", "no-such-branch")
	if code != 1 || !strings.Contains(out, "no-such-branch") {
		t.Fatalf("want exit 1 naming the bad ref, got %d: %s", code, out)
	}
}

// plaintextLeaf replaces the metrics client's encrypted key by its
// plaintext, as material made with --plaintext-keys holds it.
func plaintextLeaf(t *testing.T, repo string) {
	t.Helper()
	f := filepath.Join(repo, "clusters", "prod", "material", "leaf-metrics-client-old.yaml")
	cmd := exec.Command(testkit.Tool(t, "sops"), "--decrypt", f)
	cmd.Env = append(os.Environ(), "SOPS_AGE_KEY_FILE="+filepath.Join(testkit.Root(t), testkit.AgeKeyFile))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sops --decrypt %s: %v", f, err)
	}
	if err := os.WriteFile(f, out, 0o644); err != nil {
		t.Fatal(err)
	}
}
