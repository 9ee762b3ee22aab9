package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Options is one release build.
type Options struct {
	Repo, Out       string
	Version, Commit string
	// Time is what every artifact carries as its time: the commit's.
	Time time.Time
}

// Platform is one target of the binaries.
type Platform struct{ OS, Arch string }

func (p Platform) String() string { return p.OS + "/" + p.Arch }

// Platforms are the binaries' targets; the image holds the linux ones.
var Platforms = []Platform{{"linux", "amd64"}, {"linux", "arm64"}, {"darwin", "amd64"}, {"darwin", "arm64"}}

// BinaryName is the file name of a platform's binary in the output.
func BinaryName(p Platform) string { return "carousel-" + p.OS + "-" + p.Arch }

// Build writes every artifact into o.Out (made afresh) and returns their
// names, sorted. It writes into a sibling directory and renames it into
// place at the end, so a failed or killed build leaves the previous output
// as it was.
func Build(o Options) ([]string, error) {
	repo, err := filepath.Abs(o.Repo)
	if err != nil {
		return nil, err
	}
	out, err := filepath.Abs(o.Out)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(out), "."+filepath.Base(out)+".")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	for _, p := range Platforms {
		bin := filepath.Join(tmp, BinaryName(p))
		if err := goBuild(repo, bin, p, o); err != nil {
			return nil, err
		}
		if err := os.Chtimes(bin, o.Time, o.Time); err != nil {
			return nil, err
		}
		sbom, err := SBOM(bin, o)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", BinaryName(p), err)
		}
		if err := os.WriteFile(bin+".cdx.json", sbom, 0o644); err != nil {
			return nil, err
		}
	}
	if err := Image(filepath.Join(tmp, "oci"), tmp, o); err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	if err := tarDir(filepath.Join(tmp, "oci"), filepath.Join(tmp, "carousel-oci.tar"), o.Time); err != nil {
		return nil, err
	}
	names, err := sums(tmp)
	if err != nil {
		return nil, err
	}
	// MkdirTemp made tmp private; the release directory is read by others.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(out); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, out); err != nil {
		return nil, err
	}
	return names, nil
}

// goBuild builds carousel for p: static (CGO off), with no path of this
// machine (-trimpath), no build ID, no VCS stamp and no DWARF (compiled
// as the Makefile compiles carousel, so linux/amd64 comes from its cache), and the version and
// commit set as `carousel version` reports them.
func goBuild(repo, bin string, p Platform, o Options) error {
	ld := fmt.Sprintf("-s -w -buildid= -X github.com/carousel-dev/carousel/fn.version=%s -X github.com/carousel-dev/carousel/fn.commit=%s", o.Version, o.Commit)
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags", ld, "-o", bin, "./cmd/carousel")
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Arch, "GOFLAGS=-mod=readonly -gcflags=all=-dwarf=false", "GOTOOLCHAIN=local")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build for %s: %v\n%s", p, err, b)
	}
	return nil
}

// sums writes SHA256SUMS (sha256sum's format, sorted by name) over every
// file in dir, and returns the names of all files including it.
func sums(dir string) ([]string, error) {
	var names []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if !strings.HasPrefix(rel, "oci"+string(filepath.Separator)) {
			names = append(names, rel)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	var b bytes.Buffer
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return nil, err
		}
		h := sha256.Sum256(data)
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(h[:]), filepath.ToSlash(n))
	}
	if err := os.WriteFile(filepath.Join(dir, "SHA256SUMS"), b.Bytes(), 0o644); err != nil {
		return nil, err
	}
	return append(names, "SHA256SUMS", "oci/"), nil
}

// tarDir writes dir as a tar archive whose entries are sorted and carry
// t, owner 0 and fixed modes: the same tree gives the same bytes.
func tarDir(dir, file string, t time.Time) error {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	var paths []string
	if err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && path != dir {
			paths = append(paths, path)
		}
		return err
	}); err != nil {
		return err
	}
	slices.Sort(paths)
	for _, path := range paths {
		fi, err := os.Stat(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		h := &tar.Header{Name: filepath.ToSlash(rel), ModTime: t, Format: tar.FormatPAX, Mode: 0o644, Typeflag: tar.TypeReg, Size: fi.Size()}
		if fi.IsDir() {
			h.Name, h.Mode, h.Typeflag, h.Size = h.Name+"/", 0o755, tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !fi.IsDir() {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if _, err := tw.Write(data); err != nil {
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return os.WriteFile(file, b.Bytes(), 0o644)
}
