package certmanager

import (
	"bytes"
	"crypto/x509"
	"os"
	"testing"

	"github.com/carousel-dev/carousel/internal/apiserver"
	"github.com/carousel-dev/carousel/pkg/pki"
)

func TestMain(m *testing.M) {
	code := m.Run()
	apiserver.Stop()
	os.Exit(code)
}

const smoke = `apiVersion: v1
kind: Namespace
metadata:
  name: smoke
  labels:
    smoke: "yes"
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata:
  name: smoke-selfsigned
spec:
  selfSigned: {}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: smoke-ca
  namespace: cert-manager
spec:
  isCA: true
  commonName: smoke root
  secretName: smoke-ca
  duration: 87600h
  privateKey:
    algorithm: ECDSA
    size: 256
    rotationPolicy: Never
  issuerRef:
    group: cert-manager.io
    kind: ClusterIssuer
    name: smoke-selfsigned
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata:
  name: smoke-ca
spec:
  ca:
    secretName: smoke-ca
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: smoke-leaf
  namespace: smoke
spec:
  commonName: leaf.smoke.svc
  dnsNames: [leaf.smoke.svc]
  secretName: smoke-leaf
  usages: [server auth, client auth]
  privateKey:
    algorithm: ECDSA
    size: 256
  issuerRef:
    group: cert-manager.io
    kind: ClusterIssuer
    name: smoke-ca
---
apiVersion: trust.cert-manager.io/v1alpha1
kind: Bundle
metadata:
  name: smoke-roots
spec:
  sources:
  - secret:
      name: smoke-ca
      key: tls.crt
  target:
    configMap:
      key: roots.pem
    namespaceSelector:
      matchLabels:
        smoke: "yes"
`

// TestTheRealControllersIssueAndDistribute is the harness's smoke test: a
// self-signed CA Certificate, a CA ClusterIssuer over its Secret and a leaf
// Certificate from it are issued by the real cert-manager controllers, and a
// trust-manager Bundle over the CA Secret writes its target ConfigMap with
// exactly that CA. The leaf must verify against the bundle with crypto/x509.
func TestTheRealControllersIssueAndDistribute(t *testing.T) {
	c := Start(t)
	c.ApplyYAML(t, smoke)

	for _, w := range []struct{ kind, ns, name string }{
		{"certificate", Namespace, "smoke-ca"},
		{"clusterissuer", "", "smoke-ca"},
		{"certificate", "smoke", "smoke-leaf"},
	} {
		c.WaitReady(t, w.kind, w.ns, w.name)
	}

	ca := c.SecretData(t, Namespace, "smoke-ca")
	leaf := c.SecretData(t, "smoke", "smoke-leaf")
	if len(ca["tls.key"]) == 0 || len(leaf["tls.key"]) == 0 {
		t.Fatal("cert-manager wrote no private key")
	}
	caCert := parseOne(t, ca["tls.crt"])
	if !caCert.IsCA || caCert.Subject.CommonName != "smoke root" {
		t.Fatalf("CA Secret holds %q (isCA %v), not the self-signed CA", caCert.Subject, caCert.IsCA)
	}
	var roots string
	c.Eventually(t, "Bundle target ConfigMap", func() (bool, string) {
		roots = c.ConfigMapData(t, "smoke", "smoke-roots")["roots.pem"]
		return roots != "", "no roots.pem in smoke/smoke-roots"
	})
	if got := parseAll(t, []byte(roots)); len(got) != 1 || !got[0].Equal(caCert) {
		t.Fatalf("the Bundle target holds %d certificates, not exactly the CA", len(got))
	}
	if c.Get(t, "configmap", "default", "smoke-roots") != nil {
		t.Fatal("trust-manager wrote the target into a namespace the selector does not match")
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(roots))
	leafCert := parseOne(t, leaf["tls.crt"])
	if _, err := leafCert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "leaf.smoke.svc"}); err != nil {
		t.Fatalf("the issued leaf does not verify against the distributed bundle: %v", err)
	}
	if !bytes.Equal(leaf["ca.crt"], ca["tls.crt"]) {
		t.Fatal("the leaf Secret's ca.crt is not its issuing CA")
	}
}

func parseAll(t testing.TB, b []byte) []*x509.Certificate {
	t.Helper()
	out, err := pki.ParseCerts(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func parseOne(t testing.TB, b []byte) *x509.Certificate {
	t.Helper()
	cs := parseAll(t, b)
	if len(cs) != 1 {
		t.Fatalf("want one certificate, got %d", len(cs))
	}
	return cs[0]
}
