package spec

import (
	"maps"
	"regexp"
	"slices"
	"strings"
)

// AlertLabelsSet are the labels carousel sets on its alerts to tell them
// apart (and cert-manager's metric carries into them): spec.alerts.alertLabels
// may not set them, or two alerts would merge in Alertmanager and a route
// on them would match the wrong one.
var AlertLabelsSet = []string{"alertname", "certificate", "generation", "issuer_group", "issuer_kind", "issuer_name", "name", "namespace", "phase", "role", "rotation"}

var (
	// promLabel is a Prometheus label name; names starting with __ are
	// Prometheus's own.
	promLabel = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	// k8sLabelName is the name part of a Kubernetes label key and the
	// shape of a label value (apimachinery's IsQualifiedName, IsValidLabelValue).
	k8sLabelName = regexp.MustCompile(`^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`)
)

// validateAlerts checks spec.alerts: a PrometheusRule the API server
// accepts (its name, namespace and labels), alert labels Prometheus
// accepts that do not override carousel's, and positive thresholds.
func (s *Spec) validateAlerts(errs *FieldErrors) {
	a := s.Alerts
	if a == nil {
		return
	}
	if !dnsSubdomain.MatchString(a.Name) {
		errs.add("spec.alerts.name", "%q must be a DNS subdomain (a-z, 0-9, \"-\" and \".\", at most 253 characters)", a.Name)
	}
	if !dnsLabel.MatchString(a.Namespace) {
		errs.add("spec.alerts.namespace", "%q must be a namespace name (a DNS label: a-z, 0-9 and \"-\", at most 63 characters): the namespace the Prometheus's ruleNamespaceSelector reads", a.Namespace)
	}
	for _, k := range slices.Sorted(maps.Keys(a.Labels)) {
		p := "spec.alerts.labels." + k
		if !k8sLabelKey(k) {
			errs.add(p, "%q is not a label key (an optional DNS subdomain prefix and /, then at most 63 characters: a-z, A-Z, 0-9, \"-\", \"_\", \".\")", k)
		}
		if v := a.Labels[k]; v != "" && (len(v) > 63 || !k8sLabelName.MatchString(v)) {
			errs.add(p, "%q is not a label value (at most 63 characters: a-z, A-Z, 0-9, \"-\", \"_\", \".\")", v)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(a.AlertLabels)) {
		p := "spec.alerts.alertLabels." + k
		switch {
		case !promLabel.MatchString(k) || strings.HasPrefix(k, "__"):
			errs.add(p, "%q is not a Prometheus label name (a-z, A-Z, 0-9 and _, not starting with a digit or __)", k)
		case slices.Contains(AlertLabelsSet, k):
			errs.add(p, "carousel sets %q on its alerts to tell them apart (it sets %s)", k, strings.Join(AlertLabelsSet, ", "))
		case a.AlertLabels[k] == "":
			errs.add(p, "is empty: Prometheus drops a label with an empty value")
		}
	}
	a.ExpiryWarning.check(errs, "spec.alerts.expiryWarning")
	a.PhaseStuckAfter.check(errs, "spec.alerts.phaseStuckAfter")
}

// k8sLabelKey is apimachinery's IsQualifiedName: [prefix/]name.
func k8sLabelKey(k string) bool {
	prefix, name, ok := strings.Cut(k, "/")
	if !ok {
		prefix, name = "", k
	} else if !dnsSubdomain.MatchString(prefix) {
		return false
	}
	return len(name) <= 63 && k8sLabelName.MatchString(name)
}
