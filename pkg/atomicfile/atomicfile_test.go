package atomicfile

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestWriteFileReplacesTheFileWithItsModeAndLeavesNoTemporaryFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "ca-old.yaml")
	for _, data := range []string{"first\n", "second\n"} {
		if err := WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != data {
			t.Fatalf("read %q, %v; want %q", got, err, data)
		}
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("the directory holds %v", entries)
	}
}

func TestCleanTempsRemovesOnlyInterruptedWrites(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{".ca-new.yaml" + tempInfix + "123", "ca-new.yaml", ".sops.yaml"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := CleanTemps(dir)
	if err != nil || len(removed) != 1 || !strings.Contains(removed[0], tempInfix) {
		t.Fatalf("removed %v, %v", removed, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Fatalf("left %v", entries)
	}
}

// Every file change of the product goes through this package: no other
// non-test Go file (hack/ and internal/ are tooling) calls the os functions
// that write, create, remove or rename.
func TestNoOtherProductFileWritesOutsideThisPackage(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	direct := regexp.MustCompile(`os\.(WriteFile|Create|Remove|RemoveAll|Rename)\(`)
	var found []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if rel == "hack" || rel == "internal" || strings.HasPrefix(d.Name(), ".") || d.Name() == "bin" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if direct.Match(b) {
			found = append(found, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || found[0] != "pkg/atomicfile/atomicfile.go" {
		t.Fatalf("files that change files directly: %v; route them through pkg/atomicfile", found)
	}
}
