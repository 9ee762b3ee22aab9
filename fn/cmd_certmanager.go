package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/carousel-dev/carousel/pkg/cmbackend"
	"github.com/carousel-dev/carousel/pkg/spec"
)

func pullCmd() *cobra.Command {
	var f clusterFlags
	c := &cobra.Command{
		Use:   "pull CAROTATION_FILE",
		Short: "Commit the public certificates of the CAs cert-manager issued (backend cert-manager): never a key",
		Long: `pull reads, for each CA generation of a rotation with backend cert-manager,
the tls.crt of the Secret cert-manager wrote (spec.certManager.namespace/
<rotation>-ca-<n>) and writes it as a CACertificate into the material
directory, listed in its kustomization. Renders stay byte-identical and
trust-new refuses to render until the new generation's certificate is there.
A generation already in git must match the cluster exactly.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			p, unlock, err := openPackage(args[0])
			if err != nil {
				return err
			}
			defer unlock()
			if p.Rotation.Spec.Backend != spec.BackendCertManager {
				return fmt.Errorf("%s uses backend %q: pull is for backend %s", p.Rotation.Metadata.Name, p.Rotation.Spec.Backend, spec.BackendCertManager)
			}
			client, err := f.client()
			if err != nil {
				return err
			}
			ctx := c.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			certs, err := cmbackend.Pull(ctx, client, p.Rotation)
			if err != nil {
				return err
			}
			if len(certs) == 0 {
				return fmt.Errorf("cert-manager has issued no CA of %s yet: apply the phase and wait until its CA Certificates are Ready", p.Rotation.Metadata.Name)
			}
			rep, err := p.Pull(certs)
			if rep != nil {
				report(c, *rep)
			}
			return err
		},
	}
	f.add(c)
	return c
}
