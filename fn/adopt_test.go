package fn

import (
	"encoding/base64"
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
// with the keys SOPS-encrypted as by default. The material keeps the
// adopted key as kubeadm wrote it (the runbook installs it on the nodes
// from there); every phase then builds with the real kustomize, trusts
// kubeadm's CA exactly while the phase model says, and renders no Secret
// holding a CA key: the preset keeps it out of the cluster. Before, init
// exited 0 and every render failed ("a CA needs the certSign and cRLSign
// key usages").
func TestThePresetKubernetesAdoptsTheCAKubeadmWrote(t *testing.T) {
	pkiDir := t.TempDir()
	kubeadm := testkit.KubeadmCA(t, pkiDir, "")
	dir := t.TempDir()
	testkit.Cmd{Dir: dir, AgeKey: true}.Must(t, "init", "--preset", "kubernetes", "carousel.yaml", "--age", demoRecipient,
		"--ca-cert", filepath.Join(pkiDir, "ca.crt"), "--ca-key", filepath.Join(pkiDir, "ca.key"))
	testkit.Cmd{Dir: dir, AgeKey: true}.Must(t, "start", "carousel.yaml", "--age", demoRecipient)
	kubeadmKey, kubeadmCert := kubeadm.Key, kubeadm.Cert
	pair, err := yaml.ReadFile(filepath.Join(dir, "material", "ca-old.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	v, _ := testkit.Decrypt(t, pair).Pipe(yaml.Lookup("data", "tls.key"))
	key, err := base64.StdEncoding.DecodeString(yaml.GetValue(v))
	if err != nil {
		t.Fatal(err)
	}
	if string(key) != string(kubeadmKey) {
		t.Fatalf("the adopted CA's key in the material is not kubeadm's as it wrote it:\n%s", key)
	}
	seq, _ := phases.Sequence(phases.ScopeCA)
	for _, ph := range seq {
		testkit.SetPhase(t, dir, ph)
		items := testkit.Parse(t, testkit.KustomizeDir(t, dir))
		for _, n := range items {
			if n.GetKind() == "Secret" && strings.Contains(testkit.Decrypt(t, n).MustString(), "PRIVATE KEY") {
				t.Errorf("%s renders a private key into Secret %s/%s", ph, n.GetNamespace(), n.GetName())
			}
		}
		info := testkit.Find(items, "ConfigMap", "kube-public", "cluster-info")
		if info == nil {
			t.Fatalf("%s renders no kube-public/cluster-info", ph)
		}
		kc, _ := info.Pipe(yaml.Lookup("data", "kubeconfig"))
		ca, _ := yaml.MustParse(yaml.GetValue(kc)).Pipe(yaml.Lookup("clusters", "[name=]", "cluster", "certificate-authority-data"))
		if ca == nil {
			ca, _ = yaml.MustParse(yaml.GetValue(kc)).Pipe(yaml.Lookup("clusters"))
			t.Fatalf("%s: cluster-info's kubeconfig has no certificate-authority-data: %s", ph, ca.MustString())
		}
		set, err := base64.StdEncoding.DecodeString(yaml.GetValue(ca))
		if err != nil {
			t.Fatal(err)
		}
		trustsKubeadms := ph != phases.DistrustOld && ph != phases.Cleanup
		if strings.Contains(string(set), strings.TrimSpace(string(kubeadmCert))) != trustsKubeadms {
			t.Errorf("%s: cluster-info trusts kubeadm's CA: %v, want %v", ph, !trustsKubeadms, trustsKubeadms)
		}
	}
}
