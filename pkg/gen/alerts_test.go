package gen_test

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/kyaml/yaml"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/cmbackend"
	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// since is when the example's rotation moved to its phase in these tests.
var since = testkit.Now

// withAlerts sets spec.alerts (kube-prometheus-stack's release label, a
// team label for routing) and spec.phaseSince on the CARotation.
func withAlerts(cfg *yaml.RNode) {
	s, _ := cfg.Pipe(yaml.Lookup("spec"))
	_ = s.PipeE(yaml.SetField("alerts", yaml.MustParse("namespace: monitoring\nlabels: {release: kube-prometheus-stack}\nalertLabels: {team: platform}\n")))
	_ = s.PipeE(yaml.SetField("phaseSince", yaml.NewStringRNode(since.Format(time.RFC3339))))
}

// ruleFile is the PrometheusRule's spec, a Prometheus rule file: what the
// Prometheus Operator hands Prometheus, and what promtool reads.
type ruleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []rule `json:"rules"`
	} `json:"groups"`
}

type rule struct {
	Alert       string            `json:"alert"`
	Expr        string            `json:"expr"`
	For         string            `json:"for,omitempty"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

func (f ruleFile) rules() []rule {
	var out []rule
	for _, g := range f.Groups {
		out = append(out, g.Rules...)
	}
	return out
}

// rulesOf is the spec of the output's PrometheusRule.
func rulesOf(t *testing.T, out gen.Output, namespace, name string) ruleFile {
	t.Helper()
	if out.Failed() {
		t.Fatalf("render failed: %v", out.Results)
	}
	n := testkit.Find(out.Items, "PrometheusRule", namespace, name)
	if n == nil {
		t.Fatalf("no PrometheusRule %s/%s rendered", namespace, name)
	}
	s, err := n.Pipe(yaml.Lookup("spec"))
	if err != nil || s == nil {
		t.Fatalf("PrometheusRule without spec: %v", err)
	}
	b, err := s.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var f ruleFile
	if err := sigsyaml.UnmarshalStrict(b, &f); err != nil {
		t.Fatalf("the PrometheusRule's spec is not a rule file: %v", err)
	}
	return f
}

// promtool runs Prometheus's promtool in dir.
func promtool(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(testkit.Tool(t, "promtool"), args...)
	cmd.Dir = dir
	b, err := cmd.CombinedOutput()
	return string(b), err
}

// unitTest is one `promtool test rules` test group: it starts at start and
// checks the alerts named by alertname at each eval time (after start).
type unitTest struct {
	start  time.Time
	series []promSeries
	evals  []eval
}

type promSeries struct {
	Series string `json:"series"`
	Values string `json:"values"`
}

type eval struct {
	at        time.Duration
	alertname string
	firing    []rule // the rules expected to fire, each with its labels and annotations
	// seriesLabels are added to every expected alert's labels: those of
	// the input series its expression carries through.
	seriesLabels map[string]string
}

// runRuleTests writes the rules and a promtool test file for the tests
// into a directory and runs `promtool test rules` there.
func runRuleTests(t *testing.T, f ruleFile, tests []unitTest) (string, error) {
	t.Helper()
	dir := t.TempDir()
	b, err := sigsyaml.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	var groups []map[string]any
	for _, u := range tests {
		var alertTests []map[string]any
		for _, e := range u.evals {
			exp := []map[string]any{}
			for _, r := range e.firing {
				labels := maps.Clone(r.Labels)
				maps.Copy(labels, e.seriesLabels)
				exp = append(exp, map[string]any{"exp_labels": labels, "exp_annotations": r.Annotations})
			}
			alertTests = append(alertTests, map[string]any{"eval_time": e.at.String(), "alertname": e.alertname, "exp_alerts": exp})
		}
		g := map[string]any{"interval": "1m", "start_timestamp": u.start.UTC().Format(time.RFC3339), "alert_rule_test": alertTests}
		if len(u.series) > 0 {
			g["input_series"] = u.series
		}
		groups = append(groups, g)
	}
	b, err = sigsyaml.Marshal(map[string]any{"rule_files": []string{"rules.yaml"}, "evaluation_interval": "1m", "tests": groups})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "test.yaml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return promtool(t, dir, "test", "rules", "test.yaml")
}

// expiryRule finds the expiry rule of a certificate among the rules.
func expiryRule(t *testing.T, rules []rule, alert string, c gen.Certificate) rule {
	t.Helper()
	for _, r := range rules {
		if r.Alert == alert && r.Labels["role"] == c.Role && r.Labels["certificate"] == c.Name {
			return r
		}
	}
	t.Fatalf("no %s rule for %s %s", alert, c.Role, c.Name)
	return rule{}
}

// expiringAt are the rules of the certificates that expire within window
// of at: which expiry alerts must fire then. It reads the certificates,
// not the rules, so a rule with a wrong threshold is caught.
func expiringAt(t *testing.T, rules []rule, certs []gen.Certificate, at time.Time, window time.Duration) []rule {
	var out []rule
	for _, c := range certs {
		if c.Cert.NotAfter.Sub(at) < window {
			out = append(out, expiryRule(t, rules, gen.AlertExpires, c))
		}
	}
	return out
}

func certificate(t *testing.T, out gen.Output, role, name string) gen.Certificate {
	t.Helper()
	for _, c := range out.Certificates {
		if c.Role == role && c.Name == name {
			return c
		}
	}
	t.Fatalf("the phase uses no %s %s: %v", role, name, out.Certificates)
	return gen.Certificate{}
}

// thresholdTests are the rule tests of the cluster-ca example at
// trust-new: each alert is silent a minute before its threshold and fires
// a minute after it, with exactly its labels and annotations.
func thresholdTests(t *testing.T, out gen.Output, f ruleFile) map[string]unitTest {
	window, stuck := spec.DefaultExpiryWarning, spec.DefaultPhaseStuckAfter
	rules := f.rules()
	around := func(threshold time.Time, alertname string, firing func(time.Time) []rule) unitTest {
		start := threshold.Add(-time.Hour)
		return unitTest{start: start, evals: []eval{
			{at: 59 * time.Minute, alertname: alertname, firing: firing(threshold.Add(-time.Minute))},
			{at: 61 * time.Minute, alertname: alertname, firing: firing(threshold.Add(time.Minute))},
		}}
	}
	expiring := func(at time.Time) []rule { return expiringAt(t, rules, out.Certificates, at, window) }
	oldCA, leaf := certificate(t, out, "ca", "g1"), certificate(t, out, "leaf", "policy-webhook")
	var stuckRule []rule
	for _, r := range rules {
		if r.Alert == gen.AlertPhaseStuck {
			stuckRule = append(stuckRule, r)
		}
	}
	if len(stuckRule) != 1 {
		t.Fatalf("want one %s rule at trust-new, got %d", gen.AlertPhaseStuck, len(stuckRule))
	}
	return map[string]unitTest{
		"the old CA's alert fires 720h before it expires": around(oldCA.Cert.NotAfter.Add(-window), gen.AlertExpires, expiring),
		"a leaf's alert fires 720h before it expires":     around(leaf.Cert.NotAfter.Add(-window), gen.AlertExpires, expiring),
		"the phase-stuck alert fires 168h after the phase began": around(since.Add(stuck), gen.AlertPhaseStuck, func(at time.Time) []rule {
			if at.Sub(since) > stuck {
				return stuckRule
			}
			return nil
		}),
	}
}

// The rendered rules are tested with Prometheus's own rule engine
// (promtool test rules): the CA's, a leaf's and the phase-stuck alert
// each start firing at exactly their threshold.
func TestTheAlertsFireAtTheirThresholdsInPrometheus(t *testing.T) {
	out := renderWith(t, phases.TrustNew, testkit.Now, withAlerts)
	f := rulesOf(t, out, "monitoring", "cluster-ca-alerts")
	for _, name := range slices.Sorted(maps.Keys(thresholdTests(t, out, f))) {
		t.Run(name, func(t *testing.T) {
			if msg, err := runRuleTests(t, f, []unitTest{thresholdTests(t, out, f)[name]}); err != nil {
				t.Fatalf("promtool test rules: %v\n%s", err, msg)
			}
		})
	}
}

// The same rule tests fail when a rule's threshold is removed or changed:
// they test the thresholds, not only that rules exist.
func TestTheRuleTestsFailWhenAThresholdChanges(t *testing.T) {
	out := renderWith(t, phases.TrustNew, testkit.Now, withAlerts)
	f := rulesOf(t, out, "monitoring", "cluster-ca-alerts")
	tests := thresholdTests(t, out, f)
	window, stuck := fmt.Sprint(int64(spec.DefaultExpiryWarning/time.Second)), fmt.Sprint(int64(spec.DefaultPhaseStuckAfter/time.Second))
	for _, tc := range []struct {
		name, test, alert, certificate, from, to string
	}{
		{"the old CA's alert without its threshold", "the old CA's alert fires 720h before it expires", gen.AlertExpires, "g1", " < " + window, ""},
		{"the old CA's alert with a window a day shorter", "the old CA's alert fires 720h before it expires", gen.AlertExpires, "g1", " < " + window, " < 2505600"},
		{"a leaf's alert without its threshold", "a leaf's alert fires 720h before it expires", gen.AlertExpires, "policy-webhook", " < " + window, ""},
		{"a leaf's alert a minute late", "a leaf's alert fires 720h before it expires", gen.AlertExpires, "policy-webhook", " < " + window, " < 2591880"},
		{"the phase-stuck alert without its threshold", "the phase-stuck alert fires 168h after the phase began", gen.AlertPhaseStuck, "", " > " + stuck, ""},
		{"the phase-stuck alert an hour early", "the phase-stuck alert fires 168h after the phase began", gen.AlertPhaseStuck, "", " > " + stuck, " > 601200"},
	} {
		t.Run(tc.name+" fails", func(t *testing.T) {
			mutant := rulesOf(t, out, "monitoring", "cluster-ca-alerts")
			changed := 0
			for gi := range mutant.Groups {
				for ri, r := range mutant.Groups[gi].Rules {
					if r.Alert == tc.alert && r.Labels["certificate"] == tc.certificate && strings.Contains(r.Expr, tc.from) {
						mutant.Groups[gi].Rules[ri].Expr = strings.Replace(r.Expr, tc.from, tc.to, 1)
						changed++
					}
				}
			}
			if changed != 1 {
				t.Fatalf("changed %d rules, want 1", changed)
			}
			msg, err := runRuleTests(t, mutant, []unitTest{tests[tc.test]})
			if err == nil {
				t.Fatalf("promtool test rules passed with the threshold changed:\n%s", msg)
			}
			if !strings.Contains(msg, tc.alert) {
				t.Fatalf("promtool failed for another reason than %s:\n%s", tc.alert, msg)
			}
		})
	}
}

// Every phase's rules pass `promtool check rules` (Prometheus's parser and
// its lint), and say what they should: an expiry alert per certificate the
// phase uses, and a phase-stuck alert only while a rotation is in flight.
func TestEveryPhasesRulesPassPromtoolCheckRules(t *testing.T) {
	for _, tc := range []struct {
		phase phases.Phase
		certs []string // role/name of every certificate alerted on
		stuck bool
	}{
		{phases.Steady, []string{"ca/g1", "leaf/policy-webhook", "leaf/metrics-client"}, false},
		{phases.TrustNew, []string{"ca/g1", "ca/g2", "leaf/policy-webhook", "leaf/metrics-client"}, true},
		{phases.SignNew, []string{"ca/g1", "ca/g2", "leaf/policy-webhook", "leaf/metrics-client"}, true},
		{phases.DistrustOld, []string{"ca/g2", "leaf/policy-webhook", "leaf/metrics-client"}, true},
		{phases.Cleanup, []string{"ca/g2", "leaf/policy-webhook", "leaf/metrics-client"}, false},
	} {
		t.Run(string(tc.phase), func(t *testing.T) {
			f := rulesOf(t, renderWith(t, tc.phase, testkit.Now, withAlerts), "monitoring", "cluster-ca-alerts")
			var certs []string
			stuck := false
			for _, r := range f.rules() {
				switch r.Alert {
				case gen.AlertExpires:
					certs = append(certs, r.Labels["role"]+"/"+r.Labels["certificate"])
				case gen.AlertPhaseStuck:
					stuck = true
					if r.Labels["phase"] != string(tc.phase) {
						t.Errorf("the phase-stuck alert names phase %q, want %q", r.Labels["phase"], tc.phase)
					}
				}
			}
			if !slices.Equal(certs, tc.certs) || stuck != tc.stuck {
				t.Errorf("alerts on %v (phase-stuck: %v), want %v (%v)", certs, stuck, tc.certs, tc.stuck)
			}
			if msg, err := checkRules(t, f); err != nil {
				t.Fatalf("promtool check rules: %v\n%s", err, msg)
			}
		})
	}
}

// Without spec.phaseSince there is nothing to count a phase from: no
// phase-stuck rule, and a warning naming the field, rather than an alert
// that fires at once or never.
func TestAlertsWithoutThePhasesStartWarnInsteadOfGuessing(t *testing.T) {
	out := renderWith(t, phases.SignNew, testkit.Now, func(cfg *yaml.RNode) {
		withAlerts(cfg)
		s, _ := cfg.Pipe(yaml.Lookup("spec"))
		_ = s.PipeE(yaml.Clear("phaseSince"))
	})
	for _, r := range rulesOf(t, out, "monitoring", "cluster-ca-alerts").rules() {
		if r.Alert == gen.AlertPhaseStuck {
			t.Fatalf("a phase-stuck rule without spec.phaseSince: %s", r.Expr)
		}
	}
	for _, w := range warnings(out) {
		if strings.Contains(w, "spec.phaseSince") && strings.Contains(w, gen.AlertPhaseStuck) {
			return
		}
	}
	t.Fatalf("no warning about spec.phaseSince: %v", warnings(out))
}

// A PrometheusRule of the same name already in the input is refused, not
// rendered twice (kustomize would refuse the duplicate with no hint).
func TestAnInputRuleOfTheSameNameIsRefused(t *testing.T) {
	out := renderWith(t, phases.Steady, testkit.Now, withAlerts,
		"apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata: {name: cluster-ca-alerts, namespace: monitoring}\nspec: {groups: []}\n")
	if !out.Failed() || out.Items != nil {
		t.Fatalf("want an error and no items, got %v", out.Results)
	}
	if !strings.Contains(out.Results.Error(), "spec.alerts.name") {
		t.Fatalf("the error does not say how to fix it: %v", out.Results)
	}
}

// cmAlertsRotation is a cert-manager rotation at trust-new with both CA
// generations pulled into git, and alerts.
func cmAlertsRotation(t *testing.T) gen.Output {
	t.Helper()
	cfg := yaml.MustParse(`apiVersion: carousel.dev/v1alpha1
kind: CARotation
metadata: {name: mesh}
spec:
  phase: trust-new
  phaseSince: "` + since.Format(time.RFC3339) + `"
  backend: cert-manager
  certManager: {generations: {old: 1, new: 2}}
  ca: {commonName: mesh root}
  leaves:
  - {name: issuer, commonName: issuer.mesh, secret: {name: mesh-issuer, namespace: mesh}}
  alerts: {namespace: monitoring, alertLabels: {severity: critical}}
`)
	rot, err := spec.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var items []*yaml.RNode
	for g := 1; g <= 2; g++ {
		ca, err := pki.NewCA(pki.CARequest{CommonName: "mesh root", Validity: time.Hour, Algorithm: "ecdsa-p256"})
		if err != nil {
			t.Fatal(err)
		}
		certs, err := pki.ParseCerts(ca.CertPEM)
		if err != nil {
			t.Fatal(err)
		}
		n, err := cmbackend.New("mesh", g, certs[0])
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, n)
	}
	return gen.Render(gen.Input{Rotation: rot, Config: cfg, Items: items, Now: time.Now()})
}

// With backend cert-manager git does not hold the leaves, and cert-manager
// renews what it issues, so the rules read cert-manager's own expiry
// metric for every Certificate of the phase: an issued certificate fires
// within the window and not before; one not issued yet (cert-manager
// reports 0) is no expiry; and a Certificate whose metric Prometheus lacks
// for an hour fires the expiry-unknown alert instead of nothing.
func TestCertManagerCertificatesAlertOnCertManagersOwnMetric(t *testing.T) {
	out := cmAlertsRotation(t)
	f := rulesOf(t, out, "monitoring", "mesh-alerts")
	rules := f.rules()
	if msg, err := checkRules(t, f); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, msg)
	}
	leaf := expiryRule(t, rules, gen.AlertExpires, certificate(t, out, "leaf", "issuer"))
	leafUnknown := expiryRule(t, rules, gen.AlertExpiryUnknown, certificate(t, out, "leaf", "issuer"))
	g1Unknown := expiryRule(t, rules, gen.AlertExpiryUnknown, certificate(t, out, "ca", "g1"))
	g2Unknown := expiryRule(t, rules, gen.AlertExpiryUnknown, certificate(t, out, "ca", "g2"))
	if leaf.Labels["severity"] != "critical" {
		t.Errorf("spec.alerts.alertLabels.severity is not the alerts' severity: %v", leaf.Labels)
	}
	const metric = gen.CertManagerExpiryMetric
	issuerLabels := map[string]string{"namespace": "mesh", "name": "mesh-issuer", "issuer_name": "mesh-ca-g1", "issuer_kind": "ClusterIssuer", "issuer_group": "cert-manager.io"}
	series := func(name, ns string, value int64) promSeries {
		l := fmt.Sprintf(`%s{issuer_group="cert-manager.io",issuer_kind="ClusterIssuer",issuer_name="mesh-ca-g1",name=%q,namespace=%q}`, metric, name, ns)
		return promSeries{Series: l, Values: fmt.Sprintf("%dx180", value)}
	}
	// The leaf expires 100 days after the epoch: its alert's threshold is
	// 70 days (720h) after it.
	notAfter := time.Unix(100*86400, 0).UTC()
	threshold := notAfter.Add(-spec.DefaultExpiryWarning)
	issued := []promSeries{series("mesh-issuer", "mesh", notAfter.Unix()), series("mesh-ca-g1", "cert-manager", 4102444800), series("mesh-ca-g2", "cert-manager", 4102444800)}
	tests := []unitTest{
		{start: threshold.Add(-time.Hour), series: issued, evals: []eval{
			{at: 59 * time.Minute, alertname: gen.AlertExpires},
			{at: 61 * time.Minute, alertname: gen.AlertExpires, firing: []rule{leaf}, seriesLabels: issuerLabels},
			{at: 61 * time.Minute, alertname: gen.AlertExpiryUnknown},
		}},
		// Not issued yet: cert-manager reports 0, which is no expiry.
		{start: threshold.Add(-time.Hour), series: []promSeries{series("mesh-issuer", "mesh", 0)}, evals: []eval{
			{at: 61 * time.Minute, alertname: gen.AlertExpires},
			{at: 59 * time.Minute, alertname: gen.AlertExpiryUnknown},
			{at: 61 * time.Minute, alertname: gen.AlertExpiryUnknown, firing: []rule{g1Unknown, g2Unknown, leafUnknown}},
		}},
	}
	if msg, err := runRuleTests(t, f, tests); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, msg)
	}
	// And the same tests fail with the leaf's window removed.
	for gi := range f.Groups {
		for ri, r := range f.Groups[gi].Rules {
			if r.Alert == gen.AlertExpires && r.Labels["certificate"] == "issuer" {
				f.Groups[gi].Rules[ri].Expr = strings.Replace(r.Expr, " < ", " > -", 1)
			}
		}
	}
	if msg, err := runRuleTests(t, f, tests); err == nil {
		t.Fatalf("promtool test rules passed with the leaf's threshold changed:\n%s", msg)
	}
}

// checkRules runs `promtool check rules` on the rule file.
func checkRules(t *testing.T, f ruleFile) (string, error) {
	t.Helper()
	dir := t.TempDir()
	b, _ := sigsyaml.Marshal(f)
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return promtool(t, dir, "check", "rules", "--lint=all", "--lint-fatal", "rules.yaml")
}

// A leaf re-issue whose old leaf is gone from the material (a `carousel
// start` promoting the re-issued leaves, interrupted half-way) renders
// reissue, alerts or not: the steady baseline lacks the leaf, and the
// certificates the alerts name are read only for the phase itself. (It
// once panicked there for every rotation, since the certificates were
// listed before asking whether alerts were wanted.)
func TestAReissueWithoutItsOldLeafRendersWithAndWithoutAlerts(t *testing.T) {
	pkg := testkit.Load(t, filepath.Join(testkit.Root(t), "examples", "neuvector"))
	for _, alerts := range []bool{false, true} {
		t.Run(fmt.Sprintf("alerts %v", alerts), func(t *testing.T) {
			cfg := pkg.WithPhase(t, phases.Reissue)
			if alerts {
				withAlerts(cfg)
			}
			rot, err := spec.Load(cfg)
			if err != nil {
				t.Fatal(err)
			}
			var items []*yaml.RNode
			for _, n := range pkg.CopyItems() {
				if n.GetName() != "neuvector-leaf-internal-old" {
					items = append(items, n)
				}
			}
			out := gen.Render(gen.Input{Rotation: rot, Config: cfg, Items: items, Now: testkit.Now})
			if out.Failed() {
				t.Fatalf("reissue does not render: %v", out.Results)
			}
			if got := testkit.Find(out.Items, "PrometheusRule", "monitoring", "neuvector-alerts") != nil; got != alerts {
				t.Fatalf("a PrometheusRule rendered: %v, want %v", got, alerts)
			}
		})
	}
}
