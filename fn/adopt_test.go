package main

import (
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
)

// TestThePresetKubernetesAdoptsTheCAKubeadmWrote is the first step of a
// real cluster-CA rotation, as the issue reported it: `init --preset
// kubernetes` adopting /etc/kubernetes/pki/ca.crt and ca.key made by
// kubeadm's own code (RSA 2048 in PKCS#1, keyCertSign without cRLSign),
// with the keys SOPS-encrypted as by default. Every phase then builds with
// the real kustomize, and the cluster-ca Secret carries the adopted key as
// kubeadm wrote it while that CA signs. Before, init exited 0 and every
// render failed ("a CA needs the certSign and cRLSign key usages").
func TestThePresetKubernetesAdoptsTheCAKubeadmWrote(t *testing.T) {
	pkiDir := t.TempDir()
	if out, err := exec.Command(testkit.Tool(t, "kubeadm-ca"), "make", "-dir", pkiDir).CombinedOutput(); err != nil {
		t.Fatalf("kubeadm-ca make: %v\n%s", err, out)
	}
	dir := t.TempDir()
	mustCarousel(t, dir, "init", "--preset", "kubernetes", "carousel.yaml", "--age", demoRecipient,
		"--ca-cert", filepath.Join(pkiDir, "ca.crt"), "--ca-key", filepath.Join(pkiDir, "ca.key"))
	mustCarousel(t, dir, "start", "carousel.yaml", "--age", demoRecipient)
	kubeadmKey, err := os.ReadFile(filepath.Join(pkiDir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	seq, _ := phases.Sequence(phases.ScopeCA)
	for _, ph := range seq {
		testkit.SetPhase(t, dir, ph)
		items := testkit.Parse(t, testkit.KustomizeDir(t, dir))
		s := testkit.Find(items, "Secret", "kube-system", "cluster-ca")
		if s == nil {
			t.Fatalf("%s renders no kube-system/cluster-ca", ph)
		}
		v, _ := testkit.Decrypt(t, s).Pipe(yaml.Lookup("data", "tls.key"))
		key, err := base64.StdEncoding.DecodeString(yaml.GetValue(v))
		if err != nil {
			t.Fatal(err)
		}
		signsWithKubeadms := ph == phases.Steady || ph == phases.TrustNew
		if (string(key) == string(kubeadmKey)) != signsWithKubeadms {
			t.Errorf("%s: cluster-ca holds kubeadm's key: %v, want %v", ph, string(key) == string(kubeadmKey), signsWithKubeadms)
		}
		if !signsWithKubeadms && !strings.Contains(string(key), "EC PRIVATE KEY") {
			t.Errorf("%s: the CA carousel made is not spec.ca.key's SEC 1:\n%s", ph, key)
		}
	}
}
