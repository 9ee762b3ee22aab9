package fn

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/carousel-dev/carousel/pkg/atomicfile"
)

// installCmd copies a program into a directory: carousel itself by
// default. carousel's image has no shell (and so no cp), yet an init
// container must copy the binary into the emptyDir that Argo CD's
// repo-server (or a CI job) puts on PATH; the same command, run from that
// emptyDir inside another image, copies that image's program (kustomize's
// /app/kustomize) without needing that image's shell either.
func installCmd() *cobra.Command {
	var from string
	c := &cobra.Command{
		Use:   "install DIR",
		Short: "Copy carousel (or --from FILE) into DIR, atomically, mode 0755",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			src, name := from, filepath.Base(from)
			if src == "" {
				self, err := os.Executable()
				if err != nil {
					return err
				}
				src, name = self, "carousel"
			}
			b, err := os.ReadFile(src)
			if err != nil {
				return err
			}
			dst := filepath.Join(args[0], name)
			if err := atomicfile.WriteFile(dst, b, 0o755); err != nil {
				return err
			}
			fmt.Fprintln(c.OutOrStdout(), dst)
			return nil
		},
	}
	c.Flags().StringVar(&from, "from", "", "the program to copy (default: this carousel binary)")
	return c
}
