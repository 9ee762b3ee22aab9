package fn

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/carousel-dev/carousel/pkg/advance"
	"github.com/carousel-dev/carousel/pkg/gate"
)

func planCmd() *cobra.Command {
	var output outputFlag
	c := &cobra.Command{
		Use:     "plan CAROTATION_FILE",
		GroupID: groupRotation,
		Short:   "Show the phase table, and what the next phase (and a rollback) changes, rolls, gates and needs on nodes",
		Long: `plan renders the current phase and both neighbours in-process (from what
kustomize builds for the package, as the function would receive it) and
compares them: the objects that change,
the workloads that roll and in which waves, the gate to confirm before merging,
and, with spec.runbook: kubernetes or kubernetes-front-proxy, the node-level
steps in order, with exact commands.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := output.check(); err != nil {
				return err
			}
			now, err := clock()
			if err != nil {
				return err
			}
			_, _, pl, err := advance.Load(args[0], now)
			if err != nil {
				return err
			}
			return output.write(c.OutOrStdout(), pl, func(w io.Writer) error { pl.Text(w); return nil })
		},
	}
	output.add(c)
	return c
}

func advanceCmd() *cobra.Command {
	var to, prBody string
	var skip gate.Overrides
	var f clusterFlags
	c := &cobra.Command{
		Use:     "advance CAROTATION_FILE",
		GroupID: groupRotation,
		Short:   "Move spec.phase one step (forward by default, or --to the previous phase to roll back), keeping comments, and write the pull request",
		Long: `advance edits spec.phase in place (comments and formatting kept), refuses any
move but one step forward or back, and prints a pull-request title (first line)
and Markdown body: the plan's summary, a Mermaid diagram of the phases, the gate
as a checklist, the runbook and the rollback. With --out FILE the body goes
to FILE and only the title is printed.

Moving forward, the live gate must pass first: the cluster (--kubeconfig,
--context, or kubectl's defaults) says the current phase converged (carousel
status). It fails closed: with no cluster configured, or one that does not
answer, advance refuses and writes nothing. --no-cluster writes the pull
request without asking any cluster, and its body says the gate was not
checked; --force moves on although the gate said no, and its body says that.
A rollback is never gated. Nothing is written unless every check passed; the
spec is written last.

A cluster of a shared root (spec.sharedRoot) moves, either way, only within the
fleet window: every peer (a cluster sharing one of its groups in the root's
spec.clusters) at the current phase or beyond it in the move's direction, and
each peer at the current phase converged there, asked in the kubeconfig context
the root names for it. Without --context, the cluster's own gate uses its own
context from the root. --no-cluster still holds the peers' committed phases and
says in the body that their convergence was not asked; --force moves on and says so.

` + exitHelp,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			unlock, err := lockPackage(args[0])
			if err != nil {
				return err
			}
			defer unlock()
			now, err := clock()
			if err != nil {
				return err
			}
			ctx := contextOf(c)
			res, err := advance.Run(ctx, advance.Request{File: args[0], To: to, PRBody: prBody, Cluster: f.Cluster, Skip: skip, Now: now})
			var refused *gate.Refusal
			if errors.As(err, &refused) && refused.Report != nil {
				_ = refused.Report.Text(c.ErrOrStderr())
			}
			if err != nil {
				return err
			}
			if res.Published != "" {
				fmt.Fprintf(c.ErrOrStderr(), "carousel: published %s\n", res.Published)
			}
			if prBody != "" {
				fmt.Fprintln(c.OutOrStdout(), res.Title)
				return nil
			}
			fmt.Fprintf(c.OutOrStdout(), "%s\n\n%s", res.Title, res.Body)
			return nil
		},
	}
	c.Flags().StringVar(&to, "to", "", "the phase (or phase/step) to move to (default: the next step)")
	c.Flags().StringVar(&prBody, "out", "", "write the pull-request body to this file (the title goes to stdout)")
	c.Flags().StringVar(&prBody, "pr-body", "", "the same as --out")
	_ = c.Flags().MarkDeprecated("pr-body", "use --out FILE")
	c.Flags().BoolVar(&skip.Force, "force", false, "advance although the live gate says the current phase has not converged (the PR body says so)")
	c.Flags().BoolVar(&skip.NoCluster, "no-cluster", false, "write the pull request without asking any cluster: the live gate is not checked, and the PR body says so")
	f.add(c)
	return c
}
