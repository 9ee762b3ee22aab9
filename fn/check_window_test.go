package fn

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carousel-dev/carousel/internal/testkit"
)

// fleetRepo is gitRepo's repository with clusters/prod as a shared root's
// owner declaring three clusters (clusters/<name>/carousel.yaml, each the
// cluster-ca rotation at the phase given), committed as the base.
func fleetRepo(t *testing.T, clusters string, at map[string]string) string {
	t.Helper()
	repo := gitRepo(t, "steady")
	edit(t, repo, "carousel.yaml", "spec:\n", "spec:\n  publish: ../state/root.yaml\n"+clusters)
	testkit.Cmd{FixedClock: true}.Must(t, "publish", filepath.Join(repo, "clusters", "prod", "carousel.yaml"))
	for name, phase := range at {
		setClusterPhase(t, repo, name, phase)
	}
	gitIn(t, repo, "-c", "user.email=t@example.dev", "-c", "user.name=t", "add", "-A")
	gitIn(t, repo, "-c", "user.email=t@example.dev", "-c", "user.name=t", "commit", "-q", "--amend", "-m", "base: a shared root and its clusters")
	return repo
}

const meshOfThree = `  clusters:
  - {name: east, rotation: ../east/carousel.yaml, context: east}
  - {name: west, rotation: ../west/carousel.yaml, context: west}
  - {name: south, rotation: ../south/carousel.yaml, context: south}
`

const trustNewLast = "trust-new\n  step: in-cluster-config"

// setClusterPhase makes clusters/<name> a copy of the cluster-ca example
// (once) whose rotation is at phase and names clusters/prod as its shared
// root.
func setClusterPhase(t *testing.T, repo, name, phase string) {
	t.Helper()
	example := filepath.Join(testkit.Root(t), "examples", "cluster-ca")
	dir := filepath.Join(repo, "clusters", name)
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		if err := os.CopyFS(dir, os.DirFS(example)); err != nil {
			t.Fatal(err)
		}
		readRootState(t, dir, "../state")
	}
	b, err := os.ReadFile(filepath.Join(example, "carousel.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	b = phaseRe.ReplaceAll(b, []byte("  phase: "+phase))
	b = []byte(strings.Replace(string(b), "spec:\n", "spec:\n  sharedRoot: ../prod/carousel.yaml\n  rootState: cluster-ca\n", 1))
	if err := os.WriteFile(filepath.Join(dir, "carousel.yaml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCheckHoldsClustersThatTalkWithinOnePhase: `carousel check` on a
// shared root's file reads every declared cluster's committed phase and
// refuses a pull request that leaves two clusters that talk more than one
// phase apart (docs/fleet.md, the fleet window), naming them; clusters in
// groups that do not talk may drift apart; a cluster whose phase cannot be
// read refuses. A cluster's check (spec.sharedRoot) holds its own groups
// the same way, so the pull request moving it is refused by its own check.
func TestCheckHoldsClustersThatTalkWithinOnePhase(t *testing.T) {
	steady := map[string]string{"east": "steady", "west": "steady", "south": "steady"}
	tests := []struct {
		name     string
		clusters string
		base     map[string]string
		change   func(t *testing.T, repo string)
		says     []string // nil: it may merge
		// file is the rotation checked: "" the root's, else a cluster's.
		file string
	}{
		{"one cluster one phase ahead of its peers may merge", meshOfThree, steady,
			func(t *testing.T, repo string) { setClusterPhase(t, repo, "east", "trust-new") }, nil, ""},
		{"a cluster two phases ahead of a peer is refused, naming both", meshOfThree,
			map[string]string{"east": "trust-new", "west": "trust-new", "south": "steady"},
			func(t *testing.T, repo string) { setClusterPhase(t, repo, "east", "sign-new") },
			[]string{"fleet-window", "group mesh (east, west, south)", "2 phases apart", "south is at steady", "east at sign-new", "move south on first"}, ""},
		{"the last cluster catching up may merge", meshOfThree,
			map[string]string{"east": "trust-new", "west": "trust-new", "south": "steady"},
			func(t *testing.T, repo string) { setClusterPhase(t, repo, "south", "trust-new") }, nil, ""},
		{"a cluster moved back two phases from its peers is refused", meshOfThree,
			map[string]string{"east": "sign-new", "west": "sign-new", "south": "sign-new"},
			func(t *testing.T, repo string) {
				setClusterPhase(t, repo, "west", "trust-new")
				setClusterPhase(t, repo, "south", "steady")
			},
			[]string{"fleet-window", "south is at steady", "east at sign-new"}, ""},
		{"clusters in groups that do not talk may be further apart", `  clusters:
  - {name: east, rotation: ../east/carousel.yaml, groups: [emea]}
  - {name: west, rotation: ../west/carousel.yaml, groups: [emea]}
  - {name: south, rotation: ../south/carousel.yaml, groups: [apac]}
`, map[string]string{"east": "trust-new", "west": "trust-new", "south": "steady"},
			func(t *testing.T, repo string) {
				setClusterPhase(t, repo, "east", "sign-new")
				setClusterPhase(t, repo, "west", "sign-new")
			}, nil, ""},
		{"a cluster in two groups is held to both", `  clusters:
  - {name: east, rotation: ../east/carousel.yaml, groups: [emea, gateway]}
  - {name: west, rotation: ../west/carousel.yaml, groups: [emea]}
  - {name: south, rotation: ../south/carousel.yaml, groups: [gateway]}
`, map[string]string{"east": "trust-new", "west": "trust-new", "south": "steady"},
			func(t *testing.T, repo string) {
				setClusterPhase(t, repo, "east", "sign-new")
				setClusterPhase(t, repo, "west", "sign-new")
			}, []string{"fleet-window", "group gateway (east, south)", "south is at steady"}, ""},
		{"a cluster whose rotation is gone is refused", meshOfThree, steady,
			func(t *testing.T, repo string) {
				if err := os.Remove(filepath.Join(repo, "clusters", "west", "carousel.yaml")); err != nil {
					t.Fatal(err)
				}
			}, []string{"fleet-window", "cluster west: its rotation cannot be read", "../west/carousel.yaml does not exist"}, ""},
		// trust-new's last step, so the move is one step (cluster-ca has steps).
		{"a cluster's own check refuses moving it two phases ahead of a peer", meshOfThree,
			map[string]string{"east": trustNewLast, "west": "trust-new", "south": "steady"},
			func(t *testing.T, repo string) { setClusterPhase(t, repo, "east", "sign-new") },
			[]string{"fleet-window", "south is at steady", "east at sign-new"}, "east"},
		{"a cluster's own check lets it move one phase ahead", meshOfThree, steady,
			func(t *testing.T, repo string) { setClusterPhase(t, repo, "east", "trust-new") }, nil, "east"},
		{"a cluster's own check holds only its own groups", `  clusters:
  - {name: east, rotation: ../east/carousel.yaml, groups: [emea]}
  - {name: west, rotation: ../west/carousel.yaml, groups: [emea]}
  - {name: south, rotation: ../south/carousel.yaml, groups: [apac]}
`, map[string]string{"east": trustNewLast, "west": "sign-new", "south": "steady"},
			func(t *testing.T, repo string) { setClusterPhase(t, repo, "east", "sign-new") }, nil, "east"},
		{"a cluster its shared root does not list is refused", "  clusters:\n  - {name: east, rotation: ../east/carousel.yaml}\n",
			map[string]string{"east": "steady", "west": "steady"},
			func(t *testing.T, repo string) { setClusterPhase(t, repo, "west", "trust-new") },
			[]string{"fleet-window", "does not list this package"}, "west"},
		{"a cluster that does not name its shared root back is refused", meshOfThree, steady,
			func(t *testing.T, repo string) {
				f := filepath.Join(repo, "clusters", "south", "carousel.yaml")
				b, _ := os.ReadFile(f)
				if err := os.WriteFile(f, []byte(strings.Replace(string(b), "  sharedRoot: ../prod/carousel.yaml\n  rootState: cluster-ca\n", "", 1)), 0o644); err != nil {
					t.Fatal(err)
				}
			}, []string{"fleet-window", "cluster south's rotation does not name the shared root back"}, ""},
		{"a cluster rotating another scope is refused", meshOfThree, steady,
			func(t *testing.T, repo string) {
				f := filepath.Join(repo, "clusters", "south", "carousel.yaml")
				b, _ := os.ReadFile(f)
				if err := os.WriteFile(f, []byte(strings.Replace(string(b), "spec:\n", "spec:\n  scope: leaf\n", 1)), 0o644); err != nil {
					t.Fatal(err)
				}
			}, []string{"fleet-window", "cluster south rotates in scope leaf"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := fleetRepo(t, tt.clusters, tt.base)
			tt.change(t, repo)
			out, code := runCheck(t, repo)
			if tt.file != "" {
				r := testkit.Cmd{FixedClock: true, NoCluster: true, AgeKey: true}.Run(t, "check", filepath.Join(repo, "clusters", tt.file, "carousel.yaml"), "--base", "main")
				out, code = r.Out, r.Code
			}
			if tt.says == nil {
				if code != 0 {
					t.Fatalf("exit %d, want 0:\n%s", code, out)
				}
				return
			}
			if code != exitRefused {
				t.Fatalf("exit %d, want %d (refused):\n%s", code, exitRefused, out)
			}
			for _, s := range tt.says {
				if !strings.Contains(out, s) {
					t.Errorf("the refusal does not say %q:\n%s", s, out)
				}
			}
		})
	}
}

// TestCheckHoldsClustersAtOrBeyondTheRootsPhase: the shared root's phase
// is the phase every cluster has reached, published in its state, which
// every cluster's render reads (docs/fleet.md, "The root's published
// state"). The root's check refuses a pull request moving the root past a
// cluster; a cluster's own check refuses one moving it behind the root,
// both from the repository's files and from the cluster's render of the
// root's state.
func TestCheckHoldsClustersAtOrBeyondTheRootsPhase(t *testing.T) {
	root := func(t *testing.T, repo, phase string) {
		setPhaseLine(t, repo, phase)
		testkit.Cmd{FixedClock: true}.Must(t, "publish", filepath.Join(repo, "clusters", "prod", "carousel.yaml"))
	}
	atTrustNew := map[string]string{"east": trustNewLast, "west": trustNewLast, "south": trustNewLast}

	t.Run("the root may record a phase every cluster has reached", func(t *testing.T) {
		repo := fleetRepo(t, meshOfThree, atTrustNew)
		root(t, repo, "trust-new")
		if out, code := runCheck(t, repo); code != 0 {
			t.Fatalf("exit %d, want 0:\n%s", code, out)
		}
	})
	t.Run("the root moved past a cluster is refused, naming it", func(t *testing.T) {
		repo := fleetRepo(t, meshOfThree, map[string]string{"east": trustNewLast, "west": trustNewLast, "south": "steady"})
		root(t, repo, "trust-new")
		out, code := runCheck(t, repo)
		if code != exitRefused || !strings.Contains(out, "fleet-window") || !strings.Contains(out, "cluster south is at steady, behind the shared root's phase trust-new") {
			t.Fatalf("exit %d, want %d naming south behind the root:\n%s", code, exitRefused, out)
		}
	})
	t.Run("a cluster moved behind the root is refused by its own check and its render", func(t *testing.T) {
		repo := fleetRepo(t, meshOfThree, atTrustNew)
		root(t, repo, "trust-new")
		gitIn(t, repo, "-c", "user.email=t@example.dev", "-c", "user.name=t", "commit", "-qam", "the root records trust-new")
		setClusterPhase(t, repo, "south", "steady")
		r := testkit.Cmd{FixedClock: true, NoCluster: true, AgeKey: true}.Run(t, "check", filepath.Join(repo, "clusters", "south", "carousel.yaml"), "--base", "main")
		if r.Code == 0 || !strings.Contains(r.Out, "cluster south is at steady, behind the shared root's phase trust-new") {
			t.Fatalf("check of south: exit %d, want a refusal naming it behind the root:\n%s", r.Code, r.Out)
		}
		b := testkit.Cmd{FixedClock: true}.Run(t, "build", filepath.Join(repo, "clusters", "south"))
		if b.Code == 0 || !strings.Contains(b.Out, "steady is behind the shared root cluster-ca, at trust-new") || strings.Contains(b.Stdout, "kind: Secret") {
			t.Fatalf("the render of south behind the root must fail with no output, saying why: exit %d\n%s", b.Code, b.Out)
		}
	})
}
