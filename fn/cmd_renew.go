package fn

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/carousel-dev/carousel/pkg/rotate"
)

func renewCmd() *cobra.Command {
	var kf keyFlags
	var before time.Duration
	c := &cobra.Command{
		Use:     "renew CAROTATION_FILE --before 720h",
		GroupID: groupMaterial,
		Short:   "Start the rotation that material expiring within the window needs (exit 4 when nothing is due)",
		Long: `renew finds the CA and leaves in use that expire within --before of now.
A CA that is due starts a CA rotation (scope ca: a new CA and every leaf);
otherwise due leaves are re-issued under the same CA (scope leaf, only those
leaves). It writes material like start, so a scheduled CI job can commit it
and open a pull request.

A rotation in flight is an error (exit 1). CAROUSEL_NOW (RFC 3339) fixes "now".

` + exitHelp,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			p, unlock, err := openPackage(args[0])
			if err != nil {
				return err
			}
			defer unlock()
			now, err := clock()
			if err != nil {
				return err
			}
			due, err := p.FindDue(now.Add(before))
			if err != nil {
				return err
			}
			if len(due) == 0 {
				fmt.Fprintf(c.OutOrStdout(), "nothing in %s expires within %s\n", p.Rotation.Metadata.Name, before)
				return &exitErr{exitNothingDue, fmt.Errorf("nothing due")}
			}
			for _, d := range due {
				fmt.Fprintf(c.OutOrStdout(), "due: %s expires %s\n", d.What, d.NotAfter.UTC().Format(time.RFC3339))
			}
			req := rotate.RenewRequest(due)
			rep, err := rotate.Start(p, kf.options(c), req)
			report(c, rep)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "started a %s rotation: commit the material, then advance one phase per pull request\n", req.Scope)
			return nil
		},
	}
	kf.add(c)
	c.Flags().DurationVar(&before, "before", 720*time.Hour, "renew what expires within this window")
	return c
}
