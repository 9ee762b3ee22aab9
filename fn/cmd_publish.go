package fn

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/carousel-dev/carousel/pkg/fleet"
)

func publishCmd() *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:     "publish CAROTATION_FILE",
		GroupID: groupRotation,
		Short:   "Write the rotation's public state (phase, trusted set, digests) for consumer packages in other applications or repositories",
		Long: `publish renders the package's current phase and writes its public state, a
CARotationState, to spec.publish (or --out): the phase, the trusted set as PEM,
the signer generation, the leaves' fingerprints and one digest per kind of
consumption (trust, ca, leaf:<name>), the same digests the owner's restart
annotations are made of. It holds no key material. Consumer packages
(kind: CARotationConsumer) render their bundles, caBundles and restart
annotations from it; carousel check refuses a pull request that leaves it
stale. The output is byte-identical for the same phase and material.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			unlock, err := lockPackage(args[0])
			if err != nil {
				return err
			}
			defer unlock()
			now, err := clock()
			if err != nil {
				return err
			}
			path, changed, err := fleet.Publish(args[0], out, now)
			if err != nil {
				return err
			}
			if changed {
				fmt.Fprintf(c.OutOrStdout(), "wrote %s\n", path)
			} else {
				fmt.Fprintf(c.OutOrStdout(), "%s is up to date\n", path)
			}
			return nil
		},
	}
	c.Flags().StringVar(&out, "out", "", "write the state here instead of spec.publish")
	return c
}
