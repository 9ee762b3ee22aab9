package fn

import (
	"github.com/spf13/cobra"

	"github.com/carousel-dev/carousel/pkg/backend"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/rotate"
)

func startCmd() *cobra.Command {
	var kf keyFlags
	var leaves []string
	var scope string
	c := &cobra.Command{
		Use:     "start CAROTATION_FILE",
		GroupID: groupMaterial,
		Short:   "Make the next rotation's material: a new CA and every leaf for it (scope ca), or new leaves (scope leaf)",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return writePackage(c, args[0], func(p *rotate.Package) (rotate.Report, error) {
				rep, err := backend.For(p.Rotation).Start(p, kf.options(c), rotate.StartRequest{Scope: phases.Scope(scope), Only: leaves})
				if err == nil {
					report(c, rep)
					return rotate.Report{}, publishRoot(c, p)
				}
				return rep, err
			})
		},
	}
	kf.add(c)
	c.Flags().StringSliceVar(&leaves, "leaf", nil, "with scope leaf: re-issue only these leaves, or every leaf of a group (spec.leaves[].group; like rke cert rotate --service etcd)")
	c.Flags().StringVar(&scope, "scope", "", "ca (a new CA and every leaf) or leaf (new leaves from the current CA); sets spec.scope")
	return c
}
