package rotate

import (
	"crypto/x509"
	"fmt"

	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// checkRecover holds `start --scope recover` to what the route is for: a
// current CA that expired, or whose key is lost (its KeyPair holds no key,
// or the key cannot be decrypted). Nothing of the old generation is read
// beyond its certificate: the new CA and every leaf are made from nothing.
// A valid CA whose key carousel can read is refused with the safe routes,
// and so is one whose key it cannot read (a missing identity is not a lost
// key: the loss is declared by removing the key from the KeyPair),
// and so is any phase but steady (recover replaces what the cluster runs,
// not a rotation in flight). It returns why the CA is recovered, for
// people.
func (o Options) checkRecover(rot *spec.CARotation, cur *material.Set) (string, error) {
	if rot.Spec.Phase != phases.Steady {
		return "", fmt.Errorf("recover starts at steady, and spec.phase is %s: finish this rotation (or roll it back to steady) first; if its CAs expired too, set spec.phase: steady by hand, with the material of the CA the cluster runs listed as current, and start again", rot.Spec.Phase)
	}
	ca, ok := cur.CA[phases.Old]
	if !ok {
		return "", fmt.Errorf("there is no current CA to recover from: adopt the cluster's CA first (`carousel init --ca-cert FILE`, with --ca-key if you still have it; an expired CA is accepted when spec.scope is recover)")
	}
	c := ca.Cert()
	now := o.now()
	if now.After(c.NotAfter) {
		return fmt.Sprintf("the current CA %q expired on %s", c.Subject.CommonName, c.NotAfter.UTC().Format("2006-01-02")), nil
	}
	if !ca.HasKey() {
		return fmt.Sprintf("the current CA %q has no key in the material (held externally or lost)", c.Subject.CommonName), nil
	}
	if _, err := o.readablePair(ca); err != nil {
		// Fail closed: an identity missing from this shell is not a lost
		// key, and recovering a valid CA breaks every handshake for
		// nothing. Declaring the key lost is a reviewed edit of the
		// material, which git records.
		return "", fmt.Errorf("the current CA %q is valid until %s and its key cannot be read (%v): carousel does not take an unreadable key for a lost one. Configure the identity that decrypts it (SOPS_AGE_KEY_FILE) and rotate with scope ca, which keeps every handshake; if the key is really lost, remove `data` and `sops` from the current CA's KeyPair (%s, a reviewed commit that records the loss) and start again",
			c.Subject.CommonName, c.NotAfter.UTC().Format("2006-01-02"), err, caPairName(rot))
	}
	return "", fmt.Errorf("nothing to recover: the current CA %q is valid until %s and its key is held. Rotate with scope ca (`carousel start --scope ca`), which keeps every handshake, or scope emergency if it is compromised (`carousel start --scope emergency`)",
		c.Subject.CommonName, c.NotAfter.UTC().Format("2006-01-02"))
}

// adoptsExpiredForRecovery reports whether init adopts an expired CA: only
// for the recover route (spec.scope: recover), whose steady is the cluster
// as it runs with it. Any other scope refuses it (pki.CheckValidAt): its
// phases overlap trust with a CA no client accepts.
func (p *Package) adoptsExpiredForRecovery(o Options, c *x509.Certificate) bool {
	return c != nil && p.Rotation.Spec.Scope == phases.ScopeRecover && o.now().After(c.NotAfter)
}

// caCert is the adopted CA certificate of init's options, or nil.
func caCert(o Options) *x509.Certificate {
	if o.CACertPEM == nil {
		return nil
	}
	certs, err := pki.ParseCerts(o.CACertPEM)
	if err != nil || len(certs) == 0 {
		return nil
	}
	return certs[0]
}

func recoveryAdoptionWarning(c *x509.Certificate, file string) string {
	return fmt.Sprintf("it expired on %s: adopted only because spec.scope is recover. No leaf is issued with it (every client refuses what it signs); `carousel start %s --scope recover` makes a new CA and every leaf, and its replace phase, with its node steps, brings the cluster back (docs/phases.md, \"Recover: an expired or lost CA\")",
		c.NotAfter.UTC().Format("2006-01-02"), file)
}

// caPairName names the current CA's KeyPair for people: its
// metadata.name, as the material file holds it.
func caPairName(rot *spec.CARotation) string {
	return rot.Metadata.Name + "-old, in " + rot.Spec.MaterialDir
}
