package fn

import (
	"time"

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
		Short:   "Make the next rotation's material: a new CA and every leaf for it (scope ca), new leaves (scope leaf), the CA renewed over its key (scope renew), or a new CA the current one cross-signs (scope cross-sign)",
		Long: `start makes the next rotation's material, for the scope of --scope (default:
spec.scope):

  ca     a new CA and every leaf signed by it
  leaf   new leaves from the current CA (all, or those of --leaf)
  renew  a new certificate for the current CA over its own key: the same
         subject, public key and subject key identifier, a new serial number,
         valid for spec.ca.validity from now. No leaf is re-issued (each one
         verifies under either certificate) and only trust consumers roll.
         Refused for an intermediate CA (its parent signs: csr, sign, import)
         and for a key that is not spec.ca.key.algorithm (a key change is due:
         --scope ca).
  cross-sign
         a new CA, every leaf signed by it, and a cross-certificate: the new
         CA's subject and key signed by the current CA (its key decrypted in
         memory), valid no longer than the current CA. Leaves are served with
         it from sign-new to distrust-old, so clients that trust only the
         current CA accept them until cleanup. Refused for a CA held
         externally (no key to cross-sign with).
  emergency  a new CA and every leaf, replacing a CA marked compromised
         (spec.compromised, which start prints for you to add) in one phase,
         replace: pods of steady and replace refuse each other until it has
         rolled out, and there is no rollback (docs/phases.md, "Emergency").
  recover  from a CA that expired, or whose key is lost (its KeyPair holds no
         key: remove data and sops from it to declare the loss): a new CA and
         every leaf under it, reading nothing of the old generation but its
         certificate. Refused for a valid CA whose key is held (--scope ca, or
         emergency if it is compromised) or cannot be read, and off steady.

A finished rotation (cleanup, reissue) is promoted first. CAROUSEL_NOW (RFC 3339)
fixes "now" (a renewed certificate's or a cross-certificate's start).

` + exitHelp,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o := kf.options(c)
			now, err := clock()
			if err != nil {
				return err
			}
			o.Now = func() time.Time { return now }
			return writePackage(c, args[0], func(p *rotate.Package) (rotate.Report, error) {
				rep, err := backend.For(p.Rotation).Start(p, o, rotate.StartRequest{Scope: phases.Scope(scope), Only: leaves})
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
	c.Flags().StringVar(&scope, "scope", "", "ca (a new CA and every leaf), leaf (new leaves from the current CA), renew (the current CA's certificate renewed over its key), cross-sign (a new CA the current one cross-signs) or emergency (a compromised CA replaced in one phase); sets spec.scope")
	return c
}
