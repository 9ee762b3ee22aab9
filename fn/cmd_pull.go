package fn

import (
	"github.com/spf13/cobra"

	"github.com/carousel-dev/carousel/pkg/backend"
	"github.com/carousel-dev/carousel/pkg/rotate"
)

func pullCmd() *cobra.Command {
	var f clusterFlags
	c := &cobra.Command{
		Use:     "pull CAROTATION_FILE",
		GroupID: groupCluster,
		Short:   "Commit the public certificates of the CAs cert-manager issued (backend cert-manager): never a key",
		Long: `pull reads, for each CA generation of a rotation with backend cert-manager,
the tls.crt of the Secret cert-manager wrote (spec.certManager.namespace/
<rotation>-ca-<n>) and writes it as a CACertificate into the material
directory, listed in its kustomization. Renders stay byte-identical and
trust-new refuses to render until the new generation's certificate is there.
A generation already in git must match the cluster exactly.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return writePackage(c, args[0], func(p *rotate.Package) (rotate.Report, error) {
				return backend.For(p.Rotation).Pull(contextOf(c), f.client, p)
			})
		},
	}
	f.add(c)
	return c
}
