// Package cmbackend is carousel's cert-manager backend: for a rotation
// whose keys never leave the cluster (spec.backend: cert-manager) it decides,
// per phase, the cert-manager and trust-manager objects that make the phase
// happen, instead of Secrets rendered from committed key material.
//
// cert-manager renews certificates but does not rotate a CA safely: the
// Secret behind a CA issuer changing does not re-issue its leaves, a renewed
// CA may silently change key behind the same Secret name (rotationPolicy
// Always is the default), and a leaf Secret's ca.crt holds only its own
// issuer. So the backend never changes what a name means:
//
//   - each CA generation is its own CA Certificate and CA ClusterIssuer,
//     named by the generation's number (GenerationName), with
//     rotationPolicy Never, so the key behind a name is made once;
//   - a leaf Certificate's issuerRef names the phase's signing generation:
//     flipping it at sign-new is what makes cert-manager re-issue;
//   - a trust-manager Bundle per spec.bundles entry has the phase's trusted
//     generations as sources, so trust is distributed by trust-manager in
//     exactly the phase's set.
//
// The CAs' public certificates come back into git as CACertificate
// resources (`carousel pull`, Pulled): renders stay byte-identical and
// carousel can refuse to trust a generation nobody has reviewed.
//
// The backend's operations are chosen through pkg/backend; this package is
// its floor-bound core, below the renderer (pkg/gen) that renders its
// objects. It is named cmbackend so that no other package shares its name:
// internal/certmanager is the test harness that runs the real controllers,
// examples/certmanager the example's tests.
package cmbackend

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
	k8syaml "sigs.k8s.io/yaml"

	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// DefaultNamespace is cert-manager's conventional namespace, the default of
// spec.certManager.namespace.
const DefaultNamespace = "cert-manager"

// GenerationName is the name of everything belonging to CA generation n of
// a rotation: its Certificate, its Secret, its ClusterIssuer and its
// CACertificate in git. It is the one place a generation's identity is
// made; a number is known before the CA exists, and a name made from it
// never names another CA. The name is the material backend's, with the
// same CA IDs (g1, g2, ...: material.NumberedCAID): <rotation>-ca-g<n>.
func GenerationName(rotation string, n int) string {
	return material.GenerationName(rotation+"-ca", material.NumberedCAID(n))
}

// Number is the generation number behind a phase generation (0: none).
func Number(rot *spec.CARotation, g phases.Generation) int {
	if rot.Spec.CertManager == nil {
		return 0
	}
	if g == phases.Old {
		return rot.Spec.CertManager.Generations.Old
	}
	return rot.Spec.CertManager.Generations.New
}

// Namespace is where the rotation's CA Certificates and Secrets live.
func Namespace(rot *spec.CARotation) string {
	if cm := rot.Spec.CertManager; cm != nil && cm.Namespace != "" {
		return cm.Namespace
	}
	return DefaultNamespace
}

// SelfSignedIssuerName is the self-signed ClusterIssuer carousel renders to
// issue the CA generations when spec.certManager.issuerRef is not set.
func SelfSignedIssuerName(rotation string) string { return rotation + "-selfsigned" }

// Present lists the CA generations whose objects exist in a phase, in
// generation order. It is the phase table's CAPresent, plus, in steady, a
// new generation `carousel start` announced: cert-manager must issue the
// new CA before its certificate can be pulled into git, and trust-new
// refuses to render until it is there. The extra CA is neither trusted
// nor signing, so no pod sees it.
func Present(rot *spec.CARotation, st phases.State) []phases.Generation {
	out := slices.Clone(st.CAPresent)
	if st.Phase == phases.Steady && Number(rot, phases.New) != 0 && !slices.Contains(out, phases.New) {
		out = append(out, phases.New)
	}
	return out
}

// Problem is something that keeps a phase from rendering, at a field of
// the CARotation (or of a CACertificate, when Node is set).
type Problem struct {
	Node    *yaml.RNode
	Field   string
	Message string
}

// Input is what a render of the backend reads.
type Input struct {
	Rotation *spec.CARotation
	State    phases.State
	// Pulled are the rotation's CACertificates from git, by generation number.
	Pulled map[int]Pulled
}

// Objects renders the phase's cert-manager and trust-manager objects, in a
// fixed order: the root issuer, each present generation's Certificate and
// ClusterIssuer, the leaves' Certificates, the Bundles. It fails (and
// renders nothing) when a phase past steady trusts a generation whose
// public certificate is not in git: trust a pod will act on is reviewed
// first.
func Objects(in Input) ([]*yaml.RNode, []Problem) {
	rot, st := in.Rotation, in.State
	var problems []Problem
	if st.Phase != phases.Steady {
		for _, g := range st.Trusted {
			n := Number(rot, g)
			if _, ok := in.Pulled[n]; !ok {
				problems = append(problems, Problem{Field: "spec.certManager.generations." + string(g), Message: fmt.Sprintf(
					"phase %s trusts CA generation %d (%s), whose certificate is not in git: once cert-manager has issued it, run `carousel pull` and commit the CACertificate it writes", st.Phase, n, GenerationName(rot.Metadata.Name, n))})
			}
		}
	}
	for n, p := range in.Pulled {
		if n != Number(rot, phases.Old) && n != Number(rot, phases.New) {
			continue // an older generation's record: kept, unused
		}
		if cn := p.Cert.Subject.CommonName; cn != rot.Spec.CA.CommonName {
			problems = append(problems, Problem{Node: p.Source, Field: "certificate", Message: fmt.Sprintf(
				"holds a CA named %q, not spec.ca.commonName %q: it is not this rotation's generation %d", cn, rot.Spec.CA.CommonName, n)})
		}
	}
	if len(problems) > 0 {
		return nil, problems
	}

	name := rot.Metadata.Name
	ns := Namespace(rot)
	var docs []any
	root := issuerRef{Group: "cert-manager.io", Kind: "ClusterIssuer", Name: SelfSignedIssuerName(name)}
	if ref := rot.Spec.CertManager.IssuerRef; ref != nil {
		root = issuerRef{Group: ref.Group, Kind: ref.Kind, Name: ref.Name}
		if root.Group == "" {
			root.Group = "cert-manager.io"
		}
		if root.Kind == "" {
			root.Kind = "ClusterIssuer"
		}
	} else {
		docs = append(docs, object{APIVersion: "cert-manager.io/v1", Kind: "ClusterIssuer",
			Metadata: meta(rot, root.Name, ""), Spec: map[string]any{"selfSigned": map[string]any{}}})
	}
	for _, g := range Present(rot, st) {
		gn := GenerationName(name, Number(rot, g))
		docs = append(docs,
			object{APIVersion: "cert-manager.io/v1", Kind: "Certificate", Metadata: meta(rot, gn, ns), Spec: certificateSpec{
				IsCA:         true,
				CommonName:   rot.Spec.CA.CommonName,
				Subject:      subject(rot.Spec.CA.Organization),
				SecretName:   gn,
				Duration:     rot.Spec.CA.Validity.String(),
				PrivateKey:   privateKey(rot.Spec.CA.Key, "Never"),
				Usages:       []string{"digital signature", "cert sign", "crl sign"},
				IssuerRef:    root,
				SecretLabels: &secretTemplate{Labels: map[string]string{LabelRotation: name, LabelGeneration: strconv.Itoa(Number(rot, g))}},
			}},
			object{APIVersion: "cert-manager.io/v1", Kind: "ClusterIssuer", Metadata: meta(rot, gn, ""),
				Spec: map[string]any{"ca": map[string]any{"secretName": gn}}},
		)
	}
	signer := issuerRef{Group: "cert-manager.io", Kind: "ClusterIssuer", Name: GenerationName(name, Number(rot, st.Signer))}
	for _, l := range rot.Spec.Leaves {
		docs = append(docs, object{APIVersion: "cert-manager.io/v1", Kind: "Certificate", Metadata: meta(rot, l.Secret.Name, l.Secret.Namespace), Spec: certificateSpec{
			IsCA:        l.IsCA,
			CommonName:  l.CommonName,
			Subject:     subject(l.Organization),
			DNSNames:    l.DNSNames,
			IPAddresses: l.IPAddresses,
			SecretName:  l.Secret.Name,
			Duration:    l.Validity.String(),
			PrivateKey:  privateKey(l.Key, "Always"),
			Usages:      leafUsages(l),
			IssuerRef:   signer,
		}})
	}
	for _, b := range rot.Spec.Bundles {
		docs = append(docs, bundle(rot, b, st.Trusted))
	}

	out := make([]*yaml.RNode, 0, len(docs))
	for _, d := range docs {
		b, err := k8syaml.Marshal(d)
		if err != nil {
			return nil, []Problem{{Message: fmt.Sprintf("internal error marshalling %T: %v", d, err)}}
		}
		n, err := yaml.Parse(string(b))
		if err != nil {
			return nil, []Problem{{Message: fmt.Sprintf("internal error parsing a rendered object: %v", err)}}
		}
		out = append(out, n)
	}
	return out, nil
}

// Labels carousel puts on the CA Secrets cert-manager writes (through the
// Certificate's secretTemplate), so `carousel pull` and `status` find every
// generation's Secret, also one whose Certificate was pruned.
const (
	LabelRotation   = spec.AnnotationPrefix + "rotation"
	LabelGeneration = spec.AnnotationPrefix + "ca-generation"
)

type object struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Metadata   map[string]any `json:"metadata"`
	Spec       any            `json:"spec"`
}

type issuerRef struct {
	Group string `json:"group"`
	Kind  string `json:"kind"`
	Name  string `json:"name"`
}

type certificateSpec struct {
	IsCA         bool            `json:"isCA,omitempty"`
	CommonName   string          `json:"commonName,omitempty"`
	Subject      map[string]any  `json:"subject,omitempty"`
	DNSNames     []string        `json:"dnsNames,omitempty"`
	IPAddresses  []string        `json:"ipAddresses,omitempty"`
	SecretName   string          `json:"secretName"`
	SecretLabels *secretTemplate `json:"secretTemplate,omitempty"`
	Duration     string          `json:"duration,omitempty"`
	PrivateKey   map[string]any  `json:"privateKey"`
	Usages       []string        `json:"usages,omitempty"`
	IssuerRef    issuerRef       `json:"issuerRef"`
}

type secretTemplate struct {
	Labels map[string]string `json:"labels,omitempty"`
}

func meta(rot *spec.CARotation, name, namespace string) map[string]any {
	m := map[string]any{"name": name}
	if namespace != "" {
		m["namespace"] = namespace
	}
	m["labels"] = map[string]string{LabelRotation: rot.Metadata.Name}
	if len(rot.Spec.RenderedAnnotations) > 0 {
		m["annotations"] = rot.Spec.RenderedAnnotations
	}
	return m
}

func subject(org []string) map[string]any {
	if len(org) == 0 {
		return nil
	}
	return map[string]any{"organizations": org}
}

// privateKey maps carousel's key algorithm onto cert-manager's. A CA's
// rotationPolicy is Never: a renewal re-signs the same key, so the CA a
// name stands for never changes key behind it. A leaf's is Always, as
// cert-manager defaults: each re-issue (a new signer) gets a fresh key.
func privateKey(k spec.Key, rotation string) map[string]any {
	m := map[string]any{"rotationPolicy": rotation}
	alg, size, _ := strings.Cut(k.Algorithm, "-")
	switch alg {
	case "ecdsa":
		m["algorithm"] = "ECDSA"
		m["size"], _ = strconv.Atoi(strings.TrimPrefix(size, "p"))
	case "rsa":
		m["algorithm"] = "RSA"
		m["size"], _ = strconv.Atoi(size)
	case "ed25519":
		m["algorithm"] = "Ed25519"
	}
	switch k.Encoding {
	case spec.KeyEncodingPKCS8:
		m["encoding"] = "PKCS8"
	case spec.KeyEncodingPKCS1:
		m["encoding"] = "PKCS1"
	}
	return m
}

// leafUsages are cert-manager's key usages for a leaf: its defaults
// (digital signature, key encipherment), the extended usages of
// spec.leaves[].usages, and cert sign / crl sign for an intermediate (the
// Linkerd identity issuer's, as Linkerd's cert-manager guide lists them).
func leafUsages(l spec.Leaf) []string {
	u := []string{"digital signature", "key encipherment"}
	if l.IsCA {
		u = append(u, "cert sign", "crl sign")
	}
	for _, x := range l.Usages {
		switch x {
		case "server":
			u = append(u, "server auth")
		case "client":
			u = append(u, "client auth")
		}
	}
	return u
}

// bundle is a trust-manager Bundle whose sources are the CA Secrets of the
// trusted generations (their tls.crt: a self-signed CA's own certificate,
// or an intermediate's first), targeting the bundle's key in each listed
// namespace (every namespace with allNamespaces).
func bundle(rot *spec.CARotation, b spec.Bundle, trusted []phases.Generation) object {
	var sources []any
	for _, g := range trusted {
		sources = append(sources, map[string]any{"secret": map[string]any{
			"name": GenerationName(rot.Metadata.Name, Number(rot, g)), "key": "tls.crt"}})
	}
	target := map[string]any{}
	kind := "configMap"
	if b.Kind == "Secret" {
		kind = "secret"
	}
	target[kind] = map[string]any{"key": b.Key}
	if !b.AllNamespaces {
		target["namespaceSelector"] = map[string]any{"matchExpressions": []any{map[string]any{
			"key": "kubernetes.io/metadata.name", "operator": "In", "values": b.Namespaces}}}
	}
	return object{APIVersion: "trust.cert-manager.io/v1alpha1", Kind: "Bundle", Metadata: meta(rot, b.Name, ""),
		Spec: map[string]any{"sources": sources, "target": target}}
}

// Fingerprint is the SHA-256 of a certificate's DER, hex-encoded.
func Fingerprint(c *x509.Certificate) string {
	s := sha256.Sum256(c.Raw)
	return hex.EncodeToString(s[:])
}

// PEM encodes a certificate.
func PEM(c *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}
