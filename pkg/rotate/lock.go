package rotate

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// Lock takes the write lock of the package holding the CARotation file, or
// refuses when another carousel command holds it. Every command that writes
// takes it before reading the package, so no two writers interleave (two
// `start`s would otherwise both see "no new material" and mix theirs).
//
// The lock is flock(2) on a file outside the repository (in os.TempDir(),
// named by the SHA-256 of the package directory's absolute, symlink-free
// path), so nothing lands in git; the kernel releases it when the process
// exits or is killed, so a crash never leaves a stale lock. The returned
// function releases it.
func Lock(file string) (unlock func(), err error) {
	path, err := LockPath(file)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("the package lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another carousel command is writing the package of %s (lock %s): wait for it to finish, then rerun", file, path)
		}
		return nil, fmt.Errorf("the package lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
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
	return filepath.Join(os.TempDir(), "carousel-"+hex.EncodeToString(sum[:])+".lock"), nil
}
