package rotate

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestWithoutEncryptionOrTheOptInNoKeyIsWritten(t *testing.T) {
	p := newPackage(t)
	_, err := Init(p, Options{Stderr: &bytes.Buffer{}})
	if err == nil {
		t.Fatal("init wrote keys without encryption or --plaintext-keys")
	}
	if _, statErr := os.Stat(p.MaterialDir()); statErr == nil {
		entries, _ := os.ReadDir(p.MaterialDir())
		if len(entries) > 0 {
			t.Fatalf("a refused init left files: %v", entries)
		}
	}
}

func TestThePlaintextOptInWarns(t *testing.T) {
	p := newPackage(t)
	var stderr bytes.Buffer
	if _, err := Init(p, Options{Plaintext: true, Stderr: &stderr}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "PLAINTEXT") {
		t.Fatalf("no warning on stderr: %q", stderr.String())
	}
}
