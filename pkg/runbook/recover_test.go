package runbook_test

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/phases"
)

// recoverPackage is examples/cluster-ca on the recover route: the same
// material, the old CA standing for the expired one.
func recoverPackage(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "cluster-ca")
	if err := os.CopyFS(dir, os.DirFS(example(t, "cluster-ca"))); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "carousel.yaml")
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("\n  phase: steady\n")) {
		t.Fatal("examples/cluster-ca is not at steady")
	}
	b = bytes.Replace(b, []byte("\n  phase: steady\n"), []byte("\n  scope: recover\n  phase: steady\n"), 1)
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

const bootstrapToken = "abcdef.0123456789abcdef"

// TestTheRecoverRunbookBringsTheControlPlaneBackBeforeTheObjects rehearses
// the node steps of the recover route's replace (docs/phases.md, "Recover:
// an expired or lost CA") with bash, the real kubectl and sops on a
// kubeadm-shaped tree: they run before the phase's objects; ca.crt and
// ca.key become the new CA, read from the material without the old CA's
// key; kubeadm re-issues the API server's certificates and the
// control-plane kubeconfigs only once ca.crt holds the new CA, and before
// the static pods restart; the kubeconfigs trust the new CA alone; the
// kubelet trusts it and re-bootstraps with a token; the flags stay on the
// kubeadm layout and nothing else on the node changes.
func TestTheRecoverRunbookBringsTheControlPlaneBackBeforeTheObjects(t *testing.T) {
	r := newRehearsal(t, recoverPackage(t))
	r.env = append(r.env, "TOKEN="+bootstrapToken)
	s := r.step(phases.Steady, phases.Replace)
	newCA := r.ca[phases.New]
	tests := []struct {
		name string
		ok   func(t *testing.T) bool
	}{
		{"the node steps run before replace's objects are applied", func(t *testing.T) bool {
			return s.RunbookBefore && len(s.Runbook) == 6
		}},
		{"the steps come in the order that brings the cluster back", func(t *testing.T) bool {
			order := []string{"Write the new CA as ca.crt and ca.key", "Re-issue the control plane's certificates", "Control-plane kubeconfigs", "Restart kube-apiserver, kube-controller-manager and kube-scheduler", "kubelet:", "Verify"}
			for i, st := range s.Runbook {
				if !strings.HasPrefix(st.Title, order[i]) {
					t.Logf("step %d: %q, want %q", i+1, st.Title, order[i])
					return false
				}
			}
			return strings.Contains(s.Runbook[5].Verify[0], "get nodes")
		}},
		{"no command reads the old CA's material", func(t *testing.T) bool {
			for _, st := range s.Runbook {
				for _, c := range st.Commands {
					if strings.Contains(c, "ca-old") {
						t.Log(c)
						return false
					}
				}
			}
			return true
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.ok(t) {
				t.Error("does not hold")
			}
		})
	}

	oldKubelet := r.read("etc/kubernetes/kubelet.conf")
	out, failed, stderr := r.move(phases.Steady, phases.Replace)
	if failed != "" {
		t.Fatalf("a command failed:\n%s\n%s\n%s", failed, stderr, out)
	}
	calls := r.calls()
	newHash := "ca=" + sha(pemCerts(newCA.cert))
	checks := []struct {
		name string
		ok   func(t *testing.T) bool
	}{
		{"ca.crt and ca.key are the new CA", func(t *testing.T) bool {
			r.trusts("ca.crt", "etc/kubernetes/pki/ca.crt", []*x509.Certificate{newCA.cert})
			r.keyMatches("ca.key", "etc/kubernetes/pki/ca.key", newCA.cert)
			return !t.Failed()
		}},
		{"kubeadm re-issues the API server's certificates and every kubeconfig with the new CA, before any restart", func(t *testing.T) bool {
			want := []string{"certs renew apiserver ", "certs renew apiserver-kubelet-client ", "certs renew admin.conf ", "certs renew controller-manager.conf ", "certs renew scheduler.conf ", "certs renew super-admin.conf "}
			firstRestart := slices.IndexFunc(calls, func(c string) bool { return strings.HasPrefix(c, "crictl") })
			for _, w := range want {
				i := slices.IndexFunc(calls, func(c string) bool { return strings.Contains(c, "kubeadm "+w) })
				if i < 0 || !strings.Contains(calls[i], newHash) || (firstRestart >= 0 && i > firstRestart) {
					t.Logf("%q: at %d (first restart %d) in %q", w, i, firstRestart, calls)
					return false
				}
			}
			return firstRestart >= 0
		}},
		{"the static pods restart, then the kubelet", func(t *testing.T) bool {
			var order []string
			for _, c := range calls {
				if strings.HasPrefix(c, "crictl") || strings.HasPrefix(c, "systemctl") {
					order = append(order, c)
				}
			}
			last := order[len(order)-1]
			return len(order) > 1 && strings.HasPrefix(last, "systemctl restart kubelet") &&
				slices.ContainsFunc(order, func(c string) bool { return strings.Contains(c, "kube-apiserver") }) &&
				slices.ContainsFunc(order, func(c string) bool { return strings.Contains(c, "kube-controller-manager") }) &&
				slices.ContainsFunc(order, func(c string) bool { return strings.Contains(c, "kube-scheduler") })
		}},
		{"the control-plane kubeconfigs trust the new CA alone", func(t *testing.T) bool {
			for _, c := range []string{"admin.conf", "super-admin.conf", "controller-manager.conf", "scheduler.conf"} {
				r.kubeconfigCA(c, []*x509.Certificate{newCA.cert})
			}
			return !t.Failed()
		}},
		{"the kubelet re-bootstraps: kubelet.conf and its client certificates are gone, the bootstrap kubeconfig trusts the new CA, with the token, at the same server", func(t *testing.T) bool {
			if r.exists("etc/kubernetes/kubelet.conf") || r.exists("var/lib/kubelet/pki/kubelet-client-current.pem") {
				return false
			}
			n, err := yaml.Parse(string(r.read("etc/kubernetes/bootstrap-kubelet.conf")))
			if err != nil {
				t.Log(err)
				return false
			}
			get := func(path ...string) string {
				v, _ := n.Pipe(yaml.Lookup(path...))
				return yaml.GetValue(v)
			}
			ca, _ := base64.StdEncoding.DecodeString(get("clusters", "[name=default]", "cluster", "certificate-authority-data"))
			return sameSet(parseCerts(t, "bootstrap-kubelet.conf", ca), []*x509.Certificate{newCA.cert}) &&
				get("clusters", "[name=default]", "cluster", "server") == "https://10.0.0.1:6443" &&
				get("users", "[name=kubelet-bootstrap]", "user", "token") == bootstrapToken &&
				get("current-context") == "default" && bytes.Contains(oldKubelet, []byte("https://10.0.0.1:6443"))
		}},
		{"the kubelet verifies its clients with the new CA", func(t *testing.T) bool {
			return strings.Contains(string(r.read("var/lib/kubelet/config.yaml")), "clientCAFile: /etc/kubernetes/pki/ca.crt")
		}},
		{"every flag stays on the kubeadm layout's files and nothing else on the node changes", func(t *testing.T) bool {
			r.unchangedExcept([]string{
				"etc/kubernetes/pki/ca.crt", "etc/kubernetes/pki/ca.key",
				"etc/kubernetes/admin.conf", "etc/kubernetes/super-admin.conf", "etc/kubernetes/controller-manager.conf", "etc/kubernetes/scheduler.conf",
				"etc/kubernetes/kubelet.conf", "etc/kubernetes/bootstrap-kubelet.conf", "var/lib/kubelet/pki/kubelet-client-current.pem",
			}, nil)
			return !t.Failed()
		}},
	}
	for _, tt := range checks {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.ok(t) {
				t.Error("does not hold")
			}
		})
	}
}

// TestTheRecoverRunbookStopsBeforeTheKubeletWithoutAToken: the kubelet step
// needs a bootstrap token; without one it says how to make it and removes
// nothing, so the node keeps its kubelet.conf.
func TestTheRecoverRunbookStopsBeforeTheKubeletWithoutAToken(t *testing.T) {
	r := newRehearsal(t, recoverPackage(t))
	_, failed, stderr := r.move(phases.Steady, phases.Replace)
	if !strings.Contains(failed, "TOKEN") || !strings.Contains(stderr, "kubeadm token create") {
		t.Fatalf("the kubelet step must refuse without TOKEN, naming how to make one: failed %q, said %q", failed, stderr)
	}
	if !r.exists("etc/kubernetes/kubelet.conf") || !r.exists("var/lib/kubelet/pki/kubelet-client-current.pem") {
		t.Error("the refused kubelet step removed the kubelet's files")
	}
}
