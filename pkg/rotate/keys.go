package rotate

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/atomicfile"
	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/sops"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// Options for the commands that make keys.
type Options struct {
	// Plaintext writes private keys unencrypted. Only for tests and demos.
	Plaintext bool
	// Stderr receives warnings.
	Stderr io.Writer
	// CACertPEM and CAKeyPEM adopt an existing CA in Init instead of making one.
	CACertPEM, CAKeyPEM []byte
	// Age recipients to encrypt keys to; empty: the nearest .sops.yaml decides.
	Age []string
	// SopsBinary overrides the sops binary (default: sops.Binary()).
	SopsBinary string
	// Now is the clock an adopted CA's validity is checked against
	// (default: time.Now).
	Now func() time.Time
}

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// Report says what a command wrote.
type Report struct {
	Written []string
	Removed []string
}

// staged is a file a command will write. Commands make every key,
// certificate and encryption in memory first, so that whatever can fail
// fails before the package is touched.
type staged struct {
	path string
	data []byte
	perm os.FileMode
}

func (s staged) write(rep *Report) error {
	if err := atomicfile.WriteFile(s.path, s.data, s.perm); err != nil {
		return fmt.Errorf("writing %s: %w", s.path, err)
	}
	addOnce(&rep.Written, s.path)
	return nil
}

func writeAll(rep *Report, files []staged) error {
	for _, f := range files {
		if err := f.write(rep); err != nil {
			return err
		}
	}
	return nil
}

// keyEncoder turns a KeyPair (or pending key) into the bytes of its file,
// encrypting its private key if it should.
type keyEncoder interface {
	encode(path string, n *yaml.RNode) (staged, error)
}

func (o Options) encoder(p *Package) (keyEncoder, error) {
	if o.Plaintext {
		fmt.Fprintln(o.stderr(), "carousel: WARNING: writing private keys in PLAINTEXT (--plaintext-keys); never commit them to a shared repository")
		return plaintextEncoder{}, nil
	}
	bin := o.SopsBinary
	if bin == "" {
		var err error
		if bin, err = sops.Binary(); err != nil {
			return nil, err
		}
	}
	if len(o.Age) == 0 && sops.ConfigFile(p.MaterialDir()) == "" {
		return nil, fmt.Errorf("private keys are written SOPS-encrypted and no age recipient is configured: pass --age RECIPIENT or add a .sops.yaml creation rule above %s (docs/secrets.md); --plaintext-keys writes them unencrypted for throwaway demos", p.MaterialDir())
	}
	return sopsEncoder{sops.Encrypter{Bin: bin, Age: o.Age}}, nil
}

// sopsEncoder encrypts the private key of each KeyPair.
type sopsEncoder struct{ enc sops.Encrypter }

func (w sopsEncoder) encode(path string, n *yaml.RNode) (staged, error) {
	data, err := n.Pipe(yaml.Lookup("data"))
	if err != nil || data == nil {
		return staged{}, fmt.Errorf("%s: a KeyPair without data", path)
	}
	fields, _ := data.Fields()
	if len(fields) != 1 {
		return staged{}, fmt.Errorf("%s: a KeyPair holds exactly one key", path)
	}
	out, err := w.enc.Encrypt([]byte(n.MustString()), fields[0], path)
	if err != nil {
		return staged{}, err
	}
	return staged{path, out, 0o644}, nil
}

type plaintextEncoder struct{}

func (plaintextEncoder) encode(path string, n *yaml.RNode) (staged, error) {
	return nodeFile(path, n, false), nil
}

// nodeFile is a KeyPair file as it is (already encrypted, or plaintext).
// Plaintext keys are written readable only by their owner.
func nodeFile(path string, n *yaml.RNode, encrypted bool) staged {
	perm := os.FileMode(0o600)
	if encrypted {
		perm = 0o644
	}
	return staged{path, []byte(n.MustString()), perm}
}

// keyPEM reads the private key of a committed KeyPair, decrypting it with
// sops when it is encrypted (the CLI needs the CA key to issue leaves).
func (o Options) keyPEM(k material.KeyPair) ([]byte, error) {
	if !k.Encrypted() {
		return k.KeyPEM()
	}
	bin := o.SopsBinary
	if bin == "" {
		var err error
		if bin, err = sops.Binary(); err != nil {
			return nil, err
		}
	}
	doc, err := sops.Decrypt(bin, []byte(k.Source.MustString()))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", k.Name(), err)
	}
	n, err := yaml.Parse(string(doc))
	if err != nil {
		return nil, err
	}
	plain, err := material.Parse(n)
	if err != nil {
		return nil, err
	}
	return plain.KeyPEM()
}

func (o Options) stderr() io.Writer {
	if o.Stderr == nil {
		return os.Stderr
	}
	return o.Stderr
}

// readablePair returns a pair's PEM, decrypting its key if needed.
func (o Options) readablePair(k material.KeyPair) (pki.Pair, error) {
	keyPEM, err := o.keyPEM(k)
	if err != nil {
		return pki.Pair{}, err
	}
	return pki.Pair{CertPEM: pki.EncodeCerts(k.Cert()), KeyPEM: keyPEM}, nil
}

func caKeyField(r *spec.CARotation) string {
	if r.Spec.CA.Secret != nil {
		return r.Spec.CA.Secret.Keys.Key
	}
	return "tls.key"
}

func newCA(r *spec.CARotation) (pki.Pair, error) {
	return pki.NewCA(pki.CARequest{
		CommonName:   r.Spec.CA.CommonName,
		Organization: r.Spec.CA.Organization,
		Validity:     r.Spec.CA.Validity.Value(),
		Algorithm:    r.Spec.CA.Key.Algorithm,
		Encoding:     r.Spec.CA.Key.Encoding,
		PathLength:   r.Spec.CA.PathLength,
	})
}

// issue makes a leaf with ca and stages its KeyPair file.
func (p *Package) issue(w keyEncoder, ca pki.Pair, l spec.Leaf, g phases.Generation) (staged, error) {
	pair, err := pki.Issue(ca, pki.LeafRequest{
		CommonName:   l.CommonName,
		Organization: l.Organization,
		DNSNames:     l.DNSNames,
		IPAddresses:  l.IPAddresses,
		Usages:       l.Usages,
		IsCA:         l.IsCA,
		Validity:     l.Validity.Value(),
		Algorithm:    l.Key.Algorithm,
		Encoding:     l.Key.Encoding,
	})
	if err != nil {
		return staged{}, fmt.Errorf("leaf %q: %w", l.Name, err)
	}
	return p.pairFile(w, material.KeyPair{Rotation: p.Rotation.Metadata.Name, Role: material.RoleLeaf, Leaf: l.Name, Generation: g}, pair, l.Secret.Keys.Key)
}

// pairFile checks a key against its certificate and stages its KeyPair file.
func (p *Package) pairFile(w keyEncoder, k material.KeyPair, pair pki.Pair, keyField string) (staged, error) {
	if err := checkPair(pair, k.Role == material.RoleCA); err != nil {
		return staged{}, fmt.Errorf("%s: %w", k.Name(), err)
	}
	// The certificate and any chain after it (an intermediate adopted
	// with its root, init --ca-cert of a bundle).
	certs, _ := pki.ParseCerts(pair.CertPEM)
	k.Certs = append(k.Certs, certs...)
	k.KeyField = keyField
	n, err := material.New(k, pair.KeyPEM)
	if err != nil {
		return staged{}, err
	}
	path := filepath.Join(p.MaterialDir(), k.FileName())
	f, err := w.encode(path, n)
	if err != nil {
		return staged{}, fmt.Errorf("writing %s: %w", path, err)
	}
	return f, nil
}

// checkPair refuses a key that does not belong to its certificate.
func checkPair(pair pki.Pair, isCA bool) error {
	cert, err := pki.ParseCert(pair.CertPEM)
	if err != nil {
		return err
	}
	key, err := pki.ParseKey(pair.KeyPEM)
	if err != nil {
		return err
	}
	if !pki.KeyMatches(cert, key) {
		return errors.New("the private key does not match the certificate")
	}
	if isCA {
		return pki.CheckCA(cert)
	}
	return nil
}

// asGeneration returns a copy of k (node included) as generation g: the
// same key and certificate under the other generation's name, for a
// promotion (new becomes old) or a leaf carried forward (old as new).
//
// A CA keeps its ID (material.AnnotationCAID), so the objects named after
// it keep their names. A CA pair from before IDs were recorded has its
// role as its ID; that is recorded here, before the role changes: this is
// the migration of legacy material, done by the promotion's own write
// (step 2), so it is as crash-safe and idempotent as the promotion.
func asGeneration(k material.KeyPair, g phases.Generation) (material.KeyPair, *yaml.RNode, error) {
	n := k.Source.Copy()
	moved := k
	moved.Generation = g
	n.SetName(moved.Name())
	anns := n.GetAnnotations()
	if k.Role == material.RoleCA {
		anns[material.AnnotationCAID] = k.CAID
	}
	anns[material.AnnotationGeneration] = string(g)
	if err := n.SetAnnotations(anns); err != nil {
		return moved, nil, err
	}
	moved.Source = n
	return moved, n, nil
}
