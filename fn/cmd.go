package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/spf13/cobra"
	"sigs.k8s.io/kustomize/kyaml/fn/framework/command"

	"github.com/carousel-dev/carousel/pkg/krmio"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/rotate"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// buildCmd is the whole binary: with no arguments it is the KRM function
// (a ResourceList on stdin, the rendered phase on stdout); subcommands are
// the CLI that makes material.
func buildCmd() *cobra.Command {
	processor := buildProcessor(clock)
	root := command.Build(processor, command.StandaloneDisabled, false)
	// Same contract as command.Build's RunE, but the output is streamed item
	// by item (pkg/krmio): byte-identical, a fraction of the time and memory.
	root.RunE = func(c *cobra.Command, _ []string) error {
		err := krmio.Execute(processor, c.InOrStdin(), c.OutOrStdout())
		if err != nil {
			fmt.Fprintf(c.ErrOrStderr(), "%v", err)
		}
		return err
	}
	root.Use = "carousel"
	root.Short = "Render one phase of a CA rotation (a kustomize KRM function), and make its material"
	root.Long = `carousel turns a CA rotation into a sequence of reviewed commits.

With no arguments it is a KRM function: it reads a ResourceList on stdin whose
functionConfig is a CARotation and writes the rendered phase to stdout. Use it
as a kustomize transformer (kustomize build --enable-alpha-plugins --enable-exec).

The subcommands make the rotation's key material, once, to be committed.`
	root.Version = version
	root.AddCommand(initCmd(), startCmd(), schemaCmd(), planCmd(), advanceCmd(), checkCmd(), renewCmd(), csrCmd(), importCmd(), statusCmd(), decryptCmd())
	return root
}

type keyFlags struct {
	plaintext bool
	age       []string
}

func (k *keyFlags) add(c *cobra.Command) {
	c.Flags().BoolVar(&k.plaintext, "plaintext-keys", false, "write private keys UNENCRYPTED (throwaway demos only; warns)")
	c.Flags().StringSliceVar(&k.age, "age", nil, "age recipient to SOPS-encrypt private keys to (repeatable; default: the nearest .sops.yaml creation rule)")
}

func (k *keyFlags) options(c *cobra.Command) rotate.Options {
	return rotate.Options{Plaintext: k.plaintext, Age: k.age, Stderr: c.ErrOrStderr()}
}

// lockPackage takes the write lock of the package (rotate.Lock) for a
// command that writes, before it reads anything. It also pins the command's
// goroutine to its OS thread, so its file changes happen on one thread in
// program order: the crash-safety test (fn/crash_test.go) counts them per
// thread (strace's inject when=N) to kill the command at each in turn.
func lockPackage(file string) (unlock func(), err error) {
	runtime.LockOSThread()
	return rotate.Lock(file)
}

func report(c *cobra.Command, rep rotate.Report) {
	for _, f := range rep.Removed {
		fmt.Fprintf(c.OutOrStdout(), "removed %s\n", f)
	}
	for _, f := range rep.Written {
		fmt.Fprintf(c.OutOrStdout(), "wrote %s\n", f)
	}
}

func initCmd() *cobra.Command {
	var kf keyFlags
	var caCert, caKey string
	c := &cobra.Command{
		Use:   "init CAROTATION_FILE",
		Short: "Record the current CA (made now, or adopted with --ca-cert/--ca-key) and issue every leaf with it",
		Long: `init records the current CA (made now, or adopted with --ca-cert/--ca-key)
and issues every leaf with it, under the material directory. A CARotation file
alone becomes a package: init adds the exec function annotation and, when the
directory has none, a kustomization.yaml listing the material and the
CARotation as a transformer. An existing kustomization is never rewritten;
init says what it lacks.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			unlock, err := lockPackage(args[0])
			if err != nil {
				return err
			}
			defer unlock()
			p, err := rotate.Load(args[0])
			if err != nil {
				return err
			}
			o := kf.options(c)
			if (caCert == "") != (caKey == "") {
				return fmt.Errorf("--ca-cert and --ca-key go together")
			}
			if caCert != "" {
				if o.CACertPEM, err = os.ReadFile(caCert); err != nil {
					return err
				}
				if o.CAKeyPEM, err = os.ReadFile(caKey); err != nil {
					return err
				}
			}
			rep, err := rotate.Init(p, o)
			report(c, rep)
			return err
		},
	}
	kf.add(c)
	c.Flags().StringVar(&caCert, "ca-cert", "", "adopt this PEM CA certificate as the current CA")
	c.Flags().StringVar(&caKey, "ca-key", "", "the PEM private key of --ca-cert")
	return c
}

func startCmd() *cobra.Command {
	var kf keyFlags
	var leaves []string
	var scope string
	c := &cobra.Command{
		Use:   "start CAROTATION_FILE",
		Short: "Make the next rotation's material: a new CA and every leaf for it (scope ca), or new leaves (scope leaf)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			unlock, err := lockPackage(args[0])
			if err != nil {
				return err
			}
			defer unlock()
			p, err := rotate.Load(args[0])
			if err != nil {
				return err
			}
			if scope != "" && phases.Scope(scope) != p.Rotation.Spec.Scope && p.Rotation.Spec.Phase != phases.Steady {
				return fmt.Errorf("the scope can change only at steady (the rotation is at %s)", p.Rotation.Spec.Phase)
			}
			// Start writes the scope only once everything else is checked.
			rep, err := rotate.Start(p, kf.options(c), rotate.StartRequest{Scope: phases.Scope(scope), Only: leaves})
			report(c, rep)
			return err
		},
	}
	kf.add(c)
	c.Flags().StringSliceVar(&leaves, "leaf", nil, "with scope leaf: re-issue only these leaves (like rke cert rotate --service)")
	c.Flags().StringVar(&scope, "scope", "", "ca (a new CA and every leaf) or leaf (new leaves from the current CA); sets spec.scope")
	return c
}

func schemaCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the CARotation CustomResourceDefinition (the OpenAPI schema of the spec)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, err := fmt.Fprint(c.OutOrStdout(), spec.CRD)
			return err
		},
	}
}

// exitError carries a specific exit code (e.g. "nothing due" for renew).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return 1
}
