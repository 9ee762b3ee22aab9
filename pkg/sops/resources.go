package sops

import (
	"errors"
	"fmt"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/kio/kioutil"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/material"
)

// DecryptFunction is the KRM function `carousel decrypt`, whether run as a
// program by kustomize or in-process by `carousel build` (pkg/kbuild):
// DecryptResources over the items with the sops binary bin; when any item
// fails, no items and the results.
func DecryptFunction(bin string) framework.ResourceListProcessor {
	return framework.ResourceListProcessorFunc(func(rl *framework.ResourceList) error {
		items, results := DecryptResources(bin, rl.Items)
		rl.Items = items
		rl.Results = append(rl.Results, results...)
		if results.ExitCode() != 0 {
			return rl.Results
		}
		return nil
	})
}

// DecryptResources decrypts every resource carrying SOPS metadata (what
// `carousel decrypt` does for Argo CD) and checks every private key of a
// decrypted Secret against the certificate beside it (CheckSecretKeys).
//
// All or nothing: it returns the decrypted items only when every item
// decrypted and checked; otherwise no items, and one error result per
// failing resource (all of them, not just the first), with its reference,
// so a pipeline never applies half a phase, or a Secret whose key does not
// match its certificate. On success, info results say which keys were
// compared.
func DecryptResources(bin string, items []*yaml.RNode) ([]*yaml.RNode, framework.Results) {
	out := make([]*yaml.RNode, len(items))
	var results framework.Results
	failed := false
	for i, n := range items {
		out[i] = n
		if n.Field(material.SopsField) == nil {
			continue
		}
		plain, err := decryptNode(bin, n)
		if err != nil {
			results = append(results, resultFor(framework.Error, n, "", err.Error()))
			failed = true
			continue
		}
		out[i] = plain
		if plain.GetKind() != "Secret" {
			continue
		}
		compared, skipped, err := CheckSecretKeys(plain)
		if err != nil {
			field, msg := "", err.Error()
			var fe *SecretFieldError
			if errors.As(err, &fe) {
				field, msg = fe.Field, fe.Err.Error() // the result carries the field
			}
			results = append(results, resultFor(framework.Error, n, field, msg))
			failed = true
			continue
		}
		var said []string
		for _, c := range compared {
			said = append(said, fmt.Sprintf("%s matches the certificate in %s (%s)", c.Key, c.Cert, c.Subject))
		}
		for _, s := range skipped {
			said = append(said, s+" not compared: no certificate beside it")
		}
		if len(said) > 0 {
			results = append(results, resultFor(framework.Info, n, "", "decrypted; "+strings.Join(said, "; ")))
		}
	}
	if failed {
		// Nothing was written, so nothing "decrypted": only the errors.
		var errs framework.Results
		for _, r := range results {
			if r.Severity == framework.Error {
				errs = append(errs, r)
			}
		}
		return nil, errs
	}
	return out, results
}

func decryptNode(bin string, n *yaml.RNode) (*yaml.RNode, error) {
	b, err := Decrypt(bin, []byte(n.MustString()))
	if err != nil {
		return nil, err
	}
	plain, err := yaml.Parse(string(b))
	if err != nil {
		return nil, fmt.Errorf("reading the decrypted document: %w", err)
	}
	return plain, nil
}

func resultFor(sev framework.Severity, n *yaml.RNode, field, msg string) *framework.Result {
	r := &framework.Result{Severity: sev, Message: msg, ResourceRef: &yaml.ResourceIdentifier{
		TypeMeta: yaml.TypeMeta{APIVersion: n.GetApiVersion(), Kind: n.GetKind()},
		NameMeta: yaml.NameMeta{Name: n.GetName(), Namespace: n.GetNamespace()},
	}}
	if field != "" {
		r.Field = &framework.Field{Path: field}
	}
	if p, _, err := kioutil.GetFileAnnotations(n); err == nil && p != "" {
		r.File = &framework.File{Path: p}
	}
	return r
}
