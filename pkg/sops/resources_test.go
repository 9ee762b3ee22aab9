package sops_test

import (
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/sops"
)

func encryptedSecrets(items []*yaml.RNode) []*yaml.RNode {
	var out []*yaml.RNode
	for _, n := range items {
		if n.GetKind() == "Secret" && n.Field("sops") != nil {
			out = append(out, n)
		}
	}
	return out
}

func errorResults(rs framework.Results) framework.Results {
	var out framework.Results
	for _, r := range rs {
		if r.Severity == framework.Error {
			out = append(out, r)
		}
	}
	return out
}

func TestDecryptResourcesChecksEveryRenderedSecret(t *testing.T) {
	bin := withDemoIdentity(t)
	for _, dir := range testkit.Examples(t) {
		pkg := testkit.Load(t, dir)
		seq := pkg.Phases(t)
		// The first phase, and the one that signs with the new material.
		for _, phase := range []phases.Phase{seq[0], seq[len(seq)/2]} {
			t.Run(filepath.Base(dir)+"/"+string(phase), func(t *testing.T) {
				items := pkg.Render(t, phase).Items
				secrets := encryptedSecrets(items)
				if len(secrets) == 0 {
					t.Fatal("the example renders no encrypted Secret: nothing would be checked")
				}
				out, results := sops.DecryptResources(bin, items)
				if errs := errorResults(results); len(errs) > 0 || len(out) != len(items) {
					t.Fatalf("want every item decrypted, got %d of %d: %v", len(out), len(items), errs)
				}
				for _, n := range encryptedSecrets(out) {
					t.Fatalf("%s %s still carries sops metadata", n.GetKind(), n.GetName())
				}
				// Every encrypted Secret says which key it compared with which certificate.
				said := 0
				for _, r := range results {
					if r.Severity == framework.Info && strings.Contains(r.Message, "matches the certificate in data.") {
						said++
					}
				}
				if said != len(secrets) {
					t.Fatalf("want a comparison reported for each of the %d encrypted Secrets, got %d: %v", len(secrets), said, results)
				}
			})
		}
	}
}

func TestDecryptResourcesIsAllOrNothing(t *testing.T) {
	bin := withDemoIdentity(t)
	pkg := testkit.Load(t, filepath.Join(testkit.Root(t), "examples", "cluster-ca"))
	render := func() []*yaml.RNode { return pkg.Render(t, phases.Steady).Items }
	find := func(items []*yaml.RNode, ns, name string) int {
		for i, n := range items {
			if n.GetKind() == "Secret" && n.GetNamespace() == ns && n.GetName() == name {
				return i
			}
		}
		t.Fatalf("no Secret %s/%s in the render", ns, name)
		return -1
	}
	tests := []struct {
		name   string
		break_ func(items []*yaml.RNode)
		ref    string // the failing Secret
		field  string
		says   string
	}{
		{"a Secret holding another leaf's key is refused", func(items []*yaml.RNode) {
			i, j := find(items, "policy", "policy-webhook-tls"), find(items, "monitoring", "metrics-client-tls")
			items[i] = testkit.SwapKey(t, items[i], items[j], "tls.key")
		}, "policy-webhook-tls", "data.tls.key", "does not match the certificate in data.tls.crt"},
		{"a leaf Secret holding the CA's key is refused", func(items []*yaml.RNode) {
			i, j := find(items, "policy", "policy-webhook-tls"), find(items, "kube-system", "cluster-ca")
			items[i] = testkit.SwapKey(t, items[i], items[j], "tls.key")
		}, "policy-webhook-tls", "data.tls.key", "does not match the certificate in data.tls.crt"},
		{"a Secret that does not decrypt is refused", func(items []*yaml.RNode) {
			i := find(items, "monitoring", "metrics-client-tls")
			v, _ := items[i].Pipe(yaml.Lookup("data", "tls.key"))
			v.YNode().Value = strings.Replace(v.YNode().Value, "data:", "data:AAAA", 1)
		}, "metrics-client-tls", "", "decrypting"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items := render()
			tt.break_(items)
			out, results := sops.DecryptResources(bin, items)
			if out != nil {
				t.Fatalf("want no items when one fails, got %d", len(out))
			}
			errs := errorResults(results)
			if len(errs) != 1 {
				t.Fatalf("want exactly one error result, got %v", errs)
			}
			r := errs[0]
			if r.ResourceRef == nil || r.ResourceRef.Name != tt.ref || r.ResourceRef.Kind != "Secret" {
				t.Fatalf("want the result to point at Secret %s, got %+v", tt.ref, r.ResourceRef)
			}
			if tt.field != "" && (r.Field == nil || r.Field.Path != tt.field) {
				t.Fatalf("want field %s, got %+v", tt.field, r.Field)
			}
			if !strings.Contains(r.Message, tt.says) {
				t.Fatalf("want %q in %q", tt.says, r.Message)
			}
		})
	}
}

func TestCheckSecretKeysWithoutACertificateComparesNothing(t *testing.T) {
	n := yaml.MustParse(`apiVersion: v1
kind: Secret
metadata: {name: only-key}
stringData:
  key.pem: |
    -----BEGIN PRIVATE KEY-----
    AAAA
    -----END PRIVATE KEY-----
`)
	compared, skipped, err := sops.CheckSecretKeys(n)
	if err != nil || len(compared) != 0 || len(skipped) != 1 || skipped[0] != "stringData.key.pem" {
		t.Fatalf("want stringData.key.pem skipped, got %v %v %v", compared, skipped, err)
	}
}

// pem returns a KeyPair's certificate and decrypted private key, as PEM.
func pem(t *testing.T, n *yaml.RNode) (cert, key string) {
	t.Helper()
	c, _ := n.Pipe(yaml.Lookup("certificate"))
	k, err := testkit.Decrypt(t, n).Pipe(yaml.Lookup("data", "tls.key"))
	if err != nil || k == nil {
		t.Fatalf("%s: no data.tls.key", n.GetName())
	}
	b, err := base64.StdEncoding.DecodeString(yaml.GetValue(k))
	if err != nil {
		t.Fatal(err)
	}
	return yaml.GetValue(c), string(b)
}

// secret makes a Secret holding values (field name -> PEM) under data, in
// the order given, as kustomize hands them over (sorted) or as written.
func secret(t *testing.T, kv ...string) *yaml.RNode {
	t.Helper()
	n := yaml.MustParse("apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: ns}\ndata: {}\n")
	for i := 0; i+1 < len(kv); i += 2 {
		if err := n.PipeE(yaml.Lookup("data"), yaml.SetField(kv[i], yaml.NewStringRNode(base64.StdEncoding.EncodeToString([]byte(kv[i+1]))))); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

func TestCheckSecretKeysHoldsEachKeyToItsOwnCertificate(t *testing.T) {
	withDemoIdentity(t)
	m := materialNodes(t, "cluster-ca")
	caCert, caKey := pem(t, m["ca-old"])
	newCACert, _ := pem(t, m["ca-new"])
	leafCert, leafKey := pem(t, m["leaf-policy-webhook-old"])
	_, otherKey := pem(t, m["leaf-metrics-client-old"])
	tests := []struct {
		name   string
		secret *yaml.RNode
		pairs  string // "key->cert" compared, or "" when refused
		says   string // the error, when refused
	}{
		{"a TLS Secret in kustomize's sorted order (ca.crt first) is held to tls.crt",
			secret(t, "ca.crt", caCert, "tls.crt", leafCert, "tls.key", leafKey), "data.tls.key->data.tls.crt", ""},
		{"a leaf Secret holding the CA's key is refused, although the key matches ca.crt",
			secret(t, "ca.crt", caCert, "tls.crt", leafCert, "tls.key", caKey), "", "data.tls.key: the private key does not match the certificate in data.tls.crt"},
		{"a leaf Secret holding another leaf's key is refused",
			secret(t, "tls.crt", leafCert, "tls.key", otherKey, "ca.crt", caCert), "", "does not match the certificate in data.tls.crt"},
		{"the CA Secret is held to its own certificate, not the bundle",
			secret(t, "ca.crt", newCACert+caCert, "tls.crt", caCert, "tls.key", caKey), "data.tls.key->data.tls.crt", ""},
		{"custom names pair by stem (cert.key with cert.pem)",
			secret(t, "ca.cert", caCert, "cert.key", leafKey, "cert.pem", leafCert), "data.cert.key->data.cert.pem", ""},
		{"a key named unlike any certificate is held to the only leaf certificate",
			secret(t, "bundle", caCert, "private", caKey, "public", leafCert), "", "data.private: the private key does not match the certificate in data.public"},
		{"CA values under unrelated names: the key must match one of them",
			secret(t, "a", newCACert, "b", caCert, "k", caKey), "data.k->data.b", ""},
		{"CA values under unrelated names: a leaf key matches none",
			secret(t, "a", newCACert, "b", caCert, "k", leafKey), "", "matches none of the certificates beside it (data.a, data.b)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			compared, _, err := sops.CheckSecretKeys(tt.secret)
			if tt.pairs == "" {
				if err == nil || !strings.Contains(err.Error(), tt.says) {
					t.Fatalf("want an error saying %q, got %v (compared %v)", tt.says, err, compared)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range compared {
				got = append(got, c.Key+"->"+c.Cert)
			}
			if strings.Join(got, ",") != tt.pairs {
				t.Fatalf("want %s compared, got %v", tt.pairs, got)
			}
		})
	}
}
