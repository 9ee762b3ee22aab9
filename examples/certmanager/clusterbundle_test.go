package certmanager

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/carousel-dev/carousel/internal/certmanager"
)

// TestTrustManagerV025WritesNoClusterBundleTargets is why the cert-manager
// backend renders trust-manager Bundles (trust.cert-manager.io/v1alpha1)
// and no ClusterBundle: v0.25.0 serves the ClusterBundle CRD
// (trust-manager.io/v1alpha2) but its binary runs no controller that writes
// a ClusterBundle's targets (cmd/trust-manager registers only the Bundle
// controller). A ClusterBundle and a Bundle with the same source and
// target selector are applied to the real trust-manager: the Bundle's
// target appears, the ClusterBundle's never does. When an upgrade of the
// pinned trust-manager starts writing it, this test fails, and the
// backend should render ClusterBundles (issue #14).
func TestTrustManagerV025WritesNoClusterBundleTargets(t *testing.T) {
	c := certmanager.Start(t)
	const ns = "clusterbundle-probe"
	pemCert := selfSignedPEM(t, "clusterbundle probe")
	indent := "    " + strings.ReplaceAll(strings.TrimSpace(pemCert), "\n", "\n    ")
	// The ClusterBundle first: by the time the Bundle's target exists,
	// trust-manager has had the ClusterBundle for longer.
	c.KubectlIn(t, []byte(fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: %[1]s
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: %[1]s-source
  namespace: %[2]s
data:
  ca.crt: |
%[3]s
---
apiVersion: trust-manager.io/v1alpha2
kind: ClusterBundle
metadata:
  name: %[1]s-cluster
spec:
  sourceRefs:
  - kind: ConfigMap
    name: %[1]s-source
    key: ca.crt
  target:
    configMap:
      data:
      - key: ca.crt
    namespaceSelector:
      matchLabels: {kubernetes.io/metadata.name: %[1]s}
`, ns, certmanager.Namespace, indent)), "apply", "--server-side", "--field-manager=carousel-test", "-f", "-")
	c.KubectlIn(t, []byte(fmt.Sprintf(`apiVersion: trust.cert-manager.io/v1alpha1
kind: Bundle
metadata:
  name: %[1]s-bundle
spec:
  sources:
  - configMap: {name: %[1]s-source, key: ca.crt}
  target:
    configMap: {key: ca.crt}
    namespaceSelector:
      matchLabels: {kubernetes.io/metadata.name: %[1]s}
`, ns)), "apply", "--server-side", "--field-manager=carousel-test", "-f", "-")
	t.Cleanup(func() {
		c.KubectlErr("delete", "bundles.trust.cert-manager.io", ns+"-bundle", "--ignore-not-found")
		c.KubectlErr("delete", "clusterbundles.trust-manager.io", ns+"-cluster", "--ignore-not-found")
		c.KubectlErr("delete", "namespace", ns, "--wait=false", "--ignore-not-found")
	})
	c.Eventually(t, "the Bundle's target written", func() (bool, string) {
		data := c.ConfigMapData(t, ns, ns+"-bundle")
		return strings.Contains(data["ca.crt"], "BEGIN CERTIFICATE"), fmt.Sprint(data)
	})
	if cm := c.Get(t, "configmap", ns, ns+"-cluster"); cm != nil {
		t.Fatalf("trust-manager wrote the ClusterBundle's target: the pinned version serves ClusterBundles, so the backend should render them\n%s", cm.MustString())
	}
	cb := c.Get(t, "clusterbundles.trust-manager.io", "", ns+"-cluster")
	if cb == nil {
		t.Fatal("the ClusterBundle was not stored: the CRD is not served")
	}
	if st := cb.Field("status"); st != nil && !st.IsNilOrEmpty() {
		t.Fatalf("a controller reported on the ClusterBundle: the pinned trust-manager reconciles it\n%s", cb.MustString())
	}
}

// selfSignedPEM is a throwaway CA certificate (public part only).
func selfSignedPEM(t *testing.T, cn string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
