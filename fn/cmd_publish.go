package fn

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/carousel-dev/carousel/pkg/fleet"
	"github.com/carousel-dev/carousel/pkg/rotate"
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

// publishRoot publishes a shared root's state (spec.clusters) after a
// command changed its material: the roots it publishes are what every
// cluster's render checks its trust against, so a new root is announced
// in the same commit that makes it (docs/fleet.md, "The root's published
// state"). Any other rotation publishes with `carousel publish`.
func publishRoot(c *cobra.Command, p *rotate.Package) error {
	if len(p.Rotation.Spec.Clusters) == 0 || p.Rotation.Spec.Publish == "" {
		return nil
	}
	now, err := clock()
	if err != nil {
		return err
	}
	path, changed, err := fleet.Publish(p.File, "", now)
	if err != nil {
		return fmt.Errorf("the material is written, but the root's state is not: %w; run `carousel publish %s`", err, p.File)
	}
	if changed {
		fmt.Fprintf(c.OutOrStdout(), "wrote %s\n", path)
	}
	return nil
}
