package fn

import (
	"github.com/spf13/cobra"

	"github.com/carousel-dev/carousel/pkg/krmio"
	"github.com/carousel-dev/carousel/pkg/sops"
)

// decryptCmd is a second, separate KRM function for pipelines that apply
// what kustomize renders directly (Argo CD): it decrypts every resource
// carrying SOPS metadata with the real sops and the identities of the
// environment (SOPS_AGE_KEY_FILE), and checks every private key of a
// decrypted Secret against the certificate beside it. The rendering
// function never decrypts; this one runs only where the apply happens,
// listed as a transformer in an overlay of the package (examples/argocd),
// never in the package itself, so renders for review or for Flux stay
// encrypted.
//
// All or nothing: when any item fails to decrypt or check, the output holds
// no items, only the results (each with its resource), and the exit code is
// non-zero; the error reaches stderr once, from main.
func decryptCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "decrypt",
		GroupID: groupKRM,
		Short:   "A KRM function that decrypts SOPS-encrypted resources and checks each Secret's key against its certificate (for Argo CD's repo-server; never in a package reviewers render)",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			bin, err := sops.Binary()
			if err != nil {
				return err
			}
			return krmio.Execute(sops.DecryptFunction(bin), c.InOrStdin(), c.OutOrStdout())
		},
	}
}
