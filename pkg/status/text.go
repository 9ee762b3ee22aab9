package status

import (
	"fmt"
	"io"
)

// Text writes the report for people: the verdict, its reasons, the stale
// and terminating pods, and how much was checked. -o json and -o yaml
// write the Report itself (docs/status.md).
func (r *Report) Text(w io.Writer) error {
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
