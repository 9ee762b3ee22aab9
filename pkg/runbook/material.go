package runbook

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"path"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// pairRef is what a runbook needs of one KeyPair (a CA or leaf generation): its certificate
// (public, written into commands as PEM) and where its encrypted key is.
type pairRef struct {
	cert     *x509.Certificate
	file     string // relative to the package directory
	keyField string
}

// installed is one of the API server's certificates the rotation issues.
type installed struct {
	name string
	pair pairRef
}

// materialOf collects the rotation's certificates from the input, by
// KeyPair ID ("ca", "leaf/<name>") and generation. The trusted set a
// runbook writes comes from here, the same certificates the rendered objects
// carry, so nodes never copy a set from an object the rotation does not
// manage.
func materialOf(rot *spec.CARotation, items []*yaml.RNode) map[string]map[phases.Generation]pairRef {
	out := map[string]map[phases.Generation]pairRef{}
	for _, n := range items {
		if !material.IsKeyPair(n) || material.RotationOf(n) != rot.Metadata.Name {
			continue
		}
		k, err := material.Parse(n)
		if err != nil {
			continue // gen reports unreadable material
		}
		if out[k.ID()] == nil {
			out[k.ID()] = map[phases.Generation]pairRef{}
		}
		out[k.ID()][k.Generation] = pairRef{cert: k.Cert(), file: path.Join(rot.Spec.MaterialDir, k.FileName()), keyField: k.KeyField}
	}
	return out
}

// pem is the PEM of the CA generations as a trusted set: the bytes pkg/gen
// renders into every trust object (pki.Bundle, sorted by fingerprint), not
// the generations' order. kube-controller-manager's token controller
// compares a service-account token Secret's ca.crt with --root-ca-file byte
// for byte and rewrites it when they differ, so the same set in another
// order would have it and the GitOps controller overwrite each other.
func (r runbook) pem(gs ...phases.Generation) string {
	var certs []*x509.Certificate
	for _, g := range gs {
		certs = append(certs, r.m[g].cert)
	}
	return string(pki.Bundle(certs...))
}

func pemOf(certs ...*x509.Certificate) string {
	var b bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.String()
}
