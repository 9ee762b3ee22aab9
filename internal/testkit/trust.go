package testkit

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"slices"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/spec"
	"github.com/carousel-dev/carousel/pkg/targets"
)

// TrustObject is one place a rendered phase publishes its trusted set.
type TrustObject struct {
	Where string
	Pool  *x509.CertPool
	Certs []*x509.Certificate
}

func decode(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("not base64: %v", err)
	}
	return b
}

func trustOf(t testing.TB, where string, pemBytes []byte) TrustObject {
	t.Helper()
	certs, err := pki.ParseCerts(pemBytes)
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return TrustObject{where, p, certs}
}

func kubeconfigCA(t testing.TB, text string) []byte {
	t.Helper()
	kc := yaml.MustParse(text)
	ca, _ := kc.Pipe(yaml.Lookup("clusters", "0", "cluster", "certificate-authority-data"))
	return decode(t, yaml.GetValue(ca))
}

// TrustObjects collects every trust object of a rendered phase: bundles, the
// ca key of rendered Secrets, cluster-info, caBundles and kubeconfig Secrets.
func TrustObjects(t testing.TB, rot *spec.CARotation, items []*yaml.RNode) []TrustObject {
	t.Helper()
	var out []TrustObject
	ours := func(n *yaml.RNode) bool { return n.GetLabels()[material.LabelRotation] == rot.Metadata.Name }
	for _, n := range items {
		where := n.GetKind() + " " + n.GetNamespace() + "/" + n.GetName()
		switch {
		case n.GetKind() == "ConfigMap" && n.GetNamespace() == "kube-public" && n.GetName() == "cluster-info":
			v, _ := n.Pipe(yaml.Lookup("data", "kubeconfig"))
			out = append(out, trustOf(t, where, kubeconfigCA(t, yaml.GetValue(v))))
		case ours(n) && (n.GetKind() == "ConfigMap" || n.GetKind() == "Secret"):
			for _, b := range rot.Spec.Bundles {
				if n.GetName() != b.Name || n.GetKind() != b.Kind {
					continue
				}
				v, _ := n.Pipe(yaml.Lookup("data", b.Key))
				raw := []byte(yaml.GetValue(v))
				if b.Kind == "Secret" {
					raw = decode(t, yaml.GetValue(v))
				}
				out = append(out, trustOf(t, where, raw))
			}
			if n.GetKind() == "Secret" {
				for _, key := range secretCAKeys(rot, n) {
					if v, _ := n.Pipe(yaml.Lookup("data", key)); v != nil {
						out = append(out, trustOf(t, where+" "+key, decode(t, yaml.GetValue(v))))
					}
				}
			}
		case rot.Spec.ServiceAccountTokens && n.GetKind() == "Secret" && n.Field("type") != nil &&
			yaml.GetValue(n.Field("type").Value) == "kubernetes.io/service-account-token":
			if v, _ := n.Pipe(yaml.Lookup("data", "ca.crt")); v != nil {
				out = append(out, trustOf(t, where, decode(t, yaml.GetValue(v))))
			}
		case slices.Contains(targets.Builtin().CABundleKinds(), n.GetKind()):
			k, _ := targets.Builtin().Lookup(n.GetKind())
			for _, path := range k.CABundle.Paths(n, nil) {
				if v, _ := n.Pipe(yaml.Lookup(append(path, "caBundle")...)); v != nil {
					out = append(out, trustOf(t, where, decode(t, yaml.GetValue(v))))
				}
			}
		}
		for _, k := range rot.Spec.Kubeconfigs {
			if n.GetKind() == "Secret" && n.GetNamespace() == k.Namespace && n.GetName() == k.Name {
				if v, _ := n.Pipe(yaml.Lookup("data", k.Key)); v != nil {
					out = append(out, trustOf(t, where, kubeconfigCA(t, string(decode(t, yaml.GetValue(v))))))
				} else if v, _ := n.Pipe(yaml.Lookup("stringData", k.Key)); v != nil {
					out = append(out, trustOf(t, where, kubeconfigCA(t, yaml.GetValue(v))))
				}
			}
		}
	}
	return out
}

// secretCAKeys are the data keys of a rendered Secret that hold the trusted set.
func secretCAKeys(rot *spec.CARotation, n *yaml.RNode) []string {
	var keys []string
	add := func(t spec.SecretTarget, name string) {
		if t.Namespace == n.GetNamespace() && name == n.GetName() && t.Keys.CA != spec.OmitKey {
			keys = append(keys, t.Keys.CA)
		}
	}
	if s := rot.Spec.CA.Secret; s != nil {
		add(*s, s.Name)
	}
	for _, l := range rot.Spec.Leaves {
		add(l.Secret, l.Secret.Name)
	}
	return keys
}

// Leaf is a leaf certificate a rendered phase serves, with its key when asked.
type Leaf struct {
	Name    string
	Spec    spec.Leaf
	Cert    *x509.Certificate
	Pair    tls.Certificate
	Secret  *yaml.RNode
	CACerts []*x509.Certificate // the Secret's ca key: what the holder trusts
}

// Leaves returns the leaves a phase serves, decrypting their keys (with the
// demo age key) when withKeys is set.
func Leaves(t testing.TB, rot *spec.CARotation, items []*yaml.RNode, withKeys bool) []Leaf {
	t.Helper()
	var out []Leaf
	for _, l := range rot.Spec.Leaves {
		n := Find(items, "Secret", l.Secret.Namespace, l.Secret.Name)
		if n == nil {
			t.Fatalf("leaf Secret %s/%s was not rendered", l.Secret.Namespace, l.Secret.Name)
		}
		v, _ := n.Pipe(yaml.Lookup("data", l.Secret.Keys.Cert))
		certPEM := decode(t, yaml.GetValue(v))
		c, err := pki.ParseCert(certPEM)
		if err != nil {
			t.Fatal(err)
		}
		leaf := Leaf{Name: l.Name, Spec: l, Cert: c, Secret: n}
		if l.Secret.Keys.CA != spec.OmitKey {
			v, _ := n.Pipe(yaml.Lookup("data", l.Secret.Keys.CA))
			if leaf.CACerts, err = pki.ParseCerts(decode(t, yaml.GetValue(v))); err != nil {
				t.Fatal(err)
			}
		}
		if withKeys {
			plain := Decrypt(t, n)
			k, _ := plain.Pipe(yaml.Lookup("data", l.Secret.Keys.Key))
			pair, err := tls.X509KeyPair(certPEM, decode(t, yaml.GetValue(k)))
			if err != nil {
				t.Fatalf("leaf %s: %v", l.Name, err)
			}
			leaf.Pair = pair
		}
		out = append(out, leaf)
	}
	return out
}

// TLSKeyMatches reads a decrypted kubernetes.io/tls Secret and returns an
// error unless its tls.key is the private half of its tls.crt.
func TLSKeyMatches(n *yaml.RNode) error {
	crt, _ := n.Pipe(yaml.Lookup("data", "tls.crt"))
	key, _ := n.Pipe(yaml.Lookup("data", "tls.key"))
	if crt == nil || key == nil {
		return fmt.Errorf("Secret %s/%s has no tls.crt or tls.key", n.GetNamespace(), n.GetName())
	}
	certPEM, err := base64.StdEncoding.DecodeString(yaml.GetValue(crt))
	if err != nil {
		return fmt.Errorf("tls.crt: %w", err)
	}
	keyPEM, err := base64.StdEncoding.DecodeString(yaml.GetValue(key))
	if err != nil {
		return fmt.Errorf("tls.key is not base64 (still encrypted?): %w", err)
	}
	c, err := pki.ParseCert(certPEM)
	if err != nil {
		return err
	}
	k, err := pki.ParseKey(keyPEM)
	if err != nil {
		return err
	}
	if !pki.KeyMatches(c, k) {
		return fmt.Errorf("Secret %s/%s: tls.key does not match tls.crt", n.GetNamespace(), n.GetName())
	}
	return nil
}
