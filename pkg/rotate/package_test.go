package rotate

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

const rotation = `# The mesh trust anchor.
apiVersion: carousel.dev/v1alpha1
kind: CARotation
metadata:
  name: mesh
spec:
  phase: steady # advanced one PR at a time
  ca:
    commonName: root.mesh
  leaves:
  - name: issuer
    secret: {name: issuer, namespace: mesh}
    isCA: true
    usages: [server, client]
`

func newPackage(t *testing.T) *Package {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "carousel.yaml")
	if err := os.WriteFile(file, []byte(rotation), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var plaintext = Options{Plaintext: true, Stderr: &bytes.Buffer{}}
