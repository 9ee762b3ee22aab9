package rotate

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestASecondWriterIsRefusedUntilTheFirstReleasesTheLock(t *testing.T) {
	file := filepath.Join(t.TempDir(), "carousel.yaml")
	unlock, err := Lock(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(file); err == nil || !strings.Contains(err.Error(), "another carousel command is writing") {
		t.Fatalf("a second writer must be refused: %v", err)
	}
	unlock()
	again, err := Lock(file)
	if err != nil {
		t.Fatalf("the released lock must be free: %v", err)
	}
	again()
}

func TestTheLockLivesOutsideThePackage(t *testing.T) {
	dir := t.TempDir()
	path, err := LockPath(filepath.Join(dir, "carousel.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(path, dir) {
		t.Fatalf("the lock %s is inside the package", path)
	}
	other, _ := LockPath(filepath.Join(t.TempDir(), "carousel.yaml"))
	if other == path {
		t.Fatal("two packages share a lock")
	}
}

// sharedTemp points os.TempDir() at a fresh directory every user can
// write (like /tmp), with no XDG_RUNTIME_DIR: the case where locks used to
// collide.
func sharedTemp(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", tmp)
	t.Setenv("XDG_RUNTIME_DIR", "")
	pkg := filepath.Join(dir, "pkg")
	if err := os.Mkdir(pkg, 0o755); err != nil {
		t.Fatal(err)
	}
	return pkg
}

func TestTheLockFileIsGoneAfterUnlock(t *testing.T) {
	file := filepath.Join(sharedTemp(t), "carousel.yaml")
	unlock, err := Lock(file)
	if err != nil {
		t.Fatal(err)
	}
	path, _ := LockPath(file)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the held lock has no file: %v", err)
	}
	unlock()
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the lock file %s is left after unlock: %v", path, err)
	}
}

func TestTheLockDirectoryIsTheUsersOwn(t *testing.T) {
	sharedTemp(t)
	file := filepath.Join(t.TempDir(), "carousel.yaml")
	unlock, err := Lock(file)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	path, _ := LockPath(file)
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Dir(path), &st); err != nil {
		t.Fatal(err)
	}
	if int(st.Uid) != os.Geteuid() || st.Mode&0o777 != 0o700 {
		t.Fatalf("the lock directory %s is uid %d mode %o, want uid %d mode 700", filepath.Dir(path), st.Uid, st.Mode&0o777, os.Geteuid())
	}
	// With a runtime directory of the user's, the locks go there.
	rt := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", rt)
	if p, _ := LockPath(file); filepath.Dir(p) != filepath.Join(rt, "carousel") {
		t.Fatalf("with XDG_RUNTIME_DIR=%s the lock is %s", rt, p)
	}
}

// A lock directory someone else put in place (a symbolic link to their
// directory, or one they own) is refused, not used.
func TestALockDirectoryNotTheUsersOwnIsRefused(t *testing.T) {
	sharedTemp(t)
	theirs := t.TempDir()
	if err := os.Symlink(theirs, LockDir()); err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(filepath.Join(t.TempDir(), "carousel.yaml")); err == nil || !strings.Contains(err.Error(), "not a directory of yours") {
		t.Fatalf("a symbolic link as the lock directory must be refused: %v", err)
	}
	if os.Geteuid() == 0 {
		if err := os.Remove(LockDir()); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(LockDir(), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(LockDir(), nobody, nobody); err != nil {
			t.Fatal(err)
		}
		if _, err := Lock(filepath.Join(t.TempDir(), "carousel.yaml")); err == nil || !strings.Contains(err.Error(), "not a directory of yours") {
			t.Fatalf("a lock directory of another user must be refused: %v", err)
		}
	}
}

const nobody = 65534

// A lock another user holds (or left) on the same package path does not
// block you: it is theirs, in their directory. Run as root, the other user
// is real: this test binary, run as uid 65534, holds its lock on the
// package while this one takes its own. Otherwise the other user's lock is
// simulated by a file where locks used to live that this user cannot open.
func TestAnotherUsersLockDoesNotBlock(t *testing.T) {
	pkg := sharedTemp(t)
	file := filepath.Join(pkg, "carousel.yaml")
	if os.Geteuid() != 0 {
		sum := sha256.Sum256([]byte(pkg))
		legacy := filepath.Join(os.TempDir(), "carousel-"+hex.EncodeToString(sum[:])+".lock")
		if err := os.WriteFile(legacy, nil, 0); err != nil {
			t.Fatal(err)
		}
	} else {
		bin := filepath.Join(filepath.Dir(pkg), "rotate.test")
		b, err := os.ReadFile(os.Args[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, b, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-test.run=^TestLockHelperProcess$")
		cmd.Env = append(os.Environ(), "CAROUSEL_LOCK_HELPER="+file)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		cmd.Stderr = &out
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			stdin.Close()
			if err := cmd.Wait(); err != nil {
				t.Errorf("the other user's carousel: %v\n%s", err, out.String())
			}
		}()
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if line != "locked\n" {
			stdin.Close()
			cmd.Wait()
			t.Fatalf("the other user did not take its lock: %q %v\n%s", line, err, out.String())
		}
	}
	unlock, err := Lock(file)
	if err != nil {
		t.Fatalf("another user's lock blocks this user: %v", err)
	}
	unlock()
}

// TestLockHelperProcess is the other user of TestAnotherUsersLockDoesNotBlock:
// it takes the lock of $CAROUSEL_LOCK_HELPER, says so, and holds it until
// its stdin closes.
func TestLockHelperProcess(t *testing.T) {
	file := os.Getenv("CAROUSEL_LOCK_HELPER")
	if file == "" {
		return
	}
	unlock, err := Lock(file)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("locked")
	_, _ = io.Copy(io.Discard, os.Stdin)
	unlock()
	os.Exit(0)
}

// Lockers that take and release one package's lock (removing its file each
// time) as fast as they can never hold it two at a time: a locker that
// opened the file just before its holder removed it must not count a lock
// on the removed file.
func TestConcurrentLockersExcludeEachOtherWhileLocksAreRemoved(t *testing.T) {
	file := filepath.Join(sharedTemp(t), "carousel.yaml")
	lockOpened = func() { time.Sleep(20 * time.Microsecond) }
	defer func() { lockOpened = nil }()
	var inside, held atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 300 {
				unlock, err := Lock(file)
				if err != nil {
					if !strings.Contains(err.Error(), "another carousel command is writing") {
						t.Error(err)
						return
					}
					continue
				}
				if n := inside.Add(1); n != 1 {
					t.Errorf("%d lockers hold the lock at once", n)
				}
				held.Add(1)
				time.Sleep(10 * time.Microsecond)
				inside.Add(-1)
				unlock()
			}
		}()
	}
	wg.Wait()
	if held.Load() == 0 {
		t.Fatal("no locker ever held the lock")
	}
	path, _ := LockPath(file)
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the lock file is left: %v", err)
	}
}
