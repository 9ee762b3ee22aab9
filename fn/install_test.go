package fn

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInstallCopiesTheBinaryThatRunsAndAnyOtherProgram: the init
// containers' copy works without a shell: carousel copies itself (the copy
// runs), and copies another image's program under its own name and mode.
func TestInstallCopiesTheBinaryThatRunsAndAnyOtherProgram(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "custom-tools")
	if out := offline.Must(t, "install", dir).Stdout; strings.TrimSpace(out) != filepath.Join(dir, "carousel") {
		t.Fatalf("install prints the path it wrote, got %q", out)
	}
	copied := offline
	copied.Bin = filepath.Join(dir, "carousel")
	if out := copied.Must(t, "version").Stdout; !strings.HasPrefix(out, "carousel ") {
		t.Fatalf("the copy does not run: %q", out)
	}
	other := filepath.Join(t.TempDir(), "kustomize")
	if err := os.WriteFile(other, []byte("#!/bin/sh\necho kustomize\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	copied.Must(t, "install", "--from", other, dir)
	fi, err := os.Stat(filepath.Join(dir, "kustomize"))
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("want %s/kustomize with mode 0755: %v %v", dir, fi, err)
	}
	if r := offline.Run(t, "install", "--from", filepath.Join(dir, "nope"), dir); r.Code != 1 {
		t.Fatalf("a missing program must fail with 1, got %d:\n%s", r.Code, r.Out)
	}
}
