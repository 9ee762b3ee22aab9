package fn

import (
	"fmt"

	"github.com/spf13/cobra"
	"sigs.k8s.io/kustomize/api/types"

	"github.com/carousel-dev/carousel/pkg/kbuild"
)

// kbuildCmd is `carousel build`: `kustomize build` with carousel's
// functions run in-process and no program at all (pkg/kbuild), for Argo CD
// repo-servers that refuse --enable-exec: argocd-cm names this binary as a
// kustomize version, and Argo CD runs `carousel build <path> <options>`.
func kbuildCmd() *cobra.Command {
	var restrictor string
	var plugins, exec bool
	c := &cobra.Command{
		Use:     "build [DIR]",
		GroupID: groupKRM,
		Short:   "Build a kustomization as `kustomize build` (v" + kbuild.KustomizeVersion[1:] + ") does, carousel's functions run in-process and no other program (Argo CD without --enable-exec)",
		Long: `Build a kustomization exactly as kustomize ` + kbuild.KustomizeVersion + ` builds it with
--enable-alpha-plugins --enable-exec, byte for byte, but without running any
program: carousel's functions (the rotation, carousel decrypt) run inside this
process, and any other exec or container function, or plugin program, is
refused with the file that names it. carousel decrypt uses the sops of the
environment (CAROUSEL_SOPS, beside carousel, PATH), never one the repository
names. Remote bases and Helm charts are refused (they need git and helm).

--enable-alpha-plugins and --enable-exec are accepted and change nothing, so
the same Argo CD build options work for both binaries.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			for _, f := range refusedFlags {
				if c.Flags().Changed(f.name) {
					return &usageError{fmt.Errorf("--%s: %s", f.name, f.why)}
				}
			}
			lr := types.LoadRestrictionsRootOnly
			switch restrictor {
			case types.LoadRestrictionsRootOnly.String():
			case types.LoadRestrictionsNone.String():
				lr = types.LoadRestrictionsNone
			default:
				return &usageError{fmt.Errorf("--load-restrictor %q: want %s or %s", restrictor, types.LoadRestrictionsRootOnly, types.LoadRestrictionsNone)}
			}
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			out, err := kbuild.Build(dir, kbuild.Options{LoadRestrictions: lr, Now: clock, Warnings: c.ErrOrStderr()})
			if err != nil {
				return err
			}
			_, err = c.OutOrStdout().Write(out)
			return err
		},
	}
	f := c.Flags()
	f.StringVar(&restrictor, "load-restrictor", types.LoadRestrictionsRootOnly.String(), "as kustomize's: "+types.LoadRestrictionsRootOnly.String()+" or "+types.LoadRestrictionsNone.String())
	f.BoolVar(&plugins, "enable-alpha-plugins", false, "accepted for kustomize's build options; carousel's functions always run")
	f.BoolVar(&exec, "enable-exec", false, "accepted for kustomize's build options; no program ever runs")
	for _, r := range refusedFlags {
		if r.value {
			f.Bool(r.name, false, "refused: "+r.why)
		} else {
			f.StringArray(r.name, nil, "refused: "+r.why)
		}
	}
	return c
}

// refusedFlags are kustomize build flags carousel build cannot honour.
var refusedFlags = []struct {
	name, why string
	value     bool // a boolean flag
}{
	{"enable-helm", "Helm charts need the helm program, and carousel build runs none", true},
	{"helm-command", "Helm charts need the helm program, and carousel build runs none", false},
	{"helm-api-versions", "Helm charts need the helm program, and carousel build runs none", false},
	{"helm-kube-version", "Helm charts need the helm program, and carousel build runs none", false},
	{"helm-debug", "Helm charts need the helm program, and carousel build runs none", true},
	{"mount", "only functions in containers mount, and carousel build runs none", false},
	{"network", "only functions in containers use a network, and carousel build runs none", true},
	{"env", "carousel's functions run in carousel build's own process, with its environment", false},
	{"as-current-user", "only functions in containers run as a user, and carousel build runs none", true},
	{"enable-managedby-label", "the label would name kustomize's version, and this is not the kustomize binary", true},
}
