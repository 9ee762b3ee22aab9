package kbuild

import (
	"errors"
	"os"
	"path/filepath"
	"slices"

	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// overlayFS is the filesystem on disk, read-only, with some files replaced
// or added in memory: the kustomizations a build rewrites and the
// functions' outputs it writes beside them. Nothing reaches the disk.
//
// Virtual files live only in directories that exist on disk, keyed by
// their path with the directory's symlinks resolved, as kustomize's loader
// resolves them (filesys.CleanedAbs).
type overlayFS struct {
	disk filesys.FileSystem
	mem  filesys.FileSystem // the virtual files' bytes, at the same paths
	virt map[string]bool
}

func newOverlayFS() *overlayFS {
	return &overlayFS{disk: filesys.MakeFsOnDisk(), mem: filesys.MakeFsInMemory(), virt: map[string]bool{}}
}

var errReadOnly = errors.New("carousel build writes nothing to the repository")

// key is path with its directory's symlinks resolved: the one name of a
// file however kustomize spells it.
func key(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return filepath.Clean(path)
	}
	dir, base := filepath.Split(abs)
	if r, err := filepath.EvalSymlinks(dir); err == nil {
		return filepath.Join(r, base)
	}
	return abs
}

// set puts a virtual file at path (its directory must exist on disk).
func (o *overlayFS) set(path string, data []byte) error {
	k := key(path)
	if err := o.mem.WriteFile(k, data); err != nil {
		return err
	}
	o.virt[k] = true
	return nil
}

// unset removes the virtual file at path.
func (o *overlayFS) unset(path string) {
	k := key(path)
	delete(o.virt, k)
	_ = o.mem.RemoveAll(k)
}

// virtualBytes returns the virtual file at path, if there is one.
func (o *overlayFS) virtualBytes(path string) ([]byte, bool) {
	k, ok := o.virtual(path)
	if !ok {
		return nil, false
	}
	b, err := o.mem.ReadFile(k)
	return b, err == nil
}

// virtual returns the key of path when it names a virtual file.
func (o *overlayFS) virtual(path string) (string, bool) {
	if c := filepath.Clean(path); o.virt[c] {
		return c, true
	}
	k := key(path)
	return k, o.virt[k]
}

func (o *overlayFS) Create(string) (filesys.File, error) { return nil, errReadOnly }
func (o *overlayFS) Mkdir(string) error                  { return errReadOnly }
func (o *overlayFS) MkdirAll(string) error               { return errReadOnly }
func (o *overlayFS) RemoveAll(string) error              { return errReadOnly }
func (o *overlayFS) WriteFile(string, []byte) error      { return errReadOnly }

func (o *overlayFS) Open(path string) (filesys.File, error) {
	if k, ok := o.virtual(path); ok {
		return o.mem.Open(k)
	}
	return o.disk.Open(path)
}

func (o *overlayFS) IsDir(path string) bool {
	if _, ok := o.virtual(path); ok {
		return false
	}
	return o.disk.IsDir(path)
}

func (o *overlayFS) ReadDir(path string) ([]string, error) {
	names, err := o.disk.ReadDir(path)
	if err != nil {
		return nil, err
	}
	dir := key(filepath.Join(path, "x"))
	dir = filepath.Dir(dir)
	for k := range o.virt {
		if filepath.Dir(k) == dir && !slices.Contains(names, filepath.Base(k)) {
			names = append(names, filepath.Base(k))
		}
	}
	slices.Sort(names)
	return names, nil
}

func (o *overlayFS) CleanedAbs(path string) (filesys.ConfirmedDir, string, error) {
	if k, ok := o.virtual(path); ok {
		d, _, err := o.disk.CleanedAbs(filepath.Dir(k))
		if err != nil {
			return "", "", err
		}
		return d, filepath.Base(k), nil
	}
	return o.disk.CleanedAbs(path)
}

func (o *overlayFS) Exists(path string) bool {
	if _, ok := o.virtual(path); ok {
		return true
	}
	return o.disk.Exists(path)
}

func (o *overlayFS) Glob(pattern string) ([]string, error) {
	out, err := o.disk.Glob(pattern)
	if err != nil {
		return nil, err
	}
	for k := range o.virt {
		if ok, _ := filepath.Match(pattern, k); ok && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (o *overlayFS) ReadFile(path string) ([]byte, error) {
	if k, ok := o.virtual(path); ok {
		return o.mem.ReadFile(k)
	}
	return o.disk.ReadFile(path)
}

// Walk walks the disk only: kustomize's build never walks a tree.
func (o *overlayFS) Walk(path string, walkFn filepath.WalkFunc) error {
	return o.disk.Walk(path, walkFn)
}

var _ filesys.FileSystem = (*overlayFS)(nil)

// exists reports whether path is a file or directory, on disk or virtual.
func (o *overlayFS) exists(path string) (isDir, ok bool) {
	if _, v := o.virtual(path); v {
		return false, true
	}
	fi, err := os.Stat(path)
	if err != nil {
		return false, false
	}
	return fi.IsDir(), true
}
