package fn

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/carousel-dev/carousel/internal/testkit"
)

// Two `start`s at once on one package: the package lock lets exactly one
// write; the other is refused (by the lock, or, when it comes second, by
// the material the first one committed). Twenty rounds, each on a fresh
// package, with the real binary.
func TestConcurrentStartsOneWinsAndTheMaterialIsNeverMixed(t *testing.T) {
	snapshot := filepath.Join(t.TempDir(), "pkg")
	if err := os.MkdirAll(snapshot, 0o755); err != nil {
		t.Fatal(err)
	}
	crashPackage(t, snapshot)
	testkit.Cmd{Dir: snapshot}.Must(t, "init", "carousel.yaml", "--plaintext-keys")
	for round := range 20 {
		dir := filepath.Join(t.TempDir(), "pkg")
		if err := os.CopyFS(dir, os.DirFS(snapshot)); err != nil {
			t.Fatal(err)
		}
		var cmds [2]*exec.Cmd
		var outs [2]bytes.Buffer
		for i := range cmds {
			cmds[i] = testkit.Cmd{Dir: dir}.Command(t, "start", "carousel.yaml", "--plaintext-keys")
			cmds[i].Stdout, cmds[i].Stderr = &outs[i], &outs[i]
		}
		for _, c := range cmds {
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
		}
		won := 0
		for i, c := range cmds {
			err := c.Wait()
			var exit *exec.ExitError
			switch {
			case err == nil:
				won++
			case errors.As(err, &exit):
				out := outs[i].String()
				if !strings.Contains(out, "another carousel command is writing") && !strings.Contains(out, "already holds new material") {
					t.Fatalf("round %d: the losing start failed for another reason: %s", round, out)
				}
			default:
				t.Fatal(err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d starts succeeded, want exactly one:\n%s\n%s", round, won, outs[0].String(), outs[1].String())
		}
		completeRotation(t, dir) // every new leaf signed by the one new CA
		entries, _ := os.ReadDir(filepath.Join(dir, "material"))
		if len(entries) != 1+2+2*2 { // kustomization, CA old/new, two leaves old/new
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			t.Fatalf("round %d: the material directory holds %v", round, names)
		}
	}
}

// A lock file another user left, and holds, where locks used to live (the
// shared temporary directory, mode 0600) does not block this user's
// command, and the command leaves no lock file behind.
func TestAnotherUsersLockFileDoesNotBlockAndNoLockIsLeft(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pkg")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	crashPackage(t, dir)
	tmp := t.TempDir()
	if err := os.Chmod(tmp, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(real))
	theirs := filepath.Join(tmp, "carousel-"+hex.EncodeToString(sum[:])+".lock")
	f, err := os.OpenFile(theirs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(theirs, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"init", "carousel.yaml", "--plaintext-keys"}, {"start", "carousel.yaml", "--plaintext-keys"}} {
		if r := (testkit.Cmd{Dir: dir, Env: []string{"TMPDIR=" + tmp, "XDG_RUNTIME_DIR="}}).Run(t, args...); r.Err != nil {
			t.Fatalf("%v with another user's lock file in %s: %v\n%s", args, tmp, r.Err, r.Out)
		}
	}
	mine := filepath.Join(tmp, "carousel-"+strconv.Itoa(os.Geteuid()))
	entries, err := os.ReadDir(mine)
	if err != nil {
		t.Fatalf("the user's lock directory: %v", err)
	}
	if len(entries) != 0 {
		t.Fatalf("lock files left in %s: %v", mine, entries)
	}
}
