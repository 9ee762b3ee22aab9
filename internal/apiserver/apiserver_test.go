package apiserver

import (
	"os"
	"strings"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// TestServer checks the harness gives what the suites rely on: a server
// that stores what is applied, refuses what is invalid, and authorizes with
// RBAC (so a manifest cannot pass only because everything is allowed).
func TestServer(t *testing.T) {
	s := Start(t)
	if again := Start(t); again != s {
		t.Fatal("Start started a second server in the same test binary")
	}
	ns := []byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: harness\n")
	s.KubectlIn(t, ns, "apply", "--server-side", "--field-manager=test", "-f", "-")
	if out := s.Kubectl(t, "get", "namespace", "harness", "-o", "name"); strings.TrimSpace(string(out)) != "namespace/harness" {
		t.Fatalf("applied namespace not stored: %q", out)
	}

	bad := []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: broken\n  namespace: harness\ntype: kubernetes.io/tls\ndata:\n  tls.crt: Zm9v\n")
	_, stderr, err := s.KubectlInErr(bad, "apply", "--server-side", "--dry-run=server", "-f", "-")
	if err == nil || !strings.Contains(string(stderr), "tls.key") {
		t.Fatalf("a TLS Secret without tls.key was accepted (err %v): %s", err, stderr)
	}

	out, _, err := s.KubectlErr("auth", "can-i", "get", "secrets", "--as=nobody")
	if err == nil || strings.TrimSpace(string(out)) != "no" {
		t.Fatalf("an unprivileged user may read secrets (%q, %v): RBAC is not on", out, err)
	}
	if out := s.Kubectl(t, "auth", "can-i", "get", "secrets"); strings.TrimSpace(string(out)) != "yes" {
		t.Fatalf("the admin may not read secrets: %q", out)
	}
}
