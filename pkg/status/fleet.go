package status

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// FleetReport is `carousel status` on a shared root (spec.clusters): each
// cluster's own report, asked in its kubeconfig context, and the fleet
// window over their phases.
type FleetReport struct {
	Rotation string          `json:"rotation"`
	Verdict  Verdict         `json:"verdict"`
	Clusters []ClusterReport `json:"clusters"`
	// Window is "" while every group of clusters that talk is within one
	// phase, else why not.
	Window string `json:"window,omitempty"`
}

// ClusterReport is one cluster of a fleet.
type ClusterReport struct {
	Name    string  `json:"name"`
	Context string  `json:"context"`
	Phase   string  `json:"phase"`
	Report  *Report `json:"report"`
}

// Fleet sums up the clusters' reports: blocked when a cluster is blocked or
// the window is broken (waiting will not bring phases two apart back
// together), else progressing while a cluster is, else converged.
func Fleet(rotation string, clusters []ClusterReport, window string) *FleetReport {
	r := &FleetReport{Rotation: rotation, Verdict: Converged, Clusters: clusters, Window: window}
	for _, c := range clusters {
		switch {
		case c.Report.Verdict == Blocked:
			r.Verdict = Blocked
		case c.Report.Verdict == Progressing && r.Verdict == Converged:
			r.Verdict = Progressing
		}
	}
	if window != "" {
		r.Verdict = Blocked
	}
	return r
}

// Text writes a table of the clusters, the window, then each cluster's
// report.
func (r *FleetReport) Text(w io.Writer) error {
	fmt.Fprintf(w, "%s, %d clusters: %s\n", r.Rotation, len(r.Clusters), r.Verdict)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CLUSTER\tCONTEXT\tPHASE\tVERDICT")
	for _, c := range r.Clusters {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Name, c.Context, c.Phase, c.Report.Verdict)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Window != "" {
		fmt.Fprintf(w, "fleet window: %s\n", r.Window)
	} else {
		fmt.Fprintln(w, "fleet window: every group within one phase")
	}
	for _, c := range r.Clusters {
		fmt.Fprintf(w, "\n%s (context %s): ", c.Name, c.Context)
		if err := c.Report.Text(w); err != nil {
			return err
		}
	}
	return nil
}
