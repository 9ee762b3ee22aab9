package sops

import (
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
)

// Why this file: the rendering function never decrypts, so it can prove a
// key belongs to its certificate only when the key is plaintext. A SOPS
// value copied from another KeyPair (with its sops metadata, which is all
// it takes to make it decrypt) renders without complaint and ships a Secret
// whose tls.key does not match its tls.crt. Wherever an identity is at hand
// (start, import, the pull-request check in CI, the decrypting function at
// apply time) the keys are decrypted and compared here.

// KeyMismatch is a KeyPair whose private key is not its certificate's.
type KeyMismatch struct {
	// Pair holds the wrong key.
	Pair material.KeyPair
	// Owner is the KeyPair whose certificate the key does belong to, if it
	// is among the pairs checked.
	Owner *material.KeyPair
}

func (m KeyMismatch) Error() string {
	field := "data." + m.Pair.KeyField
	if m.Owner != nil {
		return fmt.Sprintf("KeyPair %s holds the private key of KeyPair %s: its %s does not match its certificate (sha256 %s) but %s's (sha256 %s)",
			m.Pair.Source.GetName(), m.Owner.Source.GetName(), field,
			short(m.Pair.Cert()), m.Owner.Source.GetName(), short(m.Owner.Cert()))
	}
	return fmt.Sprintf("KeyPair %s: its %s does not match its certificate (sha256 %s), nor the certificate of any other KeyPair checked",
		m.Pair.Source.GetName(), field, short(m.Pair.Cert()))
}

func short(c *x509.Certificate) string { return pki.Fingerprint(c)[:16] }

// CheckKeys proves every pair's private key belongs to its certificate,
// decrypting SOPS-encrypted keys with the real sops at bin and the
// identities of the environment (SOPS_AGE_KEY_FILE, ...). bin is needed only
// when a key is encrypted. A key that belongs to another pair's certificate
// is reported with that pair, so the message names both. The error is for a
// key that cannot be read at all (no identity, not a key).
func CheckKeys(bin string, pairs []material.KeyPair) ([]KeyMismatch, error) {
	// A CA held externally has no key to check.
	pairs = slices.DeleteFunc(slices.Clone(pairs), func(k material.KeyPair) bool { return !k.HasKey() })
	keys := make([]crypto.Signer, len(pairs))
	for i, k := range pairs {
		key, err := PrivateKey(bin, k)
		if err != nil {
			return nil, err
		}
		keys[i] = key
	}
	return MatchKeys(pairs, keys), nil
}

// MatchKeys compares keys[i] with pairs[i]'s certificate, for keys already
// read (decrypting each once: sops runs per key and dominates a check).
// A key that belongs to another pair's certificate is reported with that
// pair.
func MatchKeys(pairs []material.KeyPair, keys []crypto.Signer) []KeyMismatch {
	var out []KeyMismatch
	for i, k := range pairs {
		if pki.KeyMatches(k.Cert(), keys[i]) {
			continue
		}
		m := KeyMismatch{Pair: k}
		for j := range pairs {
			if j != i && pki.KeyMatches(pairs[j].Cert(), keys[i]) {
				m.Owner = &pairs[j]
				break
			}
		}
		out = append(out, m)
	}
	return out
}

// VerifyKeys is CheckKeys as one error naming every mismatch (nil: every
// key is its certificate's), for commands that refuse to go on.
func VerifyKeys(bin string, pairs []material.KeyPair) error {
	ms, err := CheckKeys(bin, pairs)
	if err != nil {
		return err
	}
	errs := make([]error, len(ms))
	for i, m := range ms {
		errs[i] = m
	}
	return errors.Join(errs...)
}

// VerifySet is VerifyKeys over every pair of a rotation's material (as
// rotate.Package.Material returns it), for `start` and `import` to call
// after writing: it proves the encrypted files decrypt to keys of their
// certificates, with the identity of the environment.
func VerifySet(bin string, s *material.Set) error {
	pairs := make([]material.KeyPair, 0, len(s.Nodes))
	for _, g := range phases.Generations {
		if k, ok := s.CA[g]; ok {
			pairs = append(pairs, k)
		}
	}
	leaves := make([]string, 0, len(s.Leaves))
	for name := range s.Leaves {
		leaves = append(leaves, name)
	}
	slices.Sort(leaves)
	for _, name := range leaves {
		for _, g := range phases.Generations {
			if k, ok := s.Leaves[name][g]; ok {
				pairs = append(pairs, k)
			}
		}
	}
	return VerifyKeys(bin, pairs)
}

// PrivateKey returns a pair's private key, decrypting it when encrypted.
// The plaintext stays in memory.
func PrivateKey(bin string, k material.KeyPair) (crypto.Signer, error) {
	keyPEM, err := KeyPEM(bin, k)
	if err != nil {
		return nil, err
	}
	key, err := pki.ParseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("KeyPair %s: data.%s: %w", k.Source.GetName(), k.KeyField, err)
	}
	return key, nil
}

// KeyPEM returns a pair's private key as the PEM the material holds (its
// encoding kept), decrypting it when encrypted. The plaintext stays in
// memory: the caller decides where it may go.
func KeyPEM(bin string, k material.KeyPair) ([]byte, error) {
	var keyPEM []byte
	if k.Encrypted() {
		if bin == "" {
			return nil, fmt.Errorf("KeyPair %s: the private key is SOPS-encrypted and no sops binary was given", k.Source.GetName())
		}
		plain, err := Decrypt(bin, []byte(k.Source.MustString()))
		if err != nil {
			return nil, fmt.Errorf("KeyPair %s: %w", k.Source.GetName(), err)
		}
		n, err := yaml.Parse(string(plain))
		if err != nil {
			return nil, fmt.Errorf("KeyPair %s: reading the decrypted document: %w", k.Source.GetName(), err)
		}
		v, err := n.Pipe(yaml.Lookup("data", k.KeyField))
		if err != nil || v == nil {
			return nil, fmt.Errorf("KeyPair %s: the decrypted document has no data.%s", k.Source.GetName(), k.KeyField)
		}
		if keyPEM, err = base64.StdEncoding.DecodeString(yaml.GetValue(v)); err != nil {
			return nil, fmt.Errorf("KeyPair %s: the decrypted data.%s is not base64: %w", k.Source.GetName(), k.KeyField, err)
		}
	} else {
		var err error
		if keyPEM, err = k.KeyPEM(); err != nil {
			return nil, err
		}
	}
	return keyPEM, nil
}

// IdentityMissing is an error when an identity variable names a file that
// does not exist: the person who set it meant an identity to be used, so a
// check that would otherwise go on without one must not.
func IdentityMissing() error {
	for _, v := range []string{"SOPS_AGE_KEY_FILE", "SOPS_AGE_SSH_PRIVATE_KEY_FILE"} {
		if p := os.Getenv(v); p != "" {
			if _, err := os.Stat(p); err != nil {
				return fmt.Errorf("%s names %s, which cannot be read (%v): point it at the age identity, or unset it", v, p, err)
			}
		}
	}
	return nil
}

// AgeIdentity says where sops would find an age identity in the
// environment, or "" when it would find none, so a check that needs one
// can say it was skipped instead of failing on every machine without keys.
func AgeIdentity() string {
	for _, v := range []string{"SOPS_AGE_KEY", "SOPS_AGE_KEY_CMD"} {
		if os.Getenv(v) != "" {
			return v
		}
	}
	for _, v := range []string{"SOPS_AGE_KEY_FILE", "SOPS_AGE_SSH_PRIVATE_KEY_FILE"} {
		if p := os.Getenv(v); p != "" {
			if _, err := os.Stat(p); err == nil {
				return v + "=" + p
			}
		}
	}
	// sops's default place: the user config directory's sops/age/keys.txt.
	if dir, err := os.UserConfigDir(); err == nil {
		p := filepath.Join(dir, "sops", "age", "keys.txt")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// SecretKeyCheck is what CheckSecretKeys compared in one Secret.
type SecretKeyCheck struct {
	// Key and Cert are the Secret's fields (data.x or stringData.x).
	Key, Cert string
	// Subject is the certificate's subject, for the report.
	Subject string
}

// secretValue is one PEM value of a Secret.
type secretValue struct {
	section, name string // "data" or "stringData", and the key
	pem           []byte
	cert          *x509.Certificate // the first certificate, for certificate values
}

func (v secretValue) field() string { return v.section + "." + v.name }

// CheckSecretKeys proves that every PEM private key in a (decrypted)
// Secret matches the certificate beside it. It knows nothing of the
// rotation's spec, so it works on any Secret, and it cannot rely on the
// order of the values either: kustomize hands a function its resources
// re-encoded with sorted keys (ca.crt before tls.crt). So the certificate a
// key is held to is, in this order:
//
//  1. the value named like the key (tls.key: tls.crt; cert.key: cert.crt,
//     cert.pem or cert.cert; key.pem: cert.pem), its first certificate;
//  2. else the only certificate value whose first certificate is not a CA
//     (a leaf Secret: its certificate, not the bundle);
//  3. else the only certificate value.
//
// A key held to a certificate must match it, so a leaf Secret holding the
// CA's key (which matches the bundle) is refused. A key with none of these
// (several CA values under unrelated names) must match the first
// certificate of one of the values. A key without any certificate beside it
// is not compared (skipped lists it). The error names the Secret's fields.
func CheckSecretKeys(n *yaml.RNode) (compared []SecretKeyCheck, skipped []string, err error) {
	var certs, keys []secretValue
	for _, section := range []string{"data", "stringData"} {
		m := n.Field(section)
		if m == nil || m.Value.YNode().Kind != yaml.MappingNode {
			continue
		}
		c := m.Value.YNode().Content
		for i := 0; i+1 < len(c); i += 2 {
			raw := c[i+1].Value
			if section == "data" {
				b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(raw))
				if err != nil {
					continue // not base64: nothing this check can read
				}
				raw = string(b)
			}
			v := secretValue{section: section, name: c[i].Value, pem: []byte(raw)}
			switch {
			case strings.Contains(raw, "-----BEGIN CERTIFICATE-----"):
				cs, err := pki.ParseCerts(v.pem)
				if err != nil {
					return nil, nil, &SecretFieldError{Field: v.field(), Err: err}
				}
				v.cert = cs[0]
				certs = append(certs, v)
			case strings.Contains(raw, "PRIVATE KEY-----"):
				keys = append(keys, v)
			}
		}
	}
	for _, k := range keys {
		if len(certs) == 0 {
			skipped = append(skipped, k.field())
			continue
		}
		key, err := pki.ParseKey(k.pem)
		if err != nil {
			return nil, nil, &SecretFieldError{Field: k.field(), Err: err}
		}
		if c, ok := certFor(k, certs); ok {
			if !pki.KeyMatches(c.cert, key) {
				return nil, nil, &SecretFieldError{Field: k.field(), Err: fmt.Errorf("the private key does not match the certificate in %s (%s, sha256 %s): it was swapped in from other material", c.field(), c.cert.Subject, short(c.cert))}
			}
			compared = append(compared, SecretKeyCheck{Key: k.field(), Cert: c.field(), Subject: c.cert.Subject.String()})
			continue
		}
		matched := false
		var fields []string
		for _, c := range certs {
			fields = append(fields, c.field())
			if !matched && pki.KeyMatches(c.cert, key) {
				compared = append(compared, SecretKeyCheck{Key: k.field(), Cert: c.field(), Subject: c.cert.Subject.String()})
				matched = true
			}
		}
		if !matched {
			return nil, nil, &SecretFieldError{Field: k.field(), Err: fmt.Errorf("the private key matches none of the certificates beside it (%s)", strings.Join(fields, ", "))}
		}
	}
	return compared, skipped, nil
}

// certFor picks the certificate value a key is held to (see CheckSecretKeys).
func certFor(k secretValue, certs []secretValue) (secretValue, bool) {
	var names []string
	stem := strings.TrimSuffix(k.name, ".key")
	if stem != k.name {
		names = append(names, stem+".crt", stem+".pem", stem+".cert")
	}
	if k.name == "key.pem" {
		names = append(names, "cert.pem")
	}
	for _, name := range names {
		for _, c := range certs {
			if c.name == name {
				return c, true
			}
		}
	}
	var leaves []secretValue
	for _, c := range certs {
		if !c.cert.IsCA {
			leaves = append(leaves, c)
		}
	}
	if len(leaves) == 1 {
		return leaves[0], true
	}
	if len(certs) == 1 {
		return certs[0], true
	}
	return secretValue{}, false
}

// SecretFieldError is a problem with one field of a Secret.
type SecretFieldError struct {
	Field string
	Err   error
}

func (e *SecretFieldError) Error() string { return e.Field + ": " + e.Err.Error() }

func (e *SecretFieldError) Unwrap() error { return e.Err }
