package fn

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/carousel-dev/carousel/pkg/atomicfile"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/rotate"
)

func csrCmd() *cobra.Command {
	var kf keyFlags
	var ca, force bool
	var leaves []string
	c := &cobra.Command{
		Use:     "csr CAROTATION_FILE [--ca] [--leaf NAME...]",
		GroupID: groupMaterial,
		Short:   "Write keys (encrypted) and CSRs for an external CA to sign: the next CA as an intermediate, and/or leaves",
		Long: `csr writes, under <materialDir>/pending/, a key for each request (SOPS-encrypted
like every key) and its certificate signing request (.csr, PEM) to hand to an
external CA (the RKE "rke cert generate-csr" flow). Sign them, then run
carousel import with the certificates. Nothing pending is ever rendered.
After importing an intermediate (--ca), carousel start issues the leaves not
requested with it. With a CA held externally (init --ca-cert without a key),
request every leaf here.
A request that is pending already is refused; --force replaces it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return writePackage(c, args[0], func(p *rotate.Package) (rotate.Report, error) {
				return rotate.CSR(p, kf.options(c), rotate.CSRRequest{CA: ca, Leaves: leaves, Force: force})
			})
		},
	}
	kf.add(c)
	c.Flags().BoolVar(&ca, "ca", false, "request the next rotation's CA (an intermediate under the external root)")
	c.Flags().StringSliceVar(&leaves, "leaf", nil, "request these leaves, or every leaf of a group (spec.leaves[].group): the next rotation's, or the current one for a leaf that has none (a CA held externally)")
	c.Flags().BoolVar(&force, "force", false, "replace requests that are pending already (a certificate signed for the replaced CSR is then refused)")
	return c
}

func importCmd() *cobra.Command {
	var certs []string
	var chain string
	c := &cobra.Command{
		Use:     "import CAROTATION_FILE --cert FILE...",
		GroupID: groupMaterial,
		Short:   "Complete pending material with certificates an external CA signed, checked against their keys and CSRs",
		Long: `import matches each certificate to a pending key by its public key (a
certificate for another key is refused), checks it against its CSR (subject and
names: a certificate for another request is refused) and the policy (a CA must
be a CA; a leaf chains to its CA, has the spec's names and usages and does not
outlive it), and writes the KeyPair. The encrypted key moves over unchanged.
Import the CA before its leaves; --chain appends the external root (PEM) to
the CA's certificate.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return writePackage(c, args[0], func(p *rotate.Package) (rotate.Report, error) {
				var pems [][]byte
				for _, f := range certs {
					b, err := os.ReadFile(f)
					if err != nil {
						return rotate.Report{}, err
					}
					pems = append(pems, b)
				}
				var chainPEM []byte
				if chain != "" {
					var err error
					if chainPEM, err = os.ReadFile(chain); err != nil {
						return rotate.Report{}, err
					}
				}
				return rotate.Import(p, rotate.Options{Stderr: c.ErrOrStderr()}, pems, chainPEM)
			})
		},
	}
	c.Flags().StringSliceVar(&certs, "cert", nil, "a signed certificate (PEM); repeatable")
	c.Flags().StringVar(&chain, "chain", "", "the external CA's chain (PEM), stored after an imported CA certificate")
	return c
}

func signCmd() *cobra.Command {
	var csrFile, out, chainOut, generation string
	var validity time.Duration
	c := &cobra.Command{
		Use:     "sign CAROTATION_FILE --csr FILE --out FILE --chain-out FILE",
		GroupID: groupMaterial,
		Short:   "Sign another package's CA request as an intermediate with this package's CA: a shared root signing a cluster's",
		Long: `sign is the shared root's side of a cluster's intermediate (docs/fleet.md,
"One root, many clusters"): the cluster runs carousel csr --ca, hands over the
.csr, and imports what sign writes (carousel import --cert OUT --chain
CHAIN_OUT). The root's key is decrypted in memory and never leaves its package;
only certificates are written. --generation new signs with the next
rotation's root (after carousel start), the one each cluster's next
intermediate chains to; old (the default) with the current one. The
intermediate has path length 0 and the request's subject, and never outlives
the root. Nothing in the package changes.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if csrFile == "" || out == "" || chainOut == "" {
				return errors.New("--csr, --out and --chain-out are required")
			}
			g := phases.Generation(generation)
			if g != phases.Old && g != phases.New {
				return fmt.Errorf("--generation %q: want old or new", generation)
			}
			req, err := os.ReadFile(csrFile)
			if err != nil {
				return err
			}
			p, unlock, err := openPackage(args[0])
			if err != nil {
				return err
			}
			defer unlock()
			cert, root, err := rotate.Sign(p, rotate.Options{Stderr: c.ErrOrStderr()}, rotate.SignRequest{CSR: req, Generation: g, Validity: validity})
			if err != nil {
				return err
			}
			// The chain first: an --out that exists is a finished sign.
			if err := atomicfile.WriteFile(chainOut, root, 0o644); err != nil {
				return err
			}
			if err := atomicfile.WriteFile(out, cert, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "wrote %s\nwrote %s\n", chainOut, out)
			return nil
		},
	}
	c.Flags().StringVar(&csrFile, "csr", "", "the request (PEM), from the other package's carousel csr --ca")
	c.Flags().StringVar(&out, "out", "", "write the intermediate's certificate (PEM) to this file")
	c.Flags().StringVar(&chainOut, "chain-out", "", "write the signing root's certificate (PEM) to this file, for import --chain")
	c.Flags().StringVar(&generation, "generation", "old", "which of this package's CAs signs: old (the current) or new (the next rotation's)")
	c.Flags().DurationVar(&validity, "validity", 0, "the intermediate's validity (default: this package's spec.ca.validity; never past the root's)")
	return c
}
