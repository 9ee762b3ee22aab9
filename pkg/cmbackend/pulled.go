package cmbackend

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strconv"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/krmio"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// Kind is the resource `carousel pull` commits: one CA generation's public
// certificate, as cert-manager issued it in the cluster. It holds no key:
// the cert-manager backend's keys never leave the cluster. The function
// consumes it, as it consumes KeyPairs; it never reaches the cluster.
const Kind = "CACertificate"

// AnnotationSHA256 repeats the certificate's fingerprint, for reviewers.
const AnnotationSHA256 = spec.AnnotationPrefix + "sha256"

// Pulled is one CACertificate read from git.
type Pulled struct {
	Rotation   string
	Generation int
	Cert       *x509.Certificate
	Source     *yaml.RNode
}

// IsCACertificate reports whether a resource is a CACertificate (of any
// rotation). It is safe on any node.
func IsCACertificate(n *yaml.RNode) bool {
	id := krmio.Identity(n)
	return id.Kind == Kind && id.APIVersion == spec.APIVersion
}

// RotationOf returns the rotation a CACertificate belongs to ("" when it
// names none).
func RotationOf(n *yaml.RNode) string { return krmio.StringMap(n, yaml.LabelsField)[LabelRotation] }

// FileName is the file `carousel pull` writes generation n to, in the
// material directory.
func FileName(n int) string { return fmt.Sprintf("ca-%d.crt.yaml", n) }

// Parse reads a CACertificate, checking that it holds exactly one CA
// certificate, no key, and a generation number.
func Parse(n *yaml.RNode) (Pulled, *Problem) {
	fail := func(field, format string, args ...any) (Pulled, *Problem) {
		return Pulled{}, &Problem{Node: n, Field: field, Message: fmt.Sprintf(format, args...)}
	}
	if err := krmio.CheckShape(n); err != nil {
		return fail(err.Field, "%s", err.Message)
	}
	p := Pulled{Rotation: RotationOf(n), Source: n}
	if p.Rotation == "" {
		return fail("metadata.labels."+LabelRotation, "is required")
	}
	g, err := strconv.Atoi(krmio.StringMap(n, yaml.AnnotationsField)[LabelGeneration])
	if err != nil || g < 1 {
		return fail("metadata.annotations."+LabelGeneration, "must be a generation number (1, 2, ...)")
	}
	p.Generation = g
	for _, f := range []string{"data", "stringData", "key", "privateKey"} {
		if n.Field(f) != nil {
			return fail(f, "a CACertificate holds only a public certificate: remove %s", f)
		}
	}
	fld := n.Field("certificate")
	if fld == nil || fld.Value.YNode().Kind != yaml.ScalarNode {
		return fail("certificate", "is required: the CA's certificate as PEM")
	}
	rest := []byte(fld.Value.YNode().Value)
	var certs []*x509.Certificate
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return fail("certificate", "holds a %s block: only the public certificate belongs in git", b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return fail("certificate", "does not parse: %v", err)
		}
		certs = append(certs, c)
	}
	if len(certs) != 1 {
		return fail("certificate", "must hold exactly one certificate, not %d", len(certs))
	}
	if !certs[0].IsCA {
		return fail("certificate", "is not a CA certificate")
	}
	if want := Fingerprint(certs[0]); krmio.StringMap(n, yaml.AnnotationsField)[AnnotationSHA256] != want {
		return fail("metadata.annotations."+AnnotationSHA256, "must be the certificate's SHA-256 fingerprint %s", want)
	}
	p.Cert = certs[0]
	return p, nil
}

// New makes the CACertificate resource for generation n of a rotation.
func New(rotation string, n int, cert *x509.Certificate) (*yaml.RNode, error) {
	doc := map[string]any{
		"apiVersion": spec.APIVersion,
		"kind":       Kind,
		"metadata": map[string]any{
			"name":   GenerationName(rotation, n),
			"labels": map[string]string{LabelRotation: rotation},
			"annotations": map[string]string{
				LabelGeneration:  strconv.Itoa(n),
				AnnotationSHA256: Fingerprint(cert),
			},
		},
	}
	node, err := yaml.FromMap(doc)
	if err != nil {
		return nil, err
	}
	if err := node.PipeE(yaml.SetField("certificate", yaml.NewStringRNode(PEM(cert)))); err != nil {
		return nil, err
	}
	node.Field("certificate").Value.YNode().Style = yaml.LiteralStyle
	return node, nil
}

// PulledCerts returns the CA certificates of a rotation's CACertificates
// among items, by generation. A CACertificate that does not parse is left
// out: the render reports it with its field, and refuses the phase.
func PulledCerts(items []*yaml.RNode, rotation string) map[int]*x509.Certificate {
	out := map[int]*x509.Certificate{}
	for _, n := range items {
		if IsCACertificate(n) && RotationOf(n) == rotation {
			if p, prob := Parse(n); prob == nil {
				out[p.Generation] = p.Cert
			}
		}
	}
	return out
}
