package rotate

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRerunningCSRIsRefusedWithoutForceAndReplacesWithIt(t *testing.T) {
	p := newPackage(t)
	if _, err := Init(p, plaintext); err != nil {
		t.Fatal(err)
	}
	req := CSRRequest{CA: true, Leaves: []string{"issuer"}}
	if _, err := CSR(p, plaintext, req); err != nil {
		t.Fatal(err)
	}
	read := func() map[string][]byte {
		out := map[string][]byte{}
		entries, _ := os.ReadDir(p.PendingDir())
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(p.PendingDir(), e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out[e.Name()] = b
		}
		return out
	}
	first := read()
	if len(first) != 4 {
		t.Fatalf("csr wrote %d files, want a key and a CSR for each of 2 requests", len(first))
	}
	// Rerunning with an overlapping request is refused, and writes nothing.
	_, err := CSR(p, plaintext, CSRRequest{Leaves: []string{"issuer"}})
	if err == nil || !strings.Contains(err.Error(), "--force") || !strings.Contains(err.Error(), "leaf-issuer-new.yaml") {
		t.Fatalf("a rerun must be refused, naming the pending request and --force: %v", err)
	}
	for name, b := range read() {
		if !bytes.Equal(b, first[name]) {
			t.Fatalf("the refused csr changed %s", name)
		}
	}
	// --force replaces the request (a new key, a new CSR) and only it.
	if _, err := CSR(p, plaintext, CSRRequest{Leaves: []string{"issuer"}, Force: true}); err != nil {
		t.Fatal(err)
	}
	second := read()
	for _, name := range []string{"leaf-issuer-new.yaml", "leaf-issuer-new.csr"} {
		if bytes.Equal(second[name], first[name]) {
			t.Fatalf("--force did not replace %s", name)
		}
	}
	for _, name := range []string{"ca-new.yaml", "ca-new.csr"} {
		if !bytes.Equal(second[name], first[name]) {
			t.Fatalf("--force replaced %s, which was not requested", name)
		}
	}
}
