package status

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
)

// Why this file: `carousel status -o openmetrics` (and --metrics-file,
// for node-exporter's textfile collector or a Pushgateway job) is the
// report as metrics, so a dashboard shows a rotation's phase and
// convergence and an alert can fire on a blocked one. docs/status.md names
// every metric and label.
//
// The output is OpenMetrics text that is also Prometheus's text format:
// gauges only, no # UNIT (a comment to the text parser), values without
// timestamps, and the closing # EOF (a comment too). node-exporter's
// textfile collector and the Pushgateway read the text format; Prometheus
// scraping a file server reads either. Families come sorted by name and
// series by their labels, so the same report writes the same bytes.

// metricFamily is one gauge and its series, keyed by their label text.
type metricFamily struct {
	name, help string
	series     map[string]float64
	// merge combines two series of one label set (two probes of one
	// address): the lowest convergence, the sum of counts.
	merge func(a, b float64) float64
}

func (f *metricFamily) add(value float64, labels ...string) {
	text := labelText(labels)
	if old, ok := f.series[text]; ok {
		value = f.merge(old, value)
	}
	f.series[text] = value
}

// labelText is {name="value",...} with the names sorted and the values
// escaped as both formats escape them (backslash, double quote, newline).
func labelText(pairs []string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(pairs); i += 2 {
		m[pairs[i]] = pairs[i+1]
	}
	esc := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+`="`+esc.Replace(m[k])+`"`)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// Metric names: docs/status.md lists them with their labels.
const (
	MetricPhase            = "carousel_rotation_phase"
	MetricPhaseSince       = "carousel_rotation_phase_since_timestamp_seconds"
	MetricVerdict          = "carousel_rotation_verdict"
	MetricObjectConverged  = "carousel_object_converged"
	MetricWorkloadConverge = "carousel_workload_converged"
	MetricStalePods        = "carousel_workload_stale_pods"
	MetricTerminatingPods  = "carousel_workload_terminating_pods"
	MetricNotAfter         = "carousel_certificate_not_after_timestamp_seconds"
)

// Metrics writes the report as OpenMetrics text (see above).
func (r *Report) Metrics(w io.Writer) error {
	lowest := func(a, b float64) float64 { return min(a, b) }
	sum := func(a, b float64) float64 { return a + b }
	fam := map[string]*metricFamily{}
	def := func(name, help string, merge func(a, b float64) float64) *metricFamily {
		f := &metricFamily{name: name, help: help, series: map[string]float64{}, merge: merge}
		fam[name] = f
		return f
	}
	rot := r.Rotation
	phase := def(MetricPhase, "The rotation's phase: 1 for the phase it is at, 0 for every other phase of its scope.", lowest)
	seq, _ := phases.Sequence(r.Scope)
	current := phases.Phase(strings.SplitN(r.Phase, "/", 2)[0])
	for _, p := range seq {
		phase.add(b2f(p == current), "rotation", rot, "phase", string(p))
	}
	if !slices.Contains(seq, current) {
		phase.add(1, "rotation", rot, "phase", string(current))
	}
	since := def(MetricPhaseSince, "When the rotation moved to its phase (spec.phaseSince, written by carousel advance), in unix seconds; absent when not recorded.", lowest)
	if !r.PhaseSince.IsZero() {
		since.add(float64(r.PhaseSince.Unix()), "rotation", rot)
	}
	verdict := def(MetricVerdict, "The live gate's verdict: 1 for the rotation's verdict (converged, progressing, blocked), 0 for the others.", lowest)
	for _, v := range []Verdict{Converged, Progressing, Blocked} {
		verdict.add(b2f(r.Verdict == v), "rotation", rot, "verdict", string(v))
	}
	objects := def(MetricObjectConverged, "1 when a managed object (or a probed endpoint, kind Probe) holds exactly the phase's certificates, 0 while it does not.", lowest)
	for _, o := range r.Objects {
		objects.add(b2f(o.State == Converged), "rotation", rot, "kind", o.Kind, "namespace", o.Namespace, "name", o.Name)
	}
	workloads := def(MetricWorkloadConverge, "1 when a workload holding the rotation's material carries the phase's pod template and is done rolling out, 0 while it is not.", lowest)
	stale := def(MetricStalePods, "Pods of the workload still running an older pod template than the phase's.", sum)
	terminating := def(MetricTerminatingPods, "Pods of the workload being deleted, which still run and hold what they mounted.", sum)
	for _, wl := range r.Workloads {
		l := []string{"rotation", rot, "kind", wl.Kind, "namespace", wl.Namespace, "name", wl.Name}
		workloads.add(b2f(wl.State == Converged), l...)
		stale.add(float64(len(wl.StalePods)), l...)
		terminating.add(float64(len(wl.TerminatingPods)), l...)
	}
	notAfter := def(MetricNotAfter, "When a certificate the phase uses (a CA it trusts, a leaf it serves) expires, in unix seconds. Only certificates git holds: with backend cert-manager, cert-manager's own metrics cover its Certificates.", lowest)
	for _, c := range r.Certificates {
		if c.Cert == nil {
			continue
		}
		notAfter.add(float64(c.Cert.NotAfter.Unix()), "rotation", rot, "role", c.Role, "certificate", c.Name, "generation", string(c.Generation), "sha256", pki.Fingerprint(c.Cert))
	}

	var b bytes.Buffer
	for _, name := range slices.Sorted(maps.Keys(fam)) {
		f := fam[name]
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n", f.name, f.help, f.name)
		for _, labels := range slices.Sorted(maps.Keys(f.series)) {
			fmt.Fprintf(&b, "%s%s %s\n", f.name, labels, formatValue(f.series[labels]))
		}
	}
	b.WriteString("# EOF\n")
	_, err := w.Write(b.Bytes())
	return err
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// formatValue writes integers (every value here is a count, a 0/1 state
// or whole seconds) without an exponent, as people read them.
func formatValue(v float64) string {
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%g", v)
}
