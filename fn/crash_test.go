package fn

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/rotate"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// The crash-safety test kills each writing command, as the real binary, at
// every file system call it makes, and checks what a kill leaves behind
// with the real kustomize and the real function: `carousel build`, kustomize
// v5.8.2's build with the function in-process, whose output equals
// `kustomize build --enable-alpha-plugins --enable-exec` byte for byte for
// every example and phase (examples/build_test.go) and which costs one
// process per build instead of two (the test builds after every distinct
// state, about 500 times).
//
// The kill is strace's fault injection: `-e inject=SYSCALL:signal=KILL:when=N`
// delivers SIGKILL on entry to the Nth call of SYSCALL, before it runs.
// strace counts per thread and per syscall, so each syscall of the list is
// injected on its own and N runs 1, 2, ... until the command completes
// unkilled; the commands pin their goroutine to one thread while writing
// (fn/cmd.go lockPackage), so N walks through their calls in program
// order. openat covers every file creation (strace cannot filter on
// O_CREAT; killing at a read changes nothing on disk and is deduplicated
// below), write every byte written, fsync every flush, rename(at) every
// commit of a temporary file and unlink(at) every removal. A kill at the
// entry of each call is a kill after the one before it, so every state the
// disk can be left in between two calls is reached.
//
// After each kill: the package must build to exactly the output before the
// command or after it (stdout of the build, or its error when the
// package did not build before), then a plain rerun of the command must
// complete it, or refuse with the message that says it was done, and the
// package must then build to the after-output and hold complete material.
// States already seen (same files, same bytes) are not checked twice.
var crashSyscalls = []string{"openat", "write", "fsync", "rename,renameat,renameat2", "unlink,unlinkat"}

// strace returns the strace binary, failing (not skipping) without it.
func strace(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/strace", "/bin/strace"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("strace"); err == nil {
		return p
	}
	t.Fatal("strace is not installed: the crash-safety test kills commands at every file syscall with it; install it (apt-get install strace)")
	return ""
}

// crashCase is one writing command run on a prepared package.
type crashCase struct {
	name string
	// setup prepares the package ("before") in dir; scratch is for files
	// outside it (signed certificates, the PR body).
	setup func(t *testing.T, dir, scratch string)
	args  func(scratch string) []string
	// random: the output after depends on keys the command makes (init);
	// it is taken from each completed rerun instead of a reference run.
	random bool
	// done is the message of a rerun refused because the killed run had
	// committed already; retry, when set, is the rerun that message asks for.
	done  string
	retry []string
	// atKill, when set, checks what the build does not see (pending
	// requests) right after each kill.
	atKill func(t *testing.T, dir string)
	// check proves the completed package holds what the command makes.
	check func(t *testing.T, dir, snapshot string)
	// fails, when set, is a command refused before it writes
	// (refusedCases): run whole it fails saying this, and killed anywhere
	// or not, it leaves the package byte for byte as before.
	fails string
}

func TestAKillAtAnyFileSyscallLeavesThePackageAsBeforeOrAfterAndARerunCompletes(t *testing.T) {
	st := strace(t)
	bin := testkit.Carousel(t)
	for _, c := range crashCases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel() // each case has its own package, so its own lock
			root := t.TempDir()
			dir, snapshot, scratch := filepath.Join(root, "pkg"), filepath.Join(root, "snapshot"), filepath.Join(root, "scratch")
			for _, d := range []string{dir, scratch} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			c.setup(t, dir, scratch)
			if err := os.CopyFS(snapshot, os.DirFS(dir)); err != nil {
				t.Fatal(err)
			}
			reset := func() {
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
				if err := os.CopyFS(dir, os.DirFS(snapshot)); err != nil {
					t.Fatal(err)
				}
			}
			args := c.args(scratch)
			if c.fails != "" {
				refusedUnderKills(t, c, st, bin, dir, args, reset)
				return
			}
			before := build(t, dir)
			var after buildResult
			if !c.random {
				testkit.Cmd{Dir: dir}.Must(t, args...)
				after = build(t, dir)
				if !after.ok {
					t.Fatalf("after %v the package does not build: %s", args, after.out)
				}
			}
			seen := map[string]bool{}
			kills := 0
			for _, sc := range crashSyscalls {
				for n := 1; ; n++ {
					if n > 1000 {
						t.Fatalf("%s: still killed at call %d", sc, n)
					}
					reset()
					killed, out := runKilled(t, st, bin, dir, sc, n, args, "")
					if !killed {
						break
					}
					kills++
					h := stateHash(t, dir)
					if seen[h] {
						continue
					}
					seen[h] = true
					at := fmt.Sprintf("killed at %s #%d", sc, n)
					got := build(t, dir)
					if !c.random && got != before && got != after {
						t.Fatalf("%s: the package builds to neither the output before nor after %v:\n%s\n(command output: %s)", at, args, got.diff(before, after), out)
					}
					if c.random && !got.ok && got != before {
						t.Fatalf("%s: the package fails to build, and not as before %v:\n%s", at, args, got.out)
					}
					if c.atKill != nil {
						c.atKill(t, dir)
					}
					rerun(t, c, bin, dir, args, at)
					// A rerun that refused ("done") and wrote nothing leaves
					// the state, so the build, as it was.
					final := got
					if stateHash(t, dir) != h {
						final = build(t, dir)
					}
					if !final.ok {
						t.Fatalf("%s: after the rerun the package does not build: %s", at, final.out)
					}
					if !c.random && final != after {
						t.Fatalf("%s: after the rerun the package builds to another output than %v does", at, args)
					}
					if c.random && got.ok && got != final {
						t.Fatalf("%s: the killed package built, and the rerun changed its output", at)
					}
					c.check(t, dir, snapshot)
				}
			}
			if kills == 0 {
				t.Fatal("the command was never killed: strace injected nothing")
			}
			t.Logf("%d kills, %d distinct states", kills, len(seen))
		})
	}
}

// rerun runs the command again on a killed package, as its user would.
func rerun(t *testing.T, c crashCase, bin, dir string, args []string, at string) {
	t.Helper()
	pkg := testkit.Cmd{Dir: dir}
	r := pkg.Run(t, args...)
	if r.Err == nil {
		return
	}
	if c.done == "" || !strings.Contains(r.Out, c.done) {
		t.Fatalf("%s: the rerun of %v failed: %v\n%s", at, args, r.Err, r.Out)
	}
	if c.retry != nil {
		if r := pkg.Run(t, append(args, c.retry...)...); r.Err != nil {
			t.Fatalf("%s: the rerun %v the refusal asks for failed: %v\n%s", at, c.retry, r.Err, r.Out)
		}
	}
}

// refusedUnderKills runs a refused command (crashCase.fails) whole, then
// killed at every file syscall: the package must stay as it was.
func refusedUnderKills(t *testing.T, c crashCase, st, bin, dir string, args []string, reset func()) {
	t.Helper()
	reset() // the copy is the package every run starts from (modes as os.CopyFS makes them)
	before := stateHash(t, dir)
	r := testkit.Cmd{Dir: dir}.Run(t, args...)
	if r.Err == nil || !strings.Contains(r.Out, c.fails) {
		t.Fatalf("%v must be refused saying %q: %v\n%s", args, c.fails, r.Err, r.Out)
	}
	if stateHash(t, dir) != before {
		t.Fatalf("the refused %v changed the package:\n%s", args, r.Out)
	}
	kills := 0
	for _, sc := range crashSyscalls {
		for n := 1; ; n++ {
			if n > 1000 {
				t.Fatalf("%s: still killed at call %d", sc, n)
			}
			reset()
			killed, out := runKilled(t, st, bin, dir, sc, n, args, c.fails)
			if !killed {
				break
			}
			kills++
			if stateHash(t, dir) != before {
				t.Fatalf("killed at %s #%d, the refused %v had changed the package:\n%s", sc, n, args, out)
			}
		}
	}
	if kills == 0 {
		t.Fatal("the command was never killed: strace injected nothing")
	}
	t.Logf("%d kills, the package as before at each", kills)
}

// runKilled runs the command under strace, killed at the nth call of sc.
// It reports whether the kill came; a run that ends otherwise must
// succeed, or fail saying fails when that is set.
func runKilled(t *testing.T, st, bin, dir, sc string, n int, args []string, fails string) (bool, string) {
	t.Helper()
	cmd := exec.Command(st, append([]string{"-f", "-qq", "-o", "/dev/null", "-e", "trace=" + sc,
		"-e", fmt.Sprintf("inject=%s:signal=KILL:when=%d", sc, n), bin}, args...)...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err == nil && fails == "" {
		return false, out.String()
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && (ws.Signaled() && ws.Signal() == syscall.SIGKILL || ws.ExitStatus() == 128+int(syscall.SIGKILL)) {
			return true, out.String()
		}
		if fails != "" && strings.Contains(out.String(), fails) {
			return false, out.String()
		}
	}
	t.Fatalf("%v under strace (%s #%d) failed without being killed: %v\n%s", args, sc, n, err, out.String())
	return false, ""
}

type buildResult struct {
	ok  bool
	out string
}

func (b buildResult) diff(before, after buildResult) string {
	return fmt.Sprintf("against the output before: %s\nagainst the output after: %s", b.firstDiff(before), b.firstDiff(after))
}

// firstDiff shows where two results part.
func (b buildResult) firstDiff(o buildResult) string {
	if b.ok != o.ok {
		return fmt.Sprintf("it builds: %v, it built: %v\n%.1000s", b.ok, o.ok, b.out)
	}
	got, want := strings.Split(b.out, "\n"), strings.Split(o.out, "\n")
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("line %d: %q, not %q", i+1, got[i], want[i])
		}
	}
	return fmt.Sprintf("%d lines, not %d", len(got), len(want))
}

// build builds dir as kustomize with the function does: `carousel build`
// (the examples' `path: carousel` names the binary that runs in-process).
func build(t *testing.T, dir string) buildResult {
	t.Helper()
	cmd := exec.Command(testkit.Carousel(t), "build", dir)
	cmd.Env = append(os.Environ(), testkit.NowEnv())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return buildResult{false, stderr.String()}
	}
	return buildResult{true, stdout.String()}
}

var tempSuffix = regexp.MustCompile(`carousel-tmp-[0-9]+`)

// stateHash identifies what a kill left on disk: every file's name (an
// interrupted temporary file's random suffix aside), mode and bytes.
func stateHash(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %v\n", tempSuffix.ReplaceAllString(rel, "carousel-tmp-*"), info.Mode())
		if d.Type().IsRegular() {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "%x\n", sha256.Sum256(b))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// crashPackage is the cluster-ca example without its material (and SOPS
// rules: the keys are plaintext here, which the crash does not care about).
func crashPackage(t *testing.T, dir string) {
	t.Helper()
	src := filepath.Join(testkit.Root(t), "examples", "cluster-ca")
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"material", ".sops.yaml"} {
		if err := os.RemoveAll(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
}

func loadMaterial(t *testing.T, dir string) (*rotate.Package, map[string]string) {
	t.Helper()
	p, err := rotate.Load(filepath.Join(dir, "carousel.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	set, err := p.Material()
	if err != nil {
		t.Fatal(err)
	}
	fps := map[string]string{}
	for g, k := range set.CA {
		fps["ca-"+string(g)] = pki.Fingerprint(k.Cert())
	}
	for _, l := range p.Rotation.Spec.Leaves {
		for g, k := range set.Leaves[l.Name] {
			fps[l.Name+"-"+string(g)] = pki.Fingerprint(k.Cert())
			if err := pki.CheckSignedBy(k.Cert(), set.CA[map[bool]phases.Generation{true: phases.Old, false: g}[p.Rotation.Spec.Scope == phases.ScopeLeaf]].Cert()); err != nil {
				t.Fatalf("the %s leaf %q is not signed by its CA (mixed material): %v", g, l.Name, err)
			}
		}
		if len(set.Leaves[l.Name]) == 0 {
			t.Fatalf("leaf %q has no material", l.Name)
		}
	}
	return p, fps
}

// caIDs are the recorded IDs of the old and new CA ("" when not recorded).
func caIDs(t *testing.T, dir string) (string, string) {
	t.Helper()
	p, _ := loadMaterial(t, dir)
	set, err := p.Material()
	if err != nil {
		t.Fatal(err)
	}
	id := func(g phases.Generation) string {
		if k, ok := set.CA[g]; ok && k.CAIDRecorded() {
			return k.CAID
		}
		return ""
	}
	return id(phases.Old), id(phases.New)
}

// completeRotation proves a started rotation: a new CA, every leaf new.
func completeRotation(t *testing.T, dir string) map[string]string {
	t.Helper()
	p, fps := loadMaterial(t, dir)
	if fps["ca-new"] == "" || fps["ca-new"] == fps["ca-old"] {
		t.Fatalf("no new CA: %v", fps)
	}
	for _, l := range p.Rotation.Spec.Leaves {
		if fps[l.Name+"-new"] == "" {
			t.Fatalf("leaf %q has no new generation", l.Name)
		}
	}
	return fps
}

func setPhaseText(t *testing.T, dir string, phase phases.Phase) {
	t.Helper()
	f := filepath.Join(dir, "carousel.yaml")
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	b = regexp.MustCompile(`(?m)^(  phase: )\S+`).ReplaceAll(b, []byte("${1}"+string(phase)))
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func crashCases() []crashCase {
	cases := successCases()
	for _, r := range refusedCases() {
		cases = append(cases, crashCase{name: "refused: " + r.name, setup: r.setup, args: r.args, fails: r.fails})
	}
	return cases
}

func successCases() []crashCase {
	initialised := func(t *testing.T, dir, _ string) {
		crashPackage(t, dir)
		testkit.Cmd{Dir: dir}.Must(t, "init", "carousel.yaml", "--plaintext-keys")
	}
	plain := func(args ...string) func(string) []string {
		return func(string) []string { return append(args, "--plaintext-keys") }
	}
	return []crashCase{{
		name: "init writes the material and then the package",
		// A CARotation alone: init also writes the function annotation
		// and the package's kustomization.yaml.
		setup: func(t *testing.T, dir, _ string) {
			if err := os.WriteFile(filepath.Join(dir, "carousel.yaml"), []byte(bareRotation), 0o644); err != nil {
				t.Fatal(err)
			}
		},
		args:   plain("init", "carousel.yaml"),
		random: true,
		done:   "already holds the current CA",
		check: func(t *testing.T, dir, _ string) {
			_, fps := loadMaterial(t, dir)
			if fps["ca-old"] == "" || fps["ca-new"] != "" {
				t.Fatalf("init must leave the current CA only: %v", fps)
			}
		},
	}, {
		name: "init --preset writes the material, then the CARotation and the package",
		// An empty directory: the CARotation file is made in memory and
		// written, annotated, after the material. A rerun after any kill
		// makes it again, or finds the preset it wrote, and completes the
		// package.
		setup:  func(t *testing.T, dir, _ string) {},
		args:   plain("init", "--preset", "osm", "carousel.yaml"),
		random: true,
		done:   "already holds the current CA",
		check: func(t *testing.T, dir, _ string) {
			_, fps := loadMaterial(t, dir)
			if fps["ca-old"] == "" || fps["ca-new"] != "" {
				t.Fatalf("init must leave the current CA only: %v", fps)
			}
		},
	}, {
		name: "init records a CA held externally, without its key",
		setup: func(t *testing.T, dir, scratch string) {
			// No leaves: until csr and import bring them, a package with
			// leaves does not build after a keyless init (and says so).
			leafless, _, _ := strings.Cut(bareRotation, "  leaves:\n")
			if err := os.WriteFile(filepath.Join(dir, "carousel.yaml"), []byte(leafless), 0o644); err != nil {
				t.Fatal(err)
			}
			externalRoot(t, scratch)
		},
		args: func(scratch string) []string {
			return []string{"init", "carousel.yaml", "--ca-cert", filepath.Join(scratch, "root.pem")}
		},
		done: "already holds the current CA",
		check: func(t *testing.T, dir, _ string) {
			p, fps := loadMaterial(t, dir)
			set, err := p.Material()
			if err != nil {
				t.Fatal(err)
			}
			if fps["ca-old"] == "" || set.CA[phases.Old].HasKey() || len(set.Leaves) != 0 {
				t.Fatalf("init must record the CA's certificate only: %v", fps)
			}
		},
	}, {
		name: "publish replaces the state whole",
		// The state sits outside the build: what a kill must never leave is
		// a half-written state, which consumer packages would render from.
		setup: func(t *testing.T, dir, _ string) {
			initialised(t, dir, "")
			testkit.Cmd{Dir: dir}.Must(t, "start", "carousel.yaml", "--plaintext-keys")
			b, err := os.ReadFile(filepath.Join(dir, "carousel.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			b = regexp.MustCompile(`(?m)^(  phase: \S+\n)`).ReplaceAll(b, []byte("${1}  publish: published/state.yaml\n"))
			if err := os.WriteFile(filepath.Join(dir, "carousel.yaml"), b, 0o644); err != nil {
				t.Fatal(err)
			}
			testkit.Cmd{Dir: dir}.Must(t, "publish", "carousel.yaml")
			setPhaseText(t, dir, phases.TrustNew)
		},
		args:   func(string) []string { return []string{"publish", "carousel.yaml"} },
		atKill: func(t *testing.T, dir string) { publishedPhase(t, dir, phases.Steady, phases.TrustNew) },
		check:  func(t *testing.T, dir, _ string) { publishedPhase(t, dir, phases.TrustNew) },
	}, {
		name:  "start from steady adds the next rotation's material",
		setup: initialised,
		args:  plain("start", "carousel.yaml"),
		done:  "already holds new material",
		check: func(t *testing.T, dir, snapshot string) {
			fps := completeRotation(t, dir)
			_, was := loadMaterial(t, snapshot)
			if fps["ca-old"] != was["ca-old"] {
				t.Fatal("start changed the current CA")
			}
		},
	}, {
		name: "start from cleanup promotes the finished rotation first",
		setup: func(t *testing.T, dir, scratch string) {
			initialised(t, dir, scratch)
			testkit.Cmd{Dir: dir}.Must(t, "start", "carousel.yaml", "--plaintext-keys")
			setPhaseText(t, dir, phases.Cleanup)
		},
		args: plain("start", "carousel.yaml"),
		done: "already holds new material",
		check: func(t *testing.T, dir, snapshot string) {
			fps := completeRotation(t, dir)
			_, was := loadMaterial(t, snapshot)
			if fps["ca-old"] != was["ca-new"] {
				t.Fatal("the finished rotation's CA is not the current one")
			}
			if fps["ca-new"] == was["ca-new"] || fps["ca-new"] == was["ca-old"] {
				t.Fatal("the next rotation reuses a CA")
			}
			if o, n := caIDs(t, dir); o != "g2" || n != "g3" {
				t.Fatalf("CA IDs after the promotion: old %q, new %q; want g2 (kept), g3", o, n)
			}
		},
	}, {
		name: "start from cleanup records the CA IDs of material from before them",
		// An older carousel's package: no carousel.dev/ca-id. The
		// promotion's own writes record the finished CA's ID (its role
		// then, new), so its Secret keeps the name <secret>-new.
		setup: func(t *testing.T, dir, scratch string) {
			initialised(t, dir, scratch)
			testkit.Cmd{Dir: dir}.Must(t, "start", "carousel.yaml", "--plaintext-keys")
			for _, f := range []string{"ca-old.yaml", "ca-new.yaml"} {
				stripCAID(t, filepath.Join(dir, "material", f))
			}
			setPhaseText(t, dir, phases.Cleanup)
		},
		args: plain("start", "carousel.yaml"),
		done: "already holds new material",
		check: func(t *testing.T, dir, snapshot string) {
			fps := completeRotation(t, dir)
			_, was := loadMaterial(t, snapshot)
			if fps["ca-old"] != was["ca-new"] {
				t.Fatal("the finished rotation's CA is not the current one")
			}
			if o, n := caIDs(t, dir); o != "new" || n != "g1" {
				t.Fatalf("CA IDs after the promotion: old %q, new %q; want new (its role when it was made), g1", o, n)
			}
			if b := build(t, dir); !b.ok || !strings.Contains(b.out, "name: cluster-ca-new\n") || strings.Contains(b.out, "name: cluster-ca-old\n") {
				t.Fatalf("steady after the promotion must render the current CA as cluster-ca-new:\n%.2000s", b.out)
			}
		},
	}, {
		name: "start from reissue promotes the re-issued leaves first",
		setup: func(t *testing.T, dir, scratch string) {
			initialised(t, dir, scratch)
			testkit.Cmd{Dir: dir}.Must(t, "start", "carousel.yaml", "--scope", "leaf", "--leaf", "policy-webhook", "--plaintext-keys")
			setPhaseText(t, dir, phases.Reissue)
		},
		args: plain("start", "carousel.yaml"),
		done: "already holds new material",
		check: func(t *testing.T, dir, snapshot string) {
			p, fps := loadMaterial(t, dir)
			_, was := loadMaterial(t, snapshot)
			if fps["ca-old"] != was["ca-old"] || fps["ca-new"] != "" {
				t.Fatalf("a leaf re-issue changed the CA: %v", fps)
			}
			if fps["policy-webhook-old"] != was["policy-webhook-new"] {
				t.Fatal("the re-issued leaf is not the current one")
			}
			for _, l := range p.Rotation.Spec.Leaves {
				if fps[l.Name+"-new"] == "" || fps[l.Name+"-new"] == fps[l.Name+"-old"] {
					t.Fatalf("leaf %q was not re-issued", l.Name)
				}
			}
		},
	}, {
		name:   "csr writes pending requests",
		setup:  initialised,
		args:   plain("csr", "carousel.yaml", "--ca", "--leaf", "policy-webhook"),
		done:   "--force",
		retry:  []string{"--force"},
		atKill: pendingIntact,
		check: func(t *testing.T, dir, _ string) {
			for _, base := range []string{"ca-new", "leaf-policy-webhook-new"} {
				for _, ext := range []string{".yaml", ".csr"} {
					if _, err := os.Stat(filepath.Join(dir, "material", "pending", base+ext)); err != nil {
						t.Fatalf("the request is not pending: %v", err)
					}
				}
			}
			pendingIntact(t, dir)
		},
	}, {
		name: "import completes pending material",
		setup: func(t *testing.T, dir, scratch string) {
			initialised(t, dir, scratch)
			testkit.Cmd{Dir: dir}.Must(t, "csr", "carousel.yaml", "--ca", "--plaintext-keys")
			signExternally(t, scratch, filepath.Join(dir, "material", "pending", "ca-new.csr"))
		},
		args: func(scratch string) []string {
			return []string{"import", "carousel.yaml", "--cert", filepath.Join(scratch, "int.pem"), "--chain", filepath.Join(scratch, "root.pem")}
		},
		check: func(t *testing.T, dir, _ string) {
			_, fps := loadMaterial(t, dir)
			if fps["ca-new"] == "" {
				t.Fatal("the imported CA is not in the material")
			}
			if _, n := caIDs(t, dir); n != "g2" {
				t.Fatalf("the imported CA's ID is %q, want g2 (chosen by csr --ca)", n)
			}
			if entries, _ := os.ReadDir(filepath.Join(dir, "material", "pending")); len(entries) != 0 {
				t.Fatalf("the imported request is still pending: %v", entries)
			}
		},
	}, {
		name: "start after an imported intermediate issues the new leaves with it",
		setup: func(t *testing.T, dir, scratch string) {
			initialised(t, dir, scratch)
			testkit.Cmd{Dir: dir}.Must(t, "csr", "carousel.yaml", "--ca", "--plaintext-keys")
			signExternally(t, scratch, filepath.Join(dir, "material", "pending", "ca-new.csr"))
			testkit.Cmd{Dir: dir}.Must(t, "import", "carousel.yaml", "--cert", filepath.Join(scratch, "int.pem"), "--chain", filepath.Join(scratch, "root.pem"))
		},
		args: plain("start", "carousel.yaml"),
		done: "already holds new material",
		check: func(t *testing.T, dir, snapshot string) {
			p, fps := loadMaterial(t, dir)
			_, was := loadMaterial(t, snapshot)
			if fps["ca-new"] != was["ca-new"] || fps["ca-old"] != was["ca-old"] {
				t.Fatal("start changed the imported CA or the current one")
			}
			completeRotation(t, dir)
			set, err := p.Material()
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range p.Rotation.Spec.Leaves {
				if err := pki.CheckSignedBy(set.Leaves[l.Name][phases.New].Cert(), set.CA[phases.New].Cert()); err != nil {
					t.Fatalf("leaf %q is not signed by the imported intermediate: %v", l.Name, err)
				}
			}
		},
	}, {
		name: "init annotates a CARotation whose metadata is in flow style",
		// metadata: {name: many}, as hack/bench.sh writes it.
		setup: func(t *testing.T, dir, _ string) {
			if err := os.WriteFile(filepath.Join(dir, "carousel.yaml"), []byte(flowRotation), 0o644); err != nil {
				t.Fatal(err)
			}
		},
		args:   plain("init", "carousel.yaml"),
		random: true,
		done:   "already holds the current CA",
		check: func(t *testing.T, dir, _ string) {
			_, fps := loadMaterial(t, dir)
			if fps["ca-old"] == "" || fps["ca-new"] != "" {
				t.Fatalf("init must leave the current CA only: %v", fps)
			}
		},
	}, {
		name: "start --scope leaf writes the scope into a spec in flow style",
		setup: func(t *testing.T, dir, _ string) {
			if err := os.WriteFile(filepath.Join(dir, "carousel.yaml"), []byte(flowRotation), 0o644); err != nil {
				t.Fatal(err)
			}
			testkit.Cmd{Dir: dir}.Must(t, "init", "carousel.yaml", "--plaintext-keys")
		},
		args: plain("start", "carousel.yaml", "--scope", "leaf"),
		done: "already holds new material",
		check: func(t *testing.T, dir, snapshot string) {
			p, fps := loadMaterial(t, dir)
			_, was := loadMaterial(t, snapshot)
			if p.Rotation.Spec.Scope != phases.ScopeLeaf || fps["ca-old"] != was["ca-old"] || fps["ca-new"] != "" || fps["webhook-new"] == "" {
				t.Fatalf("a leaf re-issue: scope %s, material %v", p.Rotation.Spec.Scope, fps)
			}
		},
	}, {
		name: "advance moves the phase",
		setup: func(t *testing.T, dir, scratch string) {
			initialised(t, dir, scratch)
			testkit.Cmd{Dir: dir}.Must(t, "start", "carousel.yaml", "--plaintext-keys")
		},
		args: func(scratch string) []string {
			return []string{"advance", "carousel.yaml", "--no-cluster", "--to", "trust-new", "--out", filepath.Join(scratch, "pr.md")}
		},
		done: "already at trust-new",
		check: func(t *testing.T, dir, _ string) {
			p, _ := loadMaterial(t, dir)
			if p.Rotation.Spec.Phase != phases.TrustNew {
				t.Fatalf("the phase is %s", p.Rotation.Spec.Phase)
			}
		},
	}}
}

// flowRotation is bareRotation with metadata and spec in flow style.
const flowRotation = `apiVersion: carousel.dev/v1alpha1
kind: CARotation
metadata: {name: mesh} # as hack/bench.sh writes it
spec: {ca: {commonName: root.mesh}, leaves: [{name: issuer, secret: {name: issuer, namespace: mesh}, isCA: true, usages: [server, client]},
    {name: webhook, secret: {name: webhook-tls, namespace: mesh}, dnsNames: [webhook.mesh.svc], usages: [server]}]}
`

// signExternally plays the external CA: the real openssl signs the CSR as
// an intermediate under a root it makes, into scratch/int.pem and root.pem.
func signExternally(t *testing.T, scratch, csr string) {
	t.Helper()
	openssl(t, scratch, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "root.key")
	openssl(t, scratch, "req", "-x509", "-new", "-key", "root.key", "-subj", "/CN=external root", "-days", "7300", "-sha256",
		"-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", "root.pem")
	ext := "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
	if err := os.WriteFile(filepath.Join(scratch, "int.ext"), []byte(ext), 0o644); err != nil {
		t.Fatal(err)
	}
	openssl(t, scratch, "x509", "-req", "-in", csr, "-CA", "root.pem", "-CAkey", "root.key", "-CAcreateserial",
		"-days", "3650", "-sha256", "-extfile", "int.ext", "-out", "int.pem")
}

// bareRotation is a CARotation file as a new user writes it: no phase, no
// function annotation, no kustomization beside it.
const bareRotation = `# The mesh trust anchor.
apiVersion: carousel.dev/v1alpha1
kind: CARotation
metadata:
  name: mesh
spec:
  ca:
    commonName: root.mesh
  leaves:
  - name: issuer
    secret: {name: issuer, namespace: mesh}
    isCA: true
    usages: [server, client]
  - name: webhook
    secret: {name: webhook-tls, namespace: mesh}
    dnsNames: [webhook.mesh.svc]
    usages: [server]
`

// pendingIntact checks every pending request: a pending key holds its key
// and CSR, and its .csr, when there is one, is that CSR (the one the
// external CA signs must match the key import looks for).
func pendingIntact(t *testing.T, dir string) {
	t.Helper()
	pending := filepath.Join(dir, "material", "pending")
	entries, _ := os.ReadDir(pending)
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		key, err := os.ReadFile(filepath.Join(pending, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		n, err := yaml.Parse(string(key))
		if err != nil || n.Field("csr") == nil || n.Field("data") == nil {
			t.Fatalf("the pending key %s is not whole: %v\n%s", e.Name(), err, key)
		}
		csr, err := os.ReadFile(filepath.Join(pending, strings.TrimSuffix(e.Name(), ".yaml")+".csr"))
		if err == nil && strings.TrimSpace(yaml.GetValue(n.Field("csr").Value)) != strings.TrimSpace(string(csr)) {
			t.Fatalf("%s is not the CSR of its pending key", strings.TrimSuffix(e.Name(), ".yaml")+".csr")
		}
	}
}

// publishedPhase fails unless the package's published state is whole (it
// loads as a CARotationState) and at one of the phases.
func publishedPhase(t *testing.T, dir string, want ...phases.Phase) {
	t.Helper()
	n, err := yaml.ReadFile(filepath.Join(dir, "published", "state.yaml"))
	if err != nil {
		t.Fatalf("the published state does not read: %v", err)
	}
	st, err := spec.LoadState(n)
	if err != nil {
		t.Fatalf("the published state is not whole: %v", err)
	}
	if !slices.Contains(want, st.Spec.Phase) {
		t.Fatalf("the published state is at %s, want one of %v", st.Spec.Phase, want)
	}
}
