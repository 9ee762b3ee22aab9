package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carousel-dev/carousel/internal/testkit"
)

// Two `start`s at once on one package: the package lock lets exactly one
// write; the other is refused (by the lock, or, when it comes second, by
// the material the first one committed). Twenty rounds, each on a fresh
// package, with the real binary.
func TestConcurrentStartsOneWinsAndTheMaterialIsNeverMixed(t *testing.T) {
	bin := testkit.Carousel(t)
	snapshot := filepath.Join(t.TempDir(), "pkg")
	if err := os.MkdirAll(snapshot, 0o755); err != nil {
		t.Fatal(err)
	}
	crashPackage(t, snapshot)
	mustRun(t, snapshot, "init", "carousel.yaml", "--plaintext-keys")
	for round := range 20 {
		dir := filepath.Join(t.TempDir(), "pkg")
		if err := os.CopyFS(dir, os.DirFS(snapshot)); err != nil {
			t.Fatal(err)
		}
		var cmds [2]*exec.Cmd
		var outs [2]bytes.Buffer
		for i := range cmds {
			cmds[i] = exec.Command(bin, "start", "carousel.yaml", "--plaintext-keys")
			cmds[i].Dir = dir
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
