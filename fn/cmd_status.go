package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/carousel-dev/carousel/pkg/fleet"
	"github.com/carousel-dev/carousel/pkg/fninput"
	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/rotate"
	"github.com/carousel-dev/carousel/pkg/spec"
	"github.com/carousel-dev/carousel/pkg/status"
)

// Exit codes of `carousel status`.
const (
	statusConverged   = 0
	statusError       = 1
	statusProgressing = 2
	statusBlocked     = 3
)

type clusterFlags struct {
	kubeconfig, context, namespace string
}

func (f *clusterFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", "path to the kubeconfig (default: $KUBECONFIG, ~/.kube/config, in-cluster)")
	c.Flags().StringVar(&f.context, "context", "", "the kubeconfig context to use")
	c.Flags().StringVarP(&f.namespace, "namespace", "n", "", "only report objects and workloads of this namespace (and cluster-scoped objects)")
}

// configured reports whether a cluster is configured at all, so advance
// checks the live gate only where there is a cluster to ask.
func (f *clusterFlags) configured() bool {
	if f.kubeconfig != "" || os.Getenv("KUBECONFIG") != "" || os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
		return true
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return false
	}
	_, err = os.Stat(filepath.Join(home, ".kube", "config"))
	return err == nil
}

func (f *clusterFlags) client() (dynamic.Interface, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = f.kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: f.context}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading the kubeconfig: %w", err)
	}
	cfg.Timeout = 15 * time.Second
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	// Pods are listed as metadata only (status.Clients).
	meta, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return status.Clients{Interface: dyn, Metadata: meta}, nil
}

// liveStatus renders the package's current phase and compares it with the cluster.
func liveStatus(ctx context.Context, file string, f *clusterFlags) (*status.Report, error) {
	p, err := rotate.Load(file)
	if err != nil {
		return nil, err
	}
	// What kustomize hands the function, not every file in the folder.
	items, err := fninput.Build(file)
	if err != nil {
		return nil, err
	}
	now, err := clock()
	if err != nil {
		return nil, err
	}
	out := gen.Render(gen.Input{Rotation: p.Rotation, Config: p.Node, Items: items, Now: now})
	if out.Failed() {
		return &status.Report{Rotation: p.Rotation.Metadata.Name, Phase: string(p.Rotation.Spec.Phase), Verdict: status.Blocked,
			Reasons: []string{fmt.Sprintf("the phase does not render: %v", out.Results)}, Objects: []status.ObjectStatus{}, Workloads: []status.WorkloadStatus{}}, nil
	}
	client, err := f.client()
	if err != nil {
		return nil, err
	}
	if p.Rotation.Spec.Backend == spec.BackendCertManager {
		return certManagerStatus(ctx, client, p.Rotation, items, out)
	}
	r, err := status.Evaluate(ctx, client, p.Rotation, out)
	if err != nil {
		return nil, err
	}
	// Consumer packages of other applications are part of the phase: one
	// that has not rendered it keeps the phase from having converged.
	if p.Rotation.Spec.Publish != "" || len(p.Rotation.Spec.Consumers) > 0 {
		owned := map[string]bool{}
		for _, w := range out.Restarts {
			owned[w.Kind+"/"+w.Namespace+"/"+w.Name] = true
		}
		scan, err := fleet.Consumers(ctx, client, p.Rotation.Metadata.Name, func(kind, ns, name string) bool { return owned[kind+"/"+ns+"/"+name] })
		if err != nil {
			return nil, err
		}
		lag := fleet.Lagging(p.Rotation, scan.Consumers)
		for _, l := range lag {
			r.Reasons = append(r.Reasons, "consumer "+l.Reason)
		}
		if len(lag) > 0 && r.Verdict == status.Converged {
			r.Verdict = status.Progressing
		}
		// Waiting will not roll these: no package renders them.
		for _, u := range scan.Unmarked {
			r.Reasons = append(r.Reasons, fmt.Sprintf("%s without %s: no consumer package renders it, so it never rolls onto a new trusted set; add it to one (docs/fleet.md)", u, gen.MarkerAnnotation(p.Rotation.Metadata.Name)))
			r.Verdict = status.Blocked
		}
	}
	r.Filter(f.namespace)
	return r, nil
}

func printStatus(w io.Writer, r *status.Report, output string) error {
	if output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	fmt.Fprintf(w, "%s at %s: %s\n", r.Rotation, r.Phase, r.Verdict)
	for _, reason := range r.Reasons {
		fmt.Fprintf(w, "  - %s\n", reason)
	}
	for _, wl := range r.Workloads {
		for _, p := range wl.StalePods {
			fmt.Fprintf(w, "  stale pod: %s/%s (%s %s)\n", wl.Namespace, p, wl.Kind, wl.Name)
		}
		for _, p := range wl.TerminatingPods {
			fmt.Fprintf(w, "  terminating pod: %s/%s (%s %s)\n", wl.Namespace, p, wl.Kind, wl.Name)
		}
	}
	fmt.Fprintf(w, "%d objects, %d workloads checked\n", len(r.Objects), len(r.Workloads))
	return nil
}

func statusCmd() *cobra.Command {
	var f clusterFlags
	var output string
	var wait bool
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "status CAROTATION_FILE",
		Short: "The live gate: has the current phase converged in the cluster? (exit 0 converged, 2 progressing, 3 blocked)",
		Long: `status renders the current phase and reads the live objects: every managed
Secret, bundle, cluster-info, caBundle and kubeconfig Secret must hold exactly
the phase's certificates (compared by SHA-256 fingerprint; key material is never
read or printed), and every workload that holds the rotation's material must
carry the phase's pod-template annotation and be done rolling out, for any
reason (a helm upgrade too): observedGeneration caught up, every replica
updated and available, none surged, unavailable, misscheduled or terminating.
Certificates are never swapped during a rolling update. Pods still running an
older template, and pods still terminating, are listed.

Verdicts and exit codes: converged 0; progressing 2 (wait); blocked 3 (waiting
will not help: the phase does not render, a rollout exceeded its deadline, or
another tool writes certificates into a managed object); 1 the check could not
run. --wait polls until converged or blocked, up to --timeout (then exit 2).
JSON output (-o json): docs/status.md.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			deadline := time.Now().Add(timeout)
			delay := time.Second
			for {
				r, err := liveStatus(ctx, args[0], &f)
				if err != nil {
					return &exitError{statusError, err}
				}
				if !wait || r.Verdict != status.Progressing || time.Now().Add(delay).After(deadline) {
					if err := printStatus(c.OutOrStdout(), r, output); err != nil {
						return err
					}
					switch r.Verdict {
					case status.Progressing:
						return &exitError{statusProgressing, fmt.Errorf("progressing")}
					case status.Blocked:
						return &exitError{statusBlocked, fmt.Errorf("blocked")}
					}
					return nil
				}
				time.Sleep(delay)
				delay = min(delay*2, 10*time.Second)
			}
		},
	}
	f.add(c)
	c.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	c.Flags().BoolVar(&wait, "wait", false, "poll until converged or blocked")
	c.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "how long --wait waits")
	return c
}

// consumersLagging lists the consumer applications of the rotation that
// have not rendered its current phase, as the cluster reports them.
func consumersLagging(ctx context.Context, rot *spec.CARotation, f *clusterFlags) ([]fleet.Lag, error) {
	client, err := f.client()
	if err != nil {
		return nil, err
	}
	scan, err := fleet.Consumers(ctx, client, rot.Metadata.Name, nil)
	if err != nil {
		return nil, err
	}
	return fleet.Lagging(rot, scan.Consumers), nil
}
