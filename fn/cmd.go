package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/kustomize/kyaml/fn/framework/command"

	"github.com/carousel-dev/carousel/pkg/backend"
	"github.com/carousel-dev/carousel/pkg/krmio"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/presets"
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
	root.AddCommand(initCmd(), startCmd(), schemaCmd(), planCmd(), advanceCmd(), checkCmd(), renewCmd(), csrCmd(), importCmd(), statusCmd(), decryptCmd(), kubeconfigCmd(), publishCmd(), pullCmd())
	root.Example = examples["carousel"]
	for _, c := range root.Commands() {
		if ex, ok := examples[c.Name()]; ok {
			c.Example = ex
		}
	}
	return root
}

// examples are shown by --help, one set per command: what a first run
// types. Kept here, together, so every command has them (fn/cli_test.go
// fails for a command without).
var examples = map[string]string{
	"carousel": `  # Render the package's current phase (carousel is its transformer)
  kustomize build --enable-alpha-plugins --enable-exec examples/cluster-ca

  # The lifecycle of one rotation
  carousel init examples/cluster-ca/carousel.yaml --age "$(age-keygen -y age.key)"
  carousel start examples/cluster-ca/carousel.yaml
  carousel plan examples/cluster-ca/carousel.yaml
  carousel advance examples/cluster-ca/carousel.yaml`,
	"init": `  # Make the current CA and its leaves, keys encrypted to an age recipient
  carousel init carousel.yaml --age "$(age-keygen -y age.key)"

  # Adopt the CA a cluster already runs on
  carousel init carousel.yaml --ca-cert /etc/kubernetes/pki/ca.crt --ca-key /etc/kubernetes/pki/ca.key

  # The presets: a written-out spec for linkerd, istio, osm, kubernetes, ...
  carousel init --preset list

  # A Linkerd package from its preset (spec, kustomization.yaml, material)
  carousel init --preset linkerd carousel.yaml --age "$(age-keygen -y age.key)"

  # The cluster CA preset under another name
  carousel init --preset kubernetes --name prod-cluster-ca carousel.yaml --age "$(age-keygen -y age.key)"`,
	"start": `  # Begin a CA rotation: a new CA and every leaf for it
  carousel start carousel.yaml

  # Re-issue only the webhook's leaf under the same CA
  carousel start carousel.yaml --scope leaf --leaf policy-webhook

  # Re-issue every leaf of a group (rke cert rotate --service etcd)
  carousel start carousel.yaml --scope leaf --leaf etcd

  # After importing an intermediate (csr --ca, import): issue every new leaf with it
  carousel start carousel.yaml`,
	"schema": `  # Validate a CARotation in an editor or CI
  carousel schema > carotations.crd.yaml`,
	"plan": `  # What the next phase changes, rolls and gates
  carousel plan carousel.yaml

  # The same for scripts
  carousel plan carousel.yaml -o json`,
	"advance": `  # Move to the next phase and print the pull request
  carousel advance carousel.yaml

  # Roll back one phase, the pull-request body to a file
  carousel advance carousel.yaml --to trust-new --out pr.md`,
	"check": `  # In CI on a pull request
  carousel check carousel.yaml --base origin/main

  # Also refuse a stale committed render
  carousel check carousel.yaml --base origin/main --rendered rendered.yaml`,
	"renew": `  # In a scheduled job: start what expires within 30 days (exit 4: nothing due)
  carousel renew carousel.yaml --before 720h`,
	"csr": `  # Request the next CA as an intermediate of an external root
  carousel csr carousel.yaml --ca

  # Request two leaves
  carousel csr carousel.yaml --leaf api --leaf metrics`,
	"import": `  # Complete the pending material with the signed certificates
  carousel import carousel.yaml --cert ca.pem --chain root.pem`,
	"status": `  # Has the current phase converged in the cluster?
  carousel status carousel.yaml --context prod

  # Wait for it (exit 0 converged, 2 progressing, 3 blocked)
  carousel status carousel.yaml --wait --timeout 15m`,
	"kubeconfig": `  # A user account's kubeconfig for the current phase, outside the repository
  carousel kubeconfig carousel.yaml --leaf jane --out ~/.kube/jane.conf

  # The same for the phase the pull request moves to
  carousel kubeconfig carousel.yaml --leaf jane --phase sign-new --out ~/.kube/jane.conf`,
	"pull": `  # Backend cert-manager: commit the public certificates of the CAs cert-manager issued
  carousel pull examples/linkerd-cert-manager/carousel.yaml --context prod
  git add examples/linkerd-cert-manager/material && git commit -m "linkerd: pull CA generation 2"`,
	"decrypt": `  # A transformer after carousel in an Argo CD overlay (see examples/argocd)
  SOPS_AGE_KEY_FILE=age.key kustomize build --enable-alpha-plugins --enable-exec overlay`,
	"publish": `  # Write the state consumer packages render from (to spec.publish), in the phase's pull request
  carousel advance carousel.yaml && carousel publish carousel.yaml`,
}

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
	var caCert, caKey, preset, name string
	c := &cobra.Command{
		Use:   "init CAROTATION_FILE",
		Short: "Record the current CA (made now, or adopted with --ca-cert/--ca-key) and issue every leaf with it",
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
			var pending []byte // the preset, which Init writes with the package
			if preset != "" {
				pre, err := presets.Get(preset)
				if err != nil {
					return err
				}
				if pending, err = presets.Pending(args[0], pre, name); err != nil {
					return err
				}
			}
			p, err := rotate.LoadPending(args[0], pending)
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
			return err
		},
	}
	kf.add(c)
	c.Flags().StringVar(&caCert, "ca-cert", "", "adopt this PEM CA certificate as the current CA")
	c.Flags().StringVar(&preset, "preset", "", "write CAROTATION_FILE from this preset first (\"list\" names them)")
	c.Flags().StringVar(&name, "name", "", "with --preset: the CARotation's metadata.name (default the preset's)")
	c.Flags().StringVar(&caKey, "ca-key", "", "the PEM private key of --ca-cert (without it the CA is held externally: leaves come through csr and import)")
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
			p, unlock, err := openPackage(args[0])
			if err != nil {
				return err
			}
			defer unlock()
			rep, err := backend.For(p.Rotation).Start(p, kf.options(c), rotate.StartRequest{Scope: phases.Scope(scope), Only: leaves})
			report(c, rep)
			return err
		},
	}
	kf.add(c)
	c.Flags().StringSliceVar(&leaves, "leaf", nil, "with scope leaf: re-issue only these leaves, or every leaf of a group (spec.leaves[].group; like rke cert rotate --service etcd)")
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
