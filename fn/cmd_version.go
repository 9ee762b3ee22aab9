package fn

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/carousel-dev/carousel/pkg/kbuild"
)

// commit is set at build time with -ldflags "-X .../fn.commit=..." (make
// build, make release); a binary built otherwise reports the VCS revision
// Go stamped into it, if any.
var commit = ""

// buildInfo is what `carousel version` reports.
type buildInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Module    string `json:"module"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

func currentBuild() buildInfo {
	b := buildInfo{Version: version, Commit: commit, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		b.Module = bi.Main.Path
		if b.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = bi.Main.Version // go install ...@v0.2.0
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && b.Commit == "" {
				b.Commit = s.Value
			}
		}
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	return b
}

func versionCmd() *cobra.Command {
	var out outputFlag
	var short bool
	c := &cobra.Command{
		Use:   "version",
		Short: "Print carousel's version, commit, module and Go version",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := out.check(); err != nil {
				return err
			}
			b := currentBuild()
			if short {
				// What Argo CD reads from a named kustomize (`version
				// --short`, the first semver in it): the kustomize that
				// carousel build is.
				_, err := fmt.Fprintf(c.OutOrStdout(), "kustomize/%s carousel/%s\n", kbuild.KustomizeVersion, b.Version)
				return err
			}
			return out.write(c.OutOrStdout(), b, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "carousel %s (commit %s, %s, %s, %s)\n", b.Version, b.Commit, b.Module, b.GoVersion, b.Platform)
				return err
			})
		},
	}
	out.add(c)
	c.Flags().BoolVar(&short, "short", false, "print the kustomize version `carousel build` is, as Argo CD reads it from a named kustomize: kustomize/"+kbuild.KustomizeVersion+" carousel/VERSION")
	return c
}
