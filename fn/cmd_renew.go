package fn

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/rotate"
)

func renewCmd() *cobra.Command {
	var kf keyFlags
	var before time.Duration
	var inPlace bool
	c := &cobra.Command{
		Use:     "renew CAROTATION_FILE --before 720h",
		GroupID: groupMaterial,
		Short:   "Start the rotation that material expiring within the window needs (exit 4 when nothing is due)",
		Long: `renew finds the CA and leaves in use that expire within --before of now.
A CA that is due starts a CA rotation (scope ca: a new CA and every leaf);
otherwise due leaves are re-issued under the same CA (scope leaf, only those
leaves). It writes material like start, so a scheduled CI job can commit it
and open a pull request.

With --in-place, a CA that is due is renewed in place instead (scope renew: a
new certificate over the same key, no leaf re-issued, only trust consumers
roll) when its key meets spec.ca.key.algorithm; when it does not, a key change
is due and a CA rotation starts, saying so. Leaves that are due as well are
not re-issued by a renewal in place: re-issue them once it is finished
(start --scope leaf at cleanup promotes it and re-issues them in one command).

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
			if inPlace && req.Scope == phases.ScopeCA {
				var keyChange *rotate.KeyChangeDue
				switch err := p.Renewable(); {
				case err == nil:
					req = rotate.StartRequest{Scope: phases.ScopeRenew}
					for _, d := range due {
						if d.Leaf != "" {
							fmt.Fprintf(c.OutOrStdout(), "note: %s is due too and a renewal in place re-issues no leaf: once it reaches cleanup, `carousel start %s --scope leaf --leaf %s` re-issues it under the renewed certificate\n", d.What, args[0], d.Leaf)
						}
					}
				case errors.As(err, &keyChange):
					fmt.Fprintf(c.OutOrStdout(), "not renewed in place: %v\n", err)
				default:
					return fmt.Errorf("the CA cannot be renewed in place: %w", err)
				}
			}
			o := kf.options(c)
			o.Now = func() time.Time { return now }
			rep, err := rotate.Start(p, o, req)
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
	c.Flags().BoolVar(&inPlace, "in-place", false, "renew a due CA in place (scope renew: same key, new certificate, no leaf re-issued) when its key meets spec.ca.key.algorithm")
	return c
}
