package fn

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/carousel-dev/carousel/pkg/backend"
	"github.com/carousel-dev/carousel/pkg/presets"
)

func initCmd() *cobra.Command {
	var kf keyFlags
	var caCert, caKey, preset, name string
	c := &cobra.Command{
		Use:     "init CAROTATION_FILE",
		GroupID: groupMaterial,
		Short:   "Record the current CA (made now, or adopted with --ca-cert/--ca-key) and issue every leaf with it",
		Long: `init records the current CA (made now, or adopted with --ca-cert/--ca-key)
and issues every leaf with it, under the material directory. A CARotation file
alone becomes a package: init adds the exec function annotation and, when the
directory has none, a kustomization.yaml listing the material and the
CARotation as a transformer. An existing kustomization is never rewritten;
init says what it lacks.

An adopted CA (kubeadm's, RKE's, openssl's, cfssl's, cert-manager's) keeps
its key's algorithm and encoding: spec.ca.key is for the CAs carousel makes.
init refuses, before it writes anything and with the fix, a CA no TLS stack
accepts (no CA:TRUE, key usages without keyCertSign) and one that has expired
or is not valid yet; it warns where OpenSSL's strict mode would refuse it (no
keyUsage, no subject key identifier). docs/rotations.md, "Adopting a CA".

--ca-cert without --ca-key adopts a CA held externally: only its certificate
is recorded, no leaf is issued, and carousel csr / carousel import bring its
leaves (the CA signs their CSRs).

--preset NAME makes CAROTATION_FILE from a preset (never over a different
file) and init goes on as for any CARotation file, writing it with the
package (a refused init writes nothing);
--preset list names the presets.`,
		Args: func(c *cobra.Command, args []string) error {
			if preset == presets.ListName {
				return cobra.NoArgs(c, args)
			}
			return cobra.ExactArgs(1)(c, args)
		},
		RunE: func(c *cobra.Command, args []string) error {
			if preset == presets.ListName {
				for _, p := range presets.All() {
					fmt.Fprintf(c.OutOrStdout(), "%-24s %s\n", p.Name, p.Description)
				}
				return nil
			}
			if name != "" && preset == "" {
				return &usageError{fmt.Errorf("--name sets the name of a --preset")}
			}
			unlock, err := lockPackage(args[0])
			if err != nil {
				return err
			}
			defer unlock()
			p, err := presets.Load(args[0], preset, name)
			if err != nil {
				return err
			}
			o := kf.options(c)
			if caKey != "" && caCert == "" {
				return fmt.Errorf("--ca-key needs --ca-cert, the certificate of that key")
			}
			if caCert != "" {
				if o.CACertPEM, err = os.ReadFile(caCert); err != nil {
					return err
				}
			}
			if caKey != "" {
				if o.CAKeyPEM, err = os.ReadFile(caKey); err != nil {
					return err
				}
			}
			rep, err := backend.For(p.Rotation).Init(p, o)
			report(c, rep)
			if err != nil {
				return err
			}
			return publishRoot(c, p)
		},
	}
	kf.add(c)
	c.Flags().StringVar(&caCert, "ca-cert", "", "adopt this PEM CA certificate as the current CA")
	c.Flags().StringVar(&preset, "preset", "", "write CAROTATION_FILE from this preset first (\"list\" names them)")
	c.Flags().StringVar(&name, "name", "", "with --preset: the CARotation's metadata.name (default the preset's)")
	c.Flags().StringVar(&caKey, "ca-key", "", "the PEM private key of --ca-cert (without it the CA is held externally: leaves come through csr and import)")
	return c
}
