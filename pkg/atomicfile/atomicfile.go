// Package atomicfile holds every way carousel changes a file: a write, a
// removal and a temporary directory. Each change is atomic and durable, so
// a kill (or a power cut) at any instant leaves every file either as it was
// or as it was meant to be, never empty or half-written.
//
// A write goes to a temporary file in the same directory (same file
// system, so the rename cannot degrade to a copy), is fsynced, renamed over
// the target (rename(2) replaces atomically) and the directory is fsynced
// (so the rename itself survives a crash). A removal fsyncs the directory.
//
// This is the only package of carousel that calls os.WriteFile, os.Create,
// os.Remove, os.RemoveAll or os.Rename; a test greps for it.
package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// tempInfix marks this package's temporary files: ".<name>.carousel-tmp-<random>".
// The name never ends in .yaml, so neither kustomize nor a glob over the
// package ever reads an interrupted write.
const tempInfix = ".carousel-tmp-"

// WriteFile replaces path with data, atomically and durably. Missing parent
// directories are created (and made durable too).
func WriteFile(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	if err := mkdirAll(dir); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+tempInfix+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// Remove deletes path durably. A path that does not exist is not an error:
// removals are the last step of an interrupted command a rerun completes.
func Remove(path string) error {
	if err := os.Remove(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// RemoveAll deletes a scratch directory tree (one of MkdirTemp's). It is not
// made durable: what it removes was never part of a package.
func RemoveAll(path string) error { return os.RemoveAll(path) }

// MkdirTemp makes a scratch directory outside any package.
func MkdirTemp(pattern string) (string, error) { return os.MkdirTemp("", pattern) }

// SyncDir fsyncs a directory, so the names created, renamed or removed in
// it survive a crash.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

// CleanTemps removes the temporary files an interrupted write left in dir
// (and reports them). Call it only while holding the package's lock: a
// concurrent writer's temporary file is not a leftover.
func CleanTemps(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), ".") || !strings.Contains(e.Name(), tempInfix) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if err := Remove(p); err != nil {
			return removed, err
		}
		removed = append(removed, p)
	}
	return removed, nil
}

// mkdirAll creates dir and its missing parents, fsyncing each parent that
// gained an entry.
func mkdirAll(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := mkdirAll(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return SyncDir(parent)
}
