package fn

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"

	"github.com/carousel-dev/carousel/pkg/atomicfile"
	"github.com/carousel-dev/carousel/pkg/gate"
	"github.com/carousel-dev/carousel/pkg/rotate"
	"github.com/carousel-dev/carousel/pkg/status"
)

type clusterFlags struct{ gate.Cluster }

func (f *clusterFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&f.Kubeconfig, "kubeconfig", "", "path to the kubeconfig (default: $KUBECONFIG, ~/.kube/config, in-cluster)")
	c.Flags().StringVar(&f.Context, "context", "", "the kubeconfig context to use")
	c.Flags().StringVarP(&f.Namespace, "namespace", "n", "", "only report objects and workloads of this namespace (and cluster-scoped objects)")
}

func (f *clusterFlags) client() (dynamic.Interface, error) { return f.Client() }

// contextOf is the command's context, or the background one when the
// command runs without (a test that calls RunE).
func contextOf(c *cobra.Command) context.Context {
	if ctx := c.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

func statusCmd() *cobra.Command {
	var f clusterFlags
	output := outputFlag{extra: []string{"openmetrics"}}
	var metricsFile string
	var wait bool
	var timeout time.Duration
	c := &cobra.Command{
		Use:     "status CAROTATION_FILE",
		GroupID: groupCluster,
		Short:   "The live gate: has the current phase converged in the cluster? (exit 0 converged, 3 progressing, 2 blocked)",
		Long: `status renders the current phase and reads the live objects: every managed
Secret, bundle, cluster-info, caBundle and kubeconfig Secret must hold exactly
the phase's certificates (compared by SHA-256 fingerprint; key material is never
read or printed), and every workload that holds the rotation's material must
carry the phase's pod-template annotation and be done rolling out, for any
reason (a helm upgrade too): observedGeneration caught up, every replica
updated and available, none surged, unavailable, misscheduled or terminating.
Certificates are never swapped during a rolling update. Pods still running an
older template, and pods still terminating, are listed.

Verdicts and exit codes: converged 0; progressing 3 (wait); blocked 2 (waiting
will not help: the phase does not render, a rollout exceeded its deadline, or
another tool writes certificates into a managed object); 1 the check could not
run (no cluster configured, or it does not answer: the gate never passes
unchecked). --wait polls until converged or blocked, up to --timeout (then
exit 3). JSON and YAML output (-o json, -o yaml), and the report as metrics
(-o openmetrics, or --metrics-file for node-exporter's textfile collector or a
Pushgateway job, written atomically whatever the verdict): docs/status.md.

On a shared root's rotation (spec.clusters), status asks every cluster in the
context the root names for it (with --kubeconfig's file) and prints a table of
the clusters, the fleet window (blocked when two clusters that talk are more
than one phase apart), then each cluster's report; the verdict is the worst.
A cluster behind the root's own phase (the phase every cluster has reached)
blocks too. --wait polls every cluster until none is progressing;
--metrics-file and -o openmetrics are per cluster: run status on a cluster's
rotation for them.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := output.check(); err != nil {
				return err
			}
			ctx := contextOf(c)
			if p, err := rotate.Load(args[0]); err == nil && len(p.Rotation.Spec.Clusters) > 0 {
				return fleetStatus(c, p, f.Cluster, output, metricsFile != "", wait, timeout)
			}
			r, err := gate.Watch(ctx, args[0], f.Cluster, clock, wait, timeout)
			if err != nil {
				return &exitErr{exitError, err}
			}
			if output.format == "openmetrics" {
				err = r.Metrics(c.OutOrStdout())
			} else {
				err = output.write(c.OutOrStdout(), r, r.Text)
			}
			if err != nil {
				return err
			}
			if metricsFile != "" {
				var b bytes.Buffer
				if err := r.Metrics(&b); err != nil {
					return err
				}
				if err := atomicfile.WriteFile(metricsFile, b.Bytes(), 0o644); err != nil {
					return &exitErr{exitError, fmt.Errorf("writing the metrics: %w", err)}
				}
			}
			return verdictExit(r.Verdict)
		},
	}
	f.add(c)
	output.add(c)
	c.Flags().StringVar(&metricsFile, "metrics-file", "", "also write the report as OpenMetrics to this file, atomically (node-exporter's textfile collector: a .prom file in its directory)")
	c.Flags().BoolVar(&wait, "wait", false, "poll until converged or blocked")
	c.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "how long --wait waits")
	return c
}

// fleetStatus is status on a shared root: every cluster's, and the window.
func fleetStatus(c *cobra.Command, root *rotate.Package, cl gate.Cluster, output outputFlag, perCluster, wait bool, timeout time.Duration) error {
	if perCluster || output.format == "openmetrics" {
		return &exitErr{exitError, fmt.Errorf("%s is a shared root (spec.clusters): --metrics-file and -o openmetrics are per cluster; run status on a cluster's rotation", root.File)}
	}
	r, err := gate.FleetWatch(contextOf(c), root, cl, clock, wait, timeout)
	if err != nil {
		return &exitErr{exitError, err}
	}
	if err := output.write(c.OutOrStdout(), r, r.Text); err != nil {
		return err
	}
	return verdictExit(r.Verdict)
}

// verdictExit is a verdict's exit code: converged 0, progressing 3 (wait),
// blocked 2.
func verdictExit(v status.Verdict) error {
	switch v {
	case status.Progressing:
		return &exitErr{exitWait, fmt.Errorf("progressing")}
	case status.Blocked:
		return &exitErr{exitRefused, fmt.Errorf("blocked")}
	}
	return nil
}
