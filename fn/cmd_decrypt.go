package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/krmio"
	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/sops"
)

// decryptCmd is a second, separate KRM function for pipelines that apply
// what kustomize renders directly (Argo CD): it decrypts every resource
// carrying SOPS metadata with the real sops and the identities of the
// environment (SOPS_AGE_KEY_FILE). The rendering function never decrypts;
// this one runs only where the apply happens, listed as a transformer in an
// overlay of the package (examples/argocd), never in the package itself, so
// renders for review or for Flux stay encrypted.
func decryptCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "decrypt",
		Short: "A KRM function that decrypts SOPS-encrypted resources (for Argo CD's repo-server; never in a package reviewers render)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			bin, err := sops.Binary()
			if err != nil {
				return err
			}
			p := framework.ResourceListProcessorFunc(func(rl *framework.ResourceList) error {
				for i, n := range rl.Items {
					if n.Field(material.SopsField) == nil {
						continue
					}
					out, err := sops.Decrypt(bin, []byte(n.MustString()))
					if err != nil {
						return fmt.Errorf("%s %s/%s: %w", n.GetKind(), n.GetNamespace(), n.GetName(), err)
					}
					plain, err := yaml.Parse(string(out))
					if err != nil {
						return err
					}
					rl.Items[i] = plain
				}
				return nil
			})
			err = krmio.Execute(p, c.InOrStdin(), c.OutOrStdout())
			if err != nil {
				fmt.Fprintf(c.ErrOrStderr(), "%v", err)
			}
			return err
		},
	}
}
