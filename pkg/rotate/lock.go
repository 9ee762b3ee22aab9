package rotate

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/carousel-dev/carousel/pkg/atomicfile"
)

// Lock takes the write lock of the package holding the CARotation file, or
// refuses when another carousel command holds it. Every command that writes
// takes it before reading the package, so no two writers interleave (two
// `start`s would otherwise both see "no new material" and mix theirs).
//
// The lock is flock(2) on a file outside the repository, named by the
// SHA-256 of the package directory's absolute, symlink-free path, so
// nothing lands in git; the kernel releases it when the process exits or
// is killed, so a crash never leaves a stale lock. The file lives in a
// directory of the user's own (LockDir), so another user's lock, or a file
// another user left, never blocks you. The returned function removes the
// file, then releases the lock.
//
// Removing a lock file races with a locker that opened it just before
// (the classic flock+unlink race): that locker would hold a lock on a file
// no name leads to any more, while a third one creates and locks a new
// file. So a lock counts only once, after flock, the path still names the
// very file locked (the same device and inode as the open descriptor);
// otherwise Lock opens the path again.
func Lock(file string) (unlock func(), err error) {
	path, err := LockPath(file)
	if err != nil {
		return nil, err
	}
	if err := ownDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	for range 100 {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
		if err != nil {
			return nil, fmt.Errorf("the package lock %s: %w", path, err)
		}
		if lockOpened != nil {
			lockOpened()
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("another carousel command is writing the package of %s (lock %s): wait for it to finish, then rerun", file, path)
			}
			return nil, fmt.Errorf("the package lock %s: %w", path, err)
		}
		same, err := namesFile(path, f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("the package lock %s: %w", path, err)
		}
		if same {
			return func() {
				// Removed while held: no one can take a lock on this
				// file any more (see above), and nothing stays behind.
				_ = atomicfile.Remove(path)
				f.Close()
			}, nil
		}
		// The holder before us removed the file after we opened it.
		f.Close()
	}
	return nil, fmt.Errorf("the package lock %s: it was removed and made again 100 times while carousel took it: another process is taking and releasing it in a loop", path)
}

// lockOpened, set by a test only, runs between the open and the flock: it
// widens the window in which a holder removes the file opened.
var lockOpened func()

// namesFile reports whether path names the file open as f.
func namesFile(path string, f *os.File) (bool, error) {
	var held, named syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &held); err != nil {
		return false, err
	}
	if err := syscall.Lstat(path, &named); err != nil {
		if errors.Is(err, syscall.ENOENT) {
			return false, nil
		}
		return false, err
	}
	return held.Dev == named.Dev && held.Ino == named.Ino, nil
}

// LockPath is the lock file of the package holding the CARotation file.
func LockPath(file string) (string, error) {
	dir, err := filepath.Abs(filepath.Dir(file))
	if err != nil {
		return "", err
	}
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	sum := sha256.Sum256([]byte(dir))
	return filepath.Join(LockDir(), "carousel-"+hex.EncodeToString(sum[:])+".lock"), nil
}

// LockDir is the directory of the user's package locks:
// $XDG_RUNTIME_DIR/carousel when the runtime directory is set and is the
// user's own (it is, 0700, where systemd makes it), else carousel-<uid> in
// the temporary directory. Lock makes it, mode 0700, and refuses one that
// another user owns or can write: locks there are the user's alone.
func LockDir() string {
	if rt := os.Getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(rt) && ownedBy(rt, os.Geteuid()) {
		return filepath.Join(rt, "carousel")
	}
	return filepath.Join(os.TempDir(), "carousel-"+strconv.Itoa(os.Geteuid()))
}

// ownedBy reports whether path is a directory (not a symbolic link) of uid
// that no other user can write.
func ownedBy(path string, uid int) bool {
	var st syscall.Stat_t
	return syscall.Lstat(path, &st) == nil && st.Mode&syscall.S_IFMT == syscall.S_IFDIR &&
		int(st.Uid) == uid && st.Mode&0o022 == 0
}

// ownDir makes the lock directory (0700) or checks the one there: a
// directory of this user's, which only this user can enter. One another
// user made in its place is refused: its owner could remove or swap the
// locks in it.
func ownDir(dir string) error {
	err := os.Mkdir(dir, 0o700)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("the lock directory %s: %w", dir, err)
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(dir, &st); err != nil {
		return fmt.Errorf("the lock directory %s: %w", dir, err)
	}
	uid := os.Geteuid()
	if st.Mode&syscall.S_IFMT != syscall.S_IFDIR || int(st.Uid) != uid {
		return fmt.Errorf("the lock directory %s is not a directory of yours (uid %d) but of uid %d: carousel keeps its package locks there, where no other user can touch them; remove it (someone else made it), or set XDG_RUNTIME_DIR to a directory of your own", dir, uid, st.Uid)
	}
	if st.Mode&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("the lock directory %s: %w", dir, err)
		}
	}
	return nil
}
