package fn

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/kustomize/kyaml/fn/framework/command"

	"github.com/carousel-dev/carousel/pkg/krmio"
	"github.com/carousel-dev/carousel/pkg/rotate"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// version is set at build time with -ldflags "-X github.com/carousel-dev/carousel/fn.version=...".
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
		err := krmio.ExecuteWarn(processor, c.InOrStdin(), c.OutOrStdout(), c.ErrOrStderr())
		if err != nil {
			fmt.Fprintf(c.ErrOrStderr(), "%v\n", err)
		}
		return err
	}
	// The function takes no arguments (kustomize, kpt and Argo CD pass
	// none): an argument is a mistyped subcommand, not a function run that
	// would wait on stdin and then complain there is no CARotation.
	root.SuggestionsMinimumDistance = 2
	root.Args = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
		if s := c.SuggestionsFor(args[0]); len(s) > 0 {
			msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(s, ", "))
		}
		return &usageError{fmt.Errorf("%s: run `carousel --help` for the commands", msg)}
	}
	root.Use = "carousel"
	root.Short = "Render one phase of a CA rotation (a kustomize KRM function), and make its material"
	root.Long = `carousel turns a CA rotation into a sequence of reviewed commits.

With no arguments it is a KRM function: it reads a ResourceList on stdin whose
functionConfig is a CARotation and writes the rendered phase to stdout. Use it
as a kustomize transformer (kustomize build --enable-alpha-plugins --enable-exec).

The subcommands make the rotation's key material, once, to be committed.`
	root.Version = version
	// The commands by what they work on; decrypt, a KRM function like the
	// root command, and build, which runs both in-process, are listed apart
	// from the verbs people type.
	root.AddGroup(
		&cobra.Group{ID: groupRotation, Title: "Rotation (one phase per pull request):"},
		&cobra.Group{ID: groupMaterial, Title: "Material (keys and certificates, made once and committed):"},
		&cobra.Group{ID: groupCluster, Title: "Cluster (what it runs, what cert-manager issued):"},
		&cobra.Group{ID: groupKRM, Title: "Rendering (KRM functions kustomize runs, and a build that runs them in-process):"},
	)
	root.AddCommand(initCmd(), startCmd(), schemaCmd(), planCmd(), advanceCmd(), checkCmd(), renewCmd(), csrCmd(), importCmd(), signCmd(), statusCmd(), decryptCmd(), kbuildCmd(), kubeconfigCmd(), publishCmd(), pullCmd(), versionCmd(), installCmd())
	root.Example = examples["carousel"]
	for _, c := range root.Commands() {
		if ex, ok := examples[c.Name()]; ok {
			c.Example = ex
		}
	}
	return root
}

// The --help groups of the commands (cobra.Group); schema, help and
// completion are listed after them.
const (
	groupRotation = "rotation"
	groupMaterial = "material"
	groupCluster  = "cluster"
	groupKRM      = "krm"
)

// usageError is a command line the binary does not understand.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

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

// openPackage is how a command that writes a package opens it: the lock
// first (lockPackage), then the package as it is on disk under the lock.
func openPackage(file string) (p *rotate.Package, unlock func(), err error) {
	if unlock, err = lockPackage(file); err != nil {
		return nil, nil, err
	}
	if p, err = rotate.Load(file); err != nil {
		unlock()
		return nil, nil, err
	}
	return p, unlock, nil
}

// writePackage runs a command that writes the package: on the package as
// it is on disk under its lock (openPackage), then it prints what run wrote
// and removed, also when run failed part way.
func writePackage(c *cobra.Command, file string, run func(p *rotate.Package) (rotate.Report, error)) error {
	p, unlock, err := openPackage(file)
	if err != nil {
		return err
	}
	defer unlock()
	rep, err := run(p)
	report(c, rep)
	return err
}

func report(c *cobra.Command, rep rotate.Report) {
	for _, f := range rep.Removed {
		fmt.Fprintf(c.OutOrStdout(), "removed %s\n", f)
	}
	for _, f := range rep.Written {
		fmt.Fprintf(c.OutOrStdout(), "wrote %s\n", f)
	}
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
