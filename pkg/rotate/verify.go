package rotate

import (
	"crypto"
	"fmt"

	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/sops"
)

// verifyKeys proves that the keys a command builds on belong to their
// certificates before it writes anything: plaintext keys always, encrypted
// ones when an age identity is in the environment (decrypted with the real
// sops, in memory). A key swapped in from another pair is refused naming
// both pairs. Without an identity the encrypted keys are held to their
// certificates where one is present: `carousel check` in CI and `carousel
// decrypt` where the Secrets are applied.
func (o Options) verifyKeys(pairs []material.KeyPair) error {
	identity := sops.AgeIdentity() != ""
	var check []material.KeyPair
	encrypted := false
	for _, k := range pairs {
		if k.Encrypted() {
			if !identity {
				continue
			}
			encrypted = true
		}
		check = append(check, k)
	}
	bin := o.SopsBinary
	if encrypted && bin == "" {
		var err error
		if bin, err = sops.Binary(); err != nil {
			return err
		}
	}
	if err := sops.VerifyKeys(bin, check); err != nil {
		return fmt.Errorf("the material's keys do not match their certificates: %w", err)
	}
	return nil
}

// pairsOf lists every pair of a set, CA first, in a stable order.
func pairsOf(s *material.Set) []material.KeyPair {
	var out []material.KeyPair
	for _, g := range phases.Generations {
		if k, ok := s.CA[g]; ok {
			out = append(out, k)
		}
	}
	for _, name := range sortedKeys(s.Leaves) {
		for _, g := range phases.Generations {
			if k, ok := s.Leaves[name][g]; ok {
				out = append(out, k)
			}
		}
	}
	return out
}

// verifyImported proves a pending key about to become material belongs to
// the certificate the external CA signed for it. Pending pairs have no
// certificate yet, so the owner of a swapped key is found by its CSR: the
// message names both KeyPairs, as for committed material.
func (o Options) verifyImported(made material.KeyPair, pending []pendingKey) error {
	if made.Encrypted() && sops.AgeIdentity() == "" {
		return nil
	}
	bin := o.SopsBinary
	if made.Encrypted() && bin == "" {
		var err error
		if bin, err = sops.Binary(); err != nil {
			return err
		}
	}
	key, err := sops.PrivateKey(bin, made)
	if err != nil {
		return err
	}
	if pki.KeyMatches(made.Cert(), key) {
		return nil
	}
	for _, p := range pending {
		if e, ok := p.csr.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); ok && e.Equal(key.Public()) {
			return fmt.Errorf("KeyPair %s holds the private key of KeyPair %s (pending %s): the pending keys were swapped; rerun `carousel csr --force` for both", made.Name(), p.pair.Name(), p.name)
		}
	}
	return fmt.Errorf("KeyPair %s: its pending key does not match the signed certificate (sha256 %s)", made.Name(), pki.Fingerprint(made.Cert())[:16])
}
