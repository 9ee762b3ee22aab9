package fn

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/rotate"
)

// kubeconfigCmd writes a user account's kubeconfig from the rotation's
// material: the step of the Kubernetes page that GitOps cannot render,
// because the kubeconfig carries the private key in plaintext. It reads the
// package and writes nothing in it, so it takes no lock.
func kubeconfigCmd() *cobra.Command {
	var req rotate.KubeconfigRequest
	var phase, out string
	c := &cobra.Command{
		Use:     "kubeconfig CAROTATION_FILE --leaf NAME --out FILE",
		GroupID: groupMaterial,
		Short:   "Write a user account's kubeconfig (client-certificate-data, client-key-data, certificate-authority-data) for a phase, outside the repository",
		Long: `kubeconfig writes the kubeconfig of a user account whose client certificate
is a leaf of the rotation (usages: [client]; its commonName is the user name,
its organization the groups): client-certificate-data and client-key-data of
the leaf generation the phase serves, and certificate-authority-data with the
phase's trusted set, the bytes every rendered trust object carries. The key is
decrypted with sops (SOPS_AGE_KEY_FILE) and checked against the certificate.

The file is written atomically with mode 0600, and never inside the git work
tree of the package: the repository holds keys only encrypted. "--out -"
prints it. Write a new one for each phase whose leaf generation or trusted set
changes (carousel plan says when); a kubeconfig of a phase authenticates
against API servers of that phase and of the phases next to it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if req.Leaf == "" {
				return &usageError{fmt.Errorf("--leaf names the user account's client leaf")}
			}
			if out == "" {
				return &usageError{fmt.Errorf("--out FILE says where the kubeconfig goes (outside the repository; \"-\" prints it)")}
			}
			p, err := rotate.Load(args[0])
			if err != nil {
				return err
			}
			req.Phase = phases.Phase(phase)
			b, err := rotate.Kubeconfig(p, req)
			if err != nil {
				return err
			}
			if out == "-" {
				_, err = c.OutOrStdout().Write(b)
				return err
			}
			if err := rotate.WriteKubeconfig(p, out, b); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "wrote %s\n", out)
			return nil
		},
	}
	c.Flags().StringVar(&req.Leaf, "leaf", "", "the user account's client leaf (spec.leaves[].name)")
	c.Flags().StringVar(&out, "out", "", "the kubeconfig file to write (mode 0600, outside the repository; \"-\": stdout)")
	c.Flags().StringVar(&phase, "phase", "", "the phase whose leaf and trusted set it carries (default spec.phase)")
	c.Flags().StringVar(&req.Server, "server", "", "the API server URL (default spec.clusterInfo.server)")
	c.Flags().StringVar(&req.Cluster, "cluster", "", "the kubeconfig's cluster name (default the rotation's name)")
	c.Flags().StringVar(&req.User, "user", "", "the kubeconfig's user name (default the leaf's name)")
	return c
}
