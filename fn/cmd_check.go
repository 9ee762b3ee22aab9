package fn

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/carousel-dev/carousel/pkg/check"
)

func checkCmd() *cobra.Command {
	var base, rendered, kustomize string
	var output outputFlag
	var skipKeys bool
	c := &cobra.Command{
		Use:     "check CAROTATION_FILE --base REF",
		GroupID: groupRotation,
		Short:   "The pull-request check: refuse skipped phases, material or shape changes mid-flight, and stale rendered output",
		Long: `check compares the CARotation at the base git ref with the working tree and
refuses:
  one-step         a move of more than one phase (forward or back)
  shape-in-flight  a spec change other than spec.phase while the rotation is not
                   at steady, or together with a phase move
  material         material changed in a pull request that moves the phase, while
                   the rotation is in flight, or the current (old) material changed:
                   only carousel start/renew/import change material, at steady
  fleet-window     with spec.clusters (a shared root's clusters): two clusters
                   that talk left more than one phase apart, or a cluster whose
                   rotation cannot be read or rotates in another scope
  renders          the new phase does not render (missing or mismatched material)
  one-step         also: a rotation ended by editing spec.phase (the last phase
                   back to the first) instead of carousel start's promotion
  keys             an encrypted private key does not match its certificate (a key
                   swapped in from another KeyPair names both), or its ciphertext
                   is corrupted; checked with the age identity of the
                   environment (SOPS_AGE_KEY, SOPS_AGE_KEY_FILE). Without one it
                   is an error when CI=true, a note otherwise; --skip-keys
                   skips it and the output says so
  plaintext-key    a KeyPair holds its private key unencrypted while the spec
                   does not opt in (spec.plaintextKeys)
  rendered-output  with --rendered FILE: FILE differs from a fresh kustomize build
  published-state  spec.publish names a state that is missing or stale: run
                   carousel publish and commit it with the change

Each refusal is printed with what to do instead.

` + exitHelp,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := output.check(); err != nil {
				return err
			}
			if base == "" {
				return &exitErr{exitError, errors.New("--base REF is required (the branch the pull request merges into)")}
			}
			now, err := clock()
			if err != nil {
				return &exitErr{exitError, err}
			}
			inCI, _ := strconv.ParseBool(os.Getenv("CI"))
			rep, err := check.Run(check.Options{File: args[0], Base: base, Rendered: rendered, Kustomize: kustomize, Now: now, SkipKeys: skipKeys, CI: inCI})
			if err != nil {
				return &exitErr{exitError, err}
			}
			refusals := rep.List()
			// JSON and YAML stay the list of refusals; notes go to stderr.
			notes := c.ErrOrStderr()
			if output.format == "text" {
				notes = c.OutOrStdout()
			}
			for _, n := range rep.Notes {
				fmt.Fprintf(notes, "note: %s\n", n)
			}
			err = output.write(c.OutOrStdout(), refusals, func(w io.Writer) error { return rep.Text(w, args[0], base) })
			if err != nil {
				return err
			}
			if len(refusals) > 0 {
				return &exitErr{exitRefused, fmt.Errorf("%d refusal(s)", len(refusals))}
			}
			return nil
		},
	}
	c.Flags().StringVar(&base, "base", "", "the git ref the pull request merges into (e.g. origin/main)")
	c.Flags().StringVar(&rendered, "rendered", "", "a committed kustomize build output of the package that must be up to date")
	c.Flags().StringVar(&kustomize, "kustomize", "kustomize", "the kustomize binary for --rendered")
	output.add(c)
	c.Flags().BoolVar(&skipKeys, "skip-keys", false, "do not compare encrypted private keys with their certificates (no age identity at hand); the output says they were not checked")
	return c
}
