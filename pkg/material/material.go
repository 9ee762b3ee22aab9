// Package material is the committed key material of a rotation: one KeyPair
// resource per certificate, made once by `carousel init`/`start` and listed in
// the kustomization so it reaches the function inside the ResourceList (no
// mounts, so container and kpt runs see it too).
//
// A KeyPair keeps its certificate readable (PEM under `certificate`) and its
// private key under data.<key>, where <key> is the data key of the Secret it
// will be rendered into. That placement is what lets SOPS-encrypted keys pass
// through rendering untouched: SOPS binds each encrypted value to its path, so
// a value encrypted at data.tls.key decrypts only at data.tls.key. The
// function copies the value and the file's `sops` metadata verbatim and never
// decrypts.
package material

import (
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/krmio"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/spec"
)

const (
	Kind = "KeyPair"

	LabelRotation        = spec.AnnotationPrefix + "rotation"
	AnnotationRole       = spec.AnnotationPrefix + "role"
	AnnotationLeaf       = spec.AnnotationPrefix + "leaf"
	AnnotationGeneration = spec.AnnotationPrefix + "generation"
	AnnotationSHA256     = spec.AnnotationPrefix + "sha256"
	AnnotationNotAfter   = spec.AnnotationPrefix + "not-after"

	RoleCA   = "ca"
	RoleLeaf = "leaf"
	// RoleCross is a cross-certificate (scope cross-sign): the new CA's
	// subject, public key and key identifier under the old CA's signature.
	// It is a certificate only, of the new generation: its key is the new
	// CA's, in that CA's KeyPair.
	RoleCross = "cross"

	// SopsField is the top-level field SOPS writes its metadata to.
	SopsField = "sops"
	// EncPrefix starts every SOPS-encrypted value.
	EncPrefix = "ENC["
)

// KeyPair is one certificate and its private key.
type KeyPair struct {
	Rotation   string
	Role       string // RoleCA, RoleLeaf or RoleCross
	Leaf       string // leaf name, for RoleLeaf
	Generation phases.Generation
	// CAID is a CA pair's ID (AnnotationCAID): what its generation's
	// objects are named after, fixed for the CA's life. Empty for a leaf.
	CAID string
	// Adopted is a CA that `init --ca-cert` adopted (AnnotationAdopted).
	Adopted bool
	// Certs is the certificate followed by any chain committed with it.
	Certs []*x509.Certificate
	// KeyField is the data key holding the private key.
	KeyField string
	// KeyValue is the value under data.<KeyField> exactly as committed:
	// base64 of a PEM key, or a SOPS ENC[...] string.
	KeyValue string
	// Sops is the file's SOPS metadata (nil when not encrypted).
	Sops *yaml.RNode
	// Source is the resource the pair was read from, for error reports.
	Source *yaml.RNode
}

// HasKey reports whether the pair holds a private key. Only a CA may hold
// none: a CA kept by an external party (adopted with `init --ca-cert` and no
// key), whose leaves come signed through `csr` and `import`; and a
// cross-certificate never holds one (its key is the new CA's).
func (k KeyPair) HasKey() bool { return k.KeyField != "" }

// Cert is the pair's own certificate.
func (k KeyPair) Cert() *x509.Certificate { return k.Certs[0] }

// Encrypted reports whether the private key is SOPS-encrypted.
func (k KeyPair) Encrypted() bool { return strings.HasPrefix(k.KeyValue, EncPrefix) }

// KeyPEM decodes a plaintext key; it fails on an encrypted one.
func (k KeyPair) KeyPEM() ([]byte, error) {
	if !k.HasKey() {
		return nil, fmt.Errorf("%s holds no private key: the CA is held externally", k.Name())
	}
	if k.Encrypted() {
		return nil, fmt.Errorf("%s: the private key is SOPS-encrypted", k.Name())
	}
	b, err := base64.StdEncoding.DecodeString(k.KeyValue)
	if err != nil {
		return nil, fmt.Errorf("%s: data.%s is not base64: %w", k.Name(), k.KeyField, err)
	}
	return b, nil
}

// ID names what the pair is for: "ca", "cross" or "leaf/<name>".
func (k KeyPair) ID() string {
	if k.Role == RoleCA || k.Role == RoleCross {
		return k.Role
	}
	return RoleLeaf + "/" + k.Leaf
}

// Name is the resource name a pair of this identity gets.
func (k KeyPair) Name() string {
	if k.Role == RoleCA || k.Role == RoleCross {
		return fmt.Sprintf("%s-%s-%s", k.Rotation, k.Role, k.Generation)
	}
	return fmt.Sprintf("%s-leaf-%s-%s", k.Rotation, k.Leaf, k.Generation)
}

// FileName is the file a pair of this identity is written to.
func (k KeyPair) FileName() string {
	if k.Role == RoleCA || k.Role == RoleCross {
		return fmt.Sprintf("%s-%s.yaml", k.Role, k.Generation)
	}
	return fmt.Sprintf("leaf-%s-%s.yaml", k.Leaf, k.Generation)
}

// IsKeyPair reports whether a resource is carousel material. It is safe on
// any node (a malformed resource is not a KeyPair here; Parse says why).
func IsKeyPair(n *yaml.RNode) bool {
	id := krmio.Identity(n)
	return id.Kind == Kind && id.APIVersion == spec.APIVersion
}

// RotationOf returns the rotation a KeyPair belongs to ("" when it has no
// such label, or labels of the wrong shape). It is safe on any node: callers
// use it to pick their rotation's pairs out of every item before Parse.
func RotationOf(n *yaml.RNode) string { return krmio.StringMap(n, yaml.LabelsField)[LabelRotation] }

// ForeignResults says which KeyPairs among items belong to another rotation
// (or to none). They pass through untouched: a package may run two
// rotations as two transformers, each consuming its own material. Not
// silently, though: a KeyPair that no transformer consumes would reach the
// cluster (and fail there: no API serves the kind).
func ForeignResults(items []*yaml.RNode, rotation string) framework.Results {
	var out framework.Results
	for _, n := range items {
		if !IsKeyPair(n) {
			continue
		}
		switch owner := RotationOf(n); owner {
		case rotation:
		case "":
			out = append(out, krmio.ResultAt(framework.Warning, n, "metadata.labels."+LabelRotation,
				fmt.Sprintf("KeyPair %s names no rotation: no carousel transformer consumes it, so it passes through to the output", krmio.Identity(n).Name)))
		default:
			out = append(out, krmio.ResultAt(framework.Info, n, "metadata.labels."+LabelRotation,
				fmt.Sprintf("KeyPair %s belongs to rotation %q, not %q: passed through for that rotation's transformer, which must run after this one", krmio.Identity(n).Name, owner, rotation)))
		}
	}
	return out
}

// FieldError is a problem with one field of a KeyPair resource.
type FieldError struct {
	Node  *yaml.RNode
	Field string
	Err   error
}

func (e *FieldError) Error() string {
	name := krmio.Identity(e.Node).Name
	if e.Field == "" {
		return fmt.Sprintf("KeyPair %s: %v", name, e.Err)
	}
	return fmt.Sprintf("KeyPair %s: %s: %v", name, e.Field, e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }

// Parse reads a KeyPair resource.
func Parse(n *yaml.RNode) (KeyPair, error) {
	fail := func(field, format string, args ...any) (KeyPair, error) {
		return KeyPair{}, &FieldError{Node: n, Field: field, Err: fmt.Errorf(format, args...)}
	}
	// kyaml's accessors panic on fields of the wrong shape: check first.
	if err := krmio.CheckShape(n); err != nil {
		return fail(err.Field, "%s", err.Message)
	}
	anns := n.GetAnnotations()
	k := KeyPair{
		Rotation:   RotationOf(n),
		Role:       anns[AnnotationRole],
		Leaf:       anns[AnnotationLeaf],
		Generation: phases.Generation(anns[AnnotationGeneration]),
		Source:     n,
	}
	k.Adopted = k.Role == RoleCA && anns[AnnotationAdopted] == "true"
	if k.Rotation == "" {
		return fail("metadata.labels."+LabelRotation, "is required")
	}
	switch k.Role {
	case RoleCA, RoleCross:
	case RoleLeaf:
		if k.Leaf == "" {
			return fail("metadata.annotations."+AnnotationLeaf, "is required for a leaf")
		}
	default:
		return fail("metadata.annotations."+AnnotationRole, "%q must be %q, %q or %q", k.Role, RoleCA, RoleLeaf, RoleCross)
	}
	if !slices.Contains(phases.Generations, k.Generation) {
		return fail("metadata.annotations."+AnnotationGeneration, "%q must be old or new", k.Generation)
	}
	if k.Role == RoleCross && k.Generation != phases.New {
		return fail("metadata.annotations."+AnnotationGeneration, "%q: a cross-certificate is of the new CA (new)", k.Generation)
	}
	if err := parseCAID(&k); err != nil {
		return fail("metadata.annotations."+AnnotationCAID, "%v", err)
	}
	certNode, err := n.Pipe(yaml.Lookup("certificate"))
	if err != nil || certNode == nil {
		return fail("certificate", "is required (PEM)")
	}
	if certNode.YNode().Kind != yaml.ScalarNode {
		return fail("certificate", "must be a PEM string")
	}
	k.Certs, err = pki.ParseCerts([]byte(yaml.GetValue(certNode)))
	if err != nil {
		return fail("certificate", "%v", err)
	}
	// The fingerprint annotation is for reviewers reading a diff: a stale one
	// would tell them the wrong thing, so it must match the certificate.
	if fp := anns[AnnotationSHA256]; fp != "" && fp != pki.Fingerprint(k.Certs[0]) {
		return fail("metadata.annotations."+AnnotationSHA256, "%s does not match the certificate (%s): the certificate was edited by hand", fp, pki.Fingerprint(k.Certs[0]))
	}
	data, _ := n.Pipe(yaml.Lookup("data"))
	if k.Role == RoleCross {
		if data != nil || n.Field(SopsField) != nil {
			return fail("data", "a cross-certificate holds no key (its key is the new CA's): remove data and sops")
		}
		if len(k.Certs) != 1 {
			return fail("certificate", "a cross-certificate is one certificate, found %d", len(k.Certs))
		}
		return k, nil
	}
	if data == nil && k.Role == RoleCA && n.Field(SopsField) == nil {
		return k, nil // a CA held externally: the certificate only
	}
	if data == nil {
		return fail("data", "holds the private key and is required")
	}
	fields, err := data.Fields()
	if err != nil || len(fields) != 1 {
		return fail("data", "must hold exactly one private key, found %d entries", len(fields))
	}
	k.KeyField = fields[0]
	value := data.Field(k.KeyField)
	if data.Content()[0].Kind != yaml.ScalarNode || value == nil || value.Value.YNode().Kind != yaml.ScalarNode {
		return fail("data", "must map the Secret's data key to the private key, a string")
	}
	k.KeyValue = value.Value.YNode().Value
	if sops := n.Field(SopsField); sops != nil {
		k.Sops = sops.Value
	}
	if !k.Encrypted() {
		if _, err := base64.StdEncoding.DecodeString(k.KeyValue); err != nil {
			return fail("data."+k.KeyField, "is neither base64 nor SOPS-encrypted")
		}
	}
	return k, nil
}

// New builds the resource for a freshly made pair (plaintext key; encrypt
// the written file afterwards).
func New(k KeyPair, keyPEM []byte) (*yaml.RNode, error) {
	n, err := yaml.Parse(fmt.Sprintf("apiVersion: %s\nkind: %s\nmetadata:\n  name: %s\n", spec.APIVersion, Kind, k.Name()))
	if err != nil {
		return nil, err
	}
	if err := n.SetLabels(map[string]string{LabelRotation: k.Rotation}); err != nil {
		return nil, err
	}
	anns := map[string]string{
		AnnotationRole:       k.Role,
		AnnotationGeneration: string(k.Generation),
		AnnotationSHA256:     pki.Fingerprint(k.Cert()),
		AnnotationNotAfter:   k.Cert().NotAfter.UTC().Format("2006-01-02T15:04:05Z"),
	}
	if k.Role == RoleLeaf {
		anns[AnnotationLeaf] = k.Leaf
	}
	if k.Role == RoleCA {
		if k.CAID == "" {
			return nil, fmt.Errorf("%s: a new CA pair needs its ID (%s)", k.Name(), AnnotationCAID)
		}
		anns[AnnotationCAID] = k.CAID
		if k.Adopted {
			anns[AnnotationAdopted] = "true"
		}
	}
	if err := n.SetAnnotations(anns); err != nil {
		return nil, err
	}
	cert := yaml.NewStringRNode(string(pki.EncodeCerts(k.Certs...)))
	cert.YNode().Style = yaml.LiteralStyle
	if err := n.PipeE(yaml.SetField("certificate", cert)); err != nil {
		return nil, err
	}
	if keyPEM == nil && (k.Role == RoleCA || k.Role == RoleCross) {
		return n, nil // a CA held externally, or a cross-certificate
	}
	if err := n.PipeE(yaml.LookupCreate(yaml.MappingNode, "data"), yaml.SetField(k.KeyField, yaml.NewStringRNode(base64.StdEncoding.EncodeToString(keyPEM)))); err != nil {
		return nil, err
	}
	return n, nil
}

// Set is the material of one rotation, indexed by what it is for.
type Set struct {
	CA     map[phases.Generation]KeyPair
	Leaves map[string]map[phases.Generation]KeyPair
	// Cross is the cross-certificate of a generation's CA (scope
	// cross-sign: the new CA's, signed by the old one).
	Cross map[phases.Generation]KeyPair
	// Nodes are the consumed resources, in input order.
	Nodes []*yaml.RNode
}

// NewSet indexes pairs; two pairs for the same identity are an error.
func NewSet(pairs []KeyPair) (*Set, error) {
	s := &Set{CA: map[phases.Generation]KeyPair{}, Leaves: map[string]map[phases.Generation]KeyPair{}, Cross: map[phases.Generation]KeyPair{}}
	for _, k := range pairs {
		s.Nodes = append(s.Nodes, k.Source)
		if k.Role == RoleCross {
			if prev, ok := s.Cross[k.Generation]; ok {
				return nil, &FieldError{Node: k.Source, Field: "metadata.annotations." + AnnotationRole,
					Err: fmt.Errorf("a second cross-certificate; %s is one already", prev.Source.GetName())}
			}
			s.Cross[k.Generation] = k
			continue
		}
		if k.Role == RoleCA {
			if prev, ok := s.CA[k.Generation]; ok {
				return nil, &FieldError{Node: k.Source, Field: "metadata.annotations." + AnnotationGeneration,
					Err: fmt.Errorf("a second %s CA; %s is one already", k.Generation, prev.Source.GetName())}
			}
			s.CA[k.Generation] = k
			continue
		}
		if s.Leaves[k.Leaf] == nil {
			s.Leaves[k.Leaf] = map[phases.Generation]KeyPair{}
		}
		if prev, ok := s.Leaves[k.Leaf][k.Generation]; ok {
			return nil, &FieldError{Node: k.Source, Field: "metadata.annotations." + AnnotationGeneration,
				Err: fmt.Errorf("a second %s leaf %q; %s is one already", k.Generation, k.Leaf, prev.Source.GetName())}
		}
		s.Leaves[k.Leaf][k.Generation] = k
	}
	if err := checkCAIDs(s); err != nil {
		return nil, err
	}
	return s, nil
}
