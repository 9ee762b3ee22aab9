package material

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
)

// A CA held externally is a KeyPair with a certificate and no data; a leaf
// always holds its key (it is rendered into its Secret), and so does a file
// SOPS encrypted (its data is what was encrypted).
func TestOnlyACAMayHoldNoKey(t *testing.T) {
	ca, err := pki.NewCA(pki.CARequest{CommonName: "kube-ca", Validity: time.Hour, Algorithm: "ecdsa-p256"})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.ParseCert(ca.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, role, extra, err string
	}{
		{"a CA without data is held externally", RoleCA, "", ""},
		{"a leaf without data is refused", RoleLeaf, "", "data: holds the private key and is required"},
		{"an encrypted CA without data is refused", RoleCA, "sops: {version: 3.9.0}\n", "data: holds the private key and is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := New(KeyPair{Rotation: "rke", Role: RoleCA, Generation: phases.Old, CAID: FirstCAID, Certs: []*x509.Certificate{cert}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.role == RoleLeaf {
				anns := n.GetAnnotations()
				anns[AnnotationRole], anns[AnnotationLeaf] = RoleLeaf, "etcd-node1"
				delete(anns, AnnotationCAID)
				_ = n.SetAnnotations(anns)
			}
			doc := n.MustString() + tt.extra
			if strings.Contains(doc, "\ndata:") {
				t.Fatalf("New wrote data for a pair without a key:\n%s", doc)
			}
			k, err := Parse(yaml.MustParse(doc))
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if k.HasKey() {
					t.Fatal("a CA without data reports a key")
				}
				if _, err := k.KeyPEM(); err == nil || !strings.Contains(err.Error(), "held externally") {
					t.Fatalf("KeyPEM of a CA held externally: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("want %q, got %v", tt.err, err)
			}
		})
	}
}
