package rotate

import (
	"path/filepath"
	"strings"
	"testing"
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
