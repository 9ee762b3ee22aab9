package spec_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// FuzzDNSName feeds arbitrary subject alternative names to the spec: the
// loader never panics, and a name it accepts is issued by the real
// issuance path (cfssl, which once panicked on a U-label) into a
// certificate that carries it, in ASCII, as the spec holds it. Names and
// namespaces of the Secret ride along, so the API server's name rules are
// fuzzed with it.
func FuzzDNSName(f *testing.F) {
	for _, s := range []string{"api.example.dev", "*.example.dev", "bücher.example", "*.münchen.example", "a..b", "*.bad name", "10.0.0.1", "ops@example.dev", "", "xn--.example", "-a.example", "a_b.example", "ℌ.example", "ß.example", "*.*.example"} {
		f.Add(s, "web", "mesh")
	}
	ca, err := pki.NewCA(pki.CARequest{CommonName: "fuzz", Validity: time.Hour, Algorithm: "ecdsa-p256"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, name, secret, namespace string) {
		leaf := map[string]any{"name": "web", "dnsNames": []string{name}, "secret": map[string]string{"name": secret, "namespace": namespace}}
		doc := map[string]any{"apiVersion": spec.APIVersion, "kind": spec.Kind, "metadata": map[string]string{"name": "fuzz"},
			"spec": map[string]any{"leaves": []any{leaf}}}
		b, err := json.Marshal(doc)
		if err != nil {
			return
		}
		n, err := yaml.Parse(string(b))
		if err != nil {
			return
		}
		r, err := spec.Load(n)
		if err != nil {
			if _, ok := err.(spec.FieldErrors); !ok {
				t.Fatalf("a load error must be FieldErrors, got %T: %v", err, err)
			}
			return
		}
		got := r.Spec.Leaves[0].DNSNames
		for _, c := range got[0] {
			if c >= 0x80 {
				t.Fatalf("accepted %q as %q: a certificate's DNS name is ASCII", name, got[0])
			}
		}
		p, err := pki.Issue(ca, pki.LeafRequest{CommonName: "web", DNSNames: got, Validity: time.Hour, Algorithm: "ecdsa-p256", Usages: []string{"server"}})
		if err != nil {
			t.Fatalf("accepted %q (%q) but issuing fails: %v", name, got[0], err)
		}
		c, err := pki.ParseCert(p.CertPEM)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(c.DNSNames, got) {
			t.Fatalf("issued DNS names %q, want %q", c.DNSNames, got)
		}
	})
}
