package gen

import (
	"crypto/x509"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/cmbackend"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// Alert names: what Alertmanager routes and silences by, so they never change.
const (
	// AlertExpires fires a window (spec.alerts.expiryWarning) before a
	// certificate the phase uses expires, and goes on firing once it has.
	AlertExpires = "CarouselCertificateExpiresSoon"
	// AlertExpiryUnknown fires, with backend cert-manager, when Prometheus
	// has no issued certificate's expiry from cert-manager for an hour: a
	// Certificate not issued, or cert-manager not scraped. Without it an
	// expiry alert over a metric nobody collects would never fire.
	AlertExpiryUnknown = "CarouselCertificateExpiryUnknown"
	// AlertPhaseStuck fires when a rotation has stayed at a phase (or step)
	// in flight longer than spec.alerts.phaseStuckAfter.
	AlertPhaseStuck = "CarouselRotationPhaseStuck"
)

// CertManagerExpiryMetric is cert-manager's gauge of a Certificate's
// NotAfter in unix seconds (labels name and namespace, among others); 0
// until the Certificate is issued. Its newer twin
// certmanager_certificate_not_after_timestamp_seconds is not in older
// releases.
const CertManagerExpiryMetric = "certmanager_certificate_expiration_timestamp_seconds"

// Certificate is one certificate a phase uses: a CA generation it trusts
// or the leaf generation it serves. The alerts (spec.alerts) and the
// metrics of `carousel status -o openmetrics` name each by these fields.
type Certificate struct {
	// Role is "ca" or "leaf".
	Role string
	// Name is the CA's ID (g1, g2, ...) or the leaf's name.
	Name string
	// Generation is the certificate's generation in the phase (old, new).
	Generation phases.Generation
	// Cert is the certificate; nil with backend cert-manager where git
	// does not hold it (every leaf, and a CA not pulled yet).
	Cert *x509.Certificate
	// Namespace and Certificate name the cert-manager Certificate that
	// holds it (backend cert-manager only).
	Namespace, Certificate string
}

// inUse lists the certificates the phase uses, as warnExpiry reads them:
// the CAs it trusts (the signer among them), then each spec leaf's
// generation it serves, in spec order.
func (r *renderer) inUse() []Certificate {
	var out []Certificate
	// A render refuses a phase whose material is missing before this; the
	// checks keep a renderer of another position from panicking.
	for _, g := range r.state.Trusted {
		if k, ok := r.set.CA[g]; ok && len(k.Certs) > 0 {
			out = append(out, Certificate{Role: "ca", Name: k.CAID, Generation: g, Cert: k.Cert()})
		}
	}
	for _, l := range r.rot.Spec.Leaves {
		if k, ok := r.set.Leaves[l.Name][r.state.Leaves]; ok && len(k.Certs) > 0 {
			out = append(out, Certificate{Role: "leaf", Name: l.Name, Generation: r.state.Leaves, Cert: k.Cert()})
		}
	}
	return out
}

// certManagerInUse is inUse for backend cert-manager: each trusted
// generation's CA Certificate (its certificate when it is pulled into
// git) and each leaf's Certificate, which cert-manager issues in the
// cluster from the phase's signer.
func (r *renderer) certManagerInUse(pulled map[int]cmbackend.Pulled) []Certificate {
	var out []Certificate
	for _, g := range r.state.Trusted {
		n := cmbackend.Number(r.rot, g)
		c := Certificate{Role: "ca", Name: "g" + strconv.Itoa(n), Generation: g, Namespace: cmbackend.Namespace(r.rot), Certificate: cmbackend.GenerationName(r.rot.Metadata.Name, n)}
		if p, ok := pulled[n]; ok {
			c.Cert = p.Cert
		}
		out = append(out, c)
	}
	for _, l := range r.rot.Spec.Leaves {
		out = append(out, Certificate{Role: "leaf", Name: l.Name, Generation: r.state.Leaves, Namespace: l.Secret.Namespace, Certificate: l.Secret.Name})
	}
	return out
}

// PhaseName is the rotation's position as status and the alerts name it:
// the phase, or phase/step in a phase of several steps.
func PhaseName(rot *spec.CARotation) string {
	pos, err := phases.Resolve(rot.Spec.Scope, rot.Position(), rot.Features())
	if err != nil || rot.Spec.Step == "" {
		return string(rot.Spec.Phase)
	}
	if steps, _ := phases.Steps(rot.Spec.Scope, pos.Phase, rot.Features()); len(steps) > 1 {
		return pos.String()
	}
	return string(rot.Spec.Phase)
}

// renderAlerts renders spec.alerts' PrometheusRule (monitoring.coreos.com/v1)
// for the certificates the phase uses. It manages nothing: the rule holds
// no certificate for status to compare and no pod reads it, so no workload
// rolls on it.
//
// Every rule is a constant comparison with Prometheus's time(), made from
// what git holds: a certificate's NotAfter from the material, the phase's
// start from spec.phaseSince. So the render reads no clock and stays
// byte-identical, and the alerts fire with no exporter at all. Where git
// does not hold a certificate (backend cert-manager's leaves) the rule
// reads cert-manager's own expiry metric instead, and a second rule says
// when that metric is missing.
func (r *renderer) renderAlerts(certs []Certificate) part {
	a := r.rot.Spec.Alerts
	if a == nil {
		return part{}
	}
	id := objID{"PrometheusRule", a.Namespace, a.Name}
	for _, n := range r.items {
		if idOf(n) == id {
			r.errorAt(n, "", fmt.Errorf("the input already holds PrometheusRule %s/%s, which spec.alerts renders: name the rotation's rule differently (spec.alerts.name)", a.Namespace, a.Name))
			return part{}
		}
	}
	window := a.ExpiryWarning.Value()
	var rules []*yaml.RNode
	for _, c := range certs {
		rules = append(rules, r.expiryRules(c, window)...)
	}
	if stuck := r.stuckRule(); stuck != nil {
		rules = append(rules, stuck)
	}
	rule := yaml.MustParse(fmt.Sprintf("apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  name: %s\n  namespace: %s\n  labels: {}\n", a.Name, a.Namespace))
	_ = rule.SetLabels(maps.Clone(a.Labels))
	r.labelled(rule) // after spec.alerts.labels: the rotation label is carousel's
	group := yaml.NewMapRNode(nil)
	_ = group.PipeE(yaml.SetField("name", yaml.NewStringRNode("carousel."+r.rot.Metadata.Name)))
	_ = group.PipeE(yaml.SetField("rules", yaml.NewListRNode()))
	list, _ := group.Pipe(yaml.Lookup("rules"))
	for _, n := range rules {
		_ = list.PipeE(yaml.Append(n.YNode()))
	}
	groups := yaml.NewListRNode()
	_ = groups.PipeE(yaml.Append(group.YNode()))
	_ = rule.PipeE(yaml.LookupCreate(yaml.MappingNode, "spec"), yaml.SetField("groups", groups))
	return part{rendered: []*yaml.RNode{rule}}
}

// expiryRules are a certificate's alerts: NotAfter less time() under the
// window. The value is the seconds left (negative once expired).
func (r *renderer) expiryRules(c Certificate, window time.Duration) []*yaml.RNode {
	what := describe(c)
	labels := r.alertLabels(map[string]string{"role": c.Role, "certificate": c.Name, "generation": string(c.Generation)})
	secs := strconv.FormatInt(int64(window/time.Second), 10)
	if c.Cert != nil && c.Namespace == "" {
		notAfter := c.Cert.NotAfter.UTC()
		return []*yaml.RNode{alertRule(AlertExpires, fmt.Sprintf("vector(%d) - time() < %s", notAfter.Unix(), secs), "", labels, map[string]string{
			"summary": fmt.Sprintf("%s of rotation %s expires within %s", what, r.rot.Metadata.Name, shortDuration(window)),
			"description": fmt.Sprintf("%s of rotation %s (sha256 %s) expires at %s (unix %d). %s",
				capital(what), r.rot.Metadata.Name, pki.Fingerprint(c.Cert)[:16], notAfter.Format(time.RFC3339), notAfter.Unix(), r.renewHint(c, window)),
		})}
	}
	// Backend cert-manager: its own metric. A Certificate not issued yet
	// reports 0, which is no expiry: only issued ones count.
	series := fmt.Sprintf("%s{namespace=%q,name=%q}", CertManagerExpiryMetric, c.Namespace, c.Certificate)
	return []*yaml.RNode{
		alertRule(AlertExpires, fmt.Sprintf("(%s > 0) - time() < %s", series, secs), "", labels, map[string]string{
			"summary":     fmt.Sprintf("%s of rotation %s expires within %s", what, r.rot.Metadata.Name, shortDuration(window)),
			"description": fmt.Sprintf("%s of rotation %s, cert-manager Certificate %s/%s, expires within %s (cert-manager's %s). %s", capital(what), r.rot.Metadata.Name, c.Namespace, c.Certificate, shortDuration(window), CertManagerExpiryMetric, r.renewHint(c, window)),
		}),
		alertRule(AlertExpiryUnknown, fmt.Sprintf("absent(%s > 0)", series), "1h", labels, map[string]string{
			"summary":     fmt.Sprintf("the expiry of %s of rotation %s is unknown", what, r.rot.Metadata.Name),
			"description": fmt.Sprintf("Prometheus has had no issued certificate's expiry for cert-manager Certificate %s/%s (%s) for an hour: the Certificate is not issued (kubectl describe certificate -n %s %s), or cert-manager's metrics are not scraped, and then no expiry alert of this rotation can fire.", c.Namespace, c.Certificate, CertManagerExpiryMetric, c.Namespace, c.Certificate),
		}),
	}
}

// stuckRule fires once the rotation has been at its position longer than
// spec.alerts.phaseStuckAfter. None at steady, where nothing is in flight,
// nor at the scope's last phase (cleanup, reissue): a finished rotation
// rests there until the next `carousel start`, for as long as the new CA
// lives, and an alert that fires for months gets silenced and then
// missed. Without spec.phaseSince there is nothing to count from: a
// warning says so.
func (r *renderer) stuckRule() *yaml.RNode {
	seq, _ := phases.Sequence(r.rot.Spec.Scope)
	if r.state.Phase == phases.Steady || (len(seq) > 0 && r.state.Phase == seq[len(seq)-1]) {
		return nil
	}
	a := r.rot.Spec.Alerts
	since := r.rot.Spec.PhaseSince
	if since.IsZero() {
		r.warnAt(r.in.Config, "spec.phaseSince", "spec.alerts is set but spec.phaseSince is not: no %s alert for phase %s. `carousel advance` records when the phase began; a phase set by hand needs it set by hand", AlertPhaseStuck, r.state.Phase)
		return nil
	}
	phase := PhaseName(r.rot)
	after := a.PhaseStuckAfter.Value()
	return alertRule(AlertPhaseStuck, fmt.Sprintf("vector(time() - %d) > %d", since.Value().Unix(), int64(after/time.Second)), "", r.alertLabels(map[string]string{"phase": phase}), map[string]string{
		"summary": fmt.Sprintf("rotation %s has been at %s for more than %s", r.rot.Metadata.Name, phase, shortDuration(after)),
		"description": fmt.Sprintf("Rotation %s moved to %s at %s (spec.phaseSince) and has not moved since. Its trust is in an intermediate state: see whether the phase converged (carousel status) and advance it, or roll it back (carousel advance --to).",
			r.rot.Metadata.Name, phase, since.Value().UTC().Format(time.RFC3339)),
	})
}

// alertLabels are the rotation's alert labels: spec.alerts.alertLabels
// (severity among them), the rotation, and what tells the alert apart.
func (r *renderer) alertLabels(own map[string]string) map[string]string {
	out := maps.Clone(r.rot.Spec.Alerts.AlertLabels)
	maps.Copy(out, own)
	out["rotation"] = r.rot.Metadata.Name
	return out
}

// alertRule is one alerting rule, its fields in Prometheus's documented
// order and its labels and annotations sorted.
func alertRule(name, expr, forDuration string, labels, annotations map[string]string) *yaml.RNode {
	n := yaml.NewMapRNode(nil)
	_ = n.PipeE(yaml.SetField("alert", yaml.NewStringRNode(name)))
	_ = n.PipeE(yaml.SetField("expr", yaml.NewStringRNode(expr)))
	if forDuration != "" {
		_ = n.PipeE(yaml.SetField("for", yaml.NewStringRNode(forDuration)))
	}
	for _, f := range []struct {
		key string
		m   map[string]string
	}{{"labels", labels}, {"annotations", annotations}} {
		m := yaml.NewMapRNode(nil)
		for _, k := range slices.Sorted(maps.Keys(f.m)) {
			_ = m.PipeE(yaml.SetField(k, yaml.NewStringRNode(f.m[k])))
		}
		_ = n.PipeE(yaml.SetField(f.key, m))
	}
	return n
}

// describe names a certificate for people: "the old CA (g1)", "leaf api (new)".
func describe(c Certificate) string {
	if c.Role == "ca" {
		return fmt.Sprintf("the %s CA (%s)", c.Generation, c.Name)
	}
	return fmt.Sprintf("leaf %s (%s)", c.Name, c.Generation)
}

// renewHint is the way out of an expiring certificate: the rotation under
// way, when it replaces the certificate, else a new one.
func (r *renderer) renewHint(c Certificate, window time.Duration) string {
	inFlight := r.state.Phase != phases.Steady && c.Generation == phases.Old
	switch {
	case r.rot.Spec.Backend.KeysInCluster() && c.Role == "leaf":
		return "cert-manager renews it before it expires (renewBefore): if it has not, see the Certificate's events."
	case inFlight && (c.Role == "ca" || r.state.Leaves == phases.Old):
		return fmt.Sprintf("The rotation under way (at %s) replaces it: advance it before then (carousel status, carousel advance).", r.state.Phase)
	case r.rot.Spec.Backend.KeysInCluster():
		return "Rotate the CA: carousel start, then one pull request per phase."
	case c.Role == "leaf":
		return fmt.Sprintf("Re-issue it: carousel renew --before %s, then one pull request per phase.", shortDuration(window))
	}
	return fmt.Sprintf("Rotate the CA: carousel renew --before %s, then one pull request per phase.", shortDuration(window))
}

// shortDuration is a duration as people write it: 720h, not 720h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// capital is s with its first letter upper case, to open a sentence.
func capital(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
