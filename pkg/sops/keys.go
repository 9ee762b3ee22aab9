package sops

import (
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/material"
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
	keys := make([]crypto.Signer, len(pairs))
	for i, k := range pairs {
		key, err := PrivateKey(bin, k)
		if err != nil {
			return nil, err
		}
		keys[i] = key
	}
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
	return out, nil
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

// PrivateKey returns a pair's private key, decrypting it when encrypted.
// The plaintext stays in memory.
func PrivateKey(bin string, k material.KeyPair) (crypto.Signer, error) {
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
	key, err := pki.ParseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("KeyPair %s: data.%s: %w", k.Source.GetName(), k.KeyField, err)
	}
	return key, nil
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

// CheckSecretKeys proves that every PEM private key in a (decrypted)
// Secret matches the certificate beside it: the first certificate of the
// Secret's first PEM certificate value, in document order (the rendered
// Secrets hold the certificate, then the key, then the CA bundle, so this
// is the Secret's own certificate, never the CA's). It knows nothing of the
// rotation's spec, so it works on any Secret. It returns what it compared;
// a key without any certificate beside it is not compared (skipped lists
// it). The error names the Secret and both fields.
func CheckSecretKeys(n *yaml.RNode) (compared []SecretKeyCheck, skipped []string, err error) {
	type value struct {
		field string
		pem   []byte
	}
	var vals []value
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
			vals = append(vals, value{section + "." + c[i].Value, []byte(raw)})
		}
	}
	var cert *x509.Certificate
	var certField string
	for _, v := range vals {
		if strings.Contains(string(v.pem), "-----BEGIN CERTIFICATE-----") {
			certs, err := pki.ParseCerts(v.pem)
			if err != nil {
				return nil, nil, &SecretFieldError{Field: v.field, Err: err}
			}
			cert, certField = certs[0], v.field
			break
		}
	}
	for _, v := range vals {
		if !strings.Contains(string(v.pem), "PRIVATE KEY-----") {
			continue
		}
		if cert == nil {
			skipped = append(skipped, v.field)
			continue
		}
		key, err := pki.ParseKey(v.pem)
		if err != nil {
			return nil, nil, &SecretFieldError{Field: v.field, Err: err}
		}
		if !pki.KeyMatches(cert, key) {
			return nil, nil, &SecretFieldError{Field: v.field, Err: fmt.Errorf("the private key does not match the certificate in %s (%s, sha256 %s): it was swapped in from other material", certField, cert.Subject, short(cert))}
		}
		compared = append(compared, SecretKeyCheck{Key: v.field, Cert: certField, Subject: cert.Subject.String()})
	}
	return compared, skipped, nil
}

// SecretFieldError is a problem with one field of a Secret.
type SecretFieldError struct {
	Field string
	Err   error
}

func (e *SecretFieldError) Error() string { return e.Field + ": " + e.Err.Error() }

func (e *SecretFieldError) Unwrap() error { return e.Err }
