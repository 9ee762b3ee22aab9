package status

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/apiserver"
	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/spec"
)

var update = flag.Bool("update", false, "rewrite testdata/metrics from the actual output")

// checkExposition parses metrics with Prometheus's own parsers (parse).
func checkExposition(t *testing.T, metrics []byte) {
	t.Helper()
	if err := parse(t, metrics); err != nil {
		t.Fatalf("%v\n%s", err, metrics)
	}
}

// parse runs Prometheus's parsers over metrics: the text format's, with
// its lint (`promtool check metrics`: what node-exporter's textfile
// collector and the Pushgateway parse), and the OpenMetrics parser
// (`promtool tsdb create-blocks-from openmetrics`, which wants a timestamp
// on every sample, so each gets one).
func parse(t *testing.T, metrics []byte) error {
	t.Helper()
	promtool := testkit.Tool(t, "promtool")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(metrics)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	dir := t.TempDir()
	var stamped []string
	for _, line := range strings.SplitAfter(string(metrics), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			line = strings.TrimSuffix(line, "\n") + " 1798761600\n"
		}
		stamped = append(stamped, line)
	}
	if err := os.WriteFile(filepath.Join(dir, "metrics.om"), []byte(strings.Join(stamped, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(promtool, "tsdb", "create-blocks-from", "openmetrics", "metrics.om", "blocks")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("the OpenMetrics parser refuses it: %v\n%s", err, out)
	}
	return nil
}

// The parsers the metrics are checked with do refuse what is not valid:
// otherwise passing them would prove nothing.
func TestThePrometheusParsersRefuseABrokenExposition(t *testing.T) {
	good := "# HELP carousel_x A gauge.\n# TYPE carousel_x gauge\ncarousel_x{a=\"1\"} 1\n# EOF\n"
	if err := parse(t, []byte(good)); err != nil {
		t.Fatalf("a valid exposition is refused: %v", err)
	}
	for _, tc := range []struct{ name, text string }{
		{"one series twice", strings.Replace(good, "# EOF", "carousel_x{a=\"1\"} 2\n# EOF", 1)},
		{"no # EOF", strings.Replace(good, "# EOF\n", "", 1)},
		{"an unescaped quote in a label value", strings.Replace(good, `a="1"`, `a="1"2"`, 1)},
		{"a counter without _total (the lint)", strings.Replace(good, "carousel_x gauge", "carousel_x counter", 1)},
		{"a gauge without help (the lint)", strings.Replace(good, "# HELP carousel_x A gauge.\n", "", 1)},
	} {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			if err := parse(t, []byte(tc.text)); err == nil {
				t.Fatalf("accepted:\n%s", tc.text)
			}
		})
	}
}

func metricsOf(t *testing.T, r *Report) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := r.Metrics(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestTheMetricsSayWhatTheLiveGateSaw runs status against a real API
// server with examples/kpt at trust-new, applied in part: the leaf Secret
// and the bundle hold the phase's certificates; Deployment web still has
// steady's template; Deployment api has the phase's, with one pod of an
// older template and one terminating (held by a finalizer, as a pod in its
// grace period is). The metrics say each of these, name every
// certificate's expiry, and parse with Prometheus's parsers;
// testdata/metrics/kpt-trust-new.prom pins the bytes (-update rewrites it).
func TestTheMetricsSayWhatTheLiveGateSaw(t *testing.T) {
	s := apiserver.Start(t)
	cfg, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pkg := testkit.Load(t, filepath.Join(testkit.Root(t), "examples", "kpt"))
	config := pkg.WithPhase(t, phases.TrustNew)
	if err := config.PipeE(yaml.Lookup("spec"), yaml.SetField("phaseSince", yaml.NewStringRNode("2027-01-01T00:00:00Z"))); err != nil {
		t.Fatal(err)
	}
	rot, err := spec.Load(config)
	if err != nil {
		t.Fatal(err)
	}
	out := gen.Render(gen.Input{Rotation: rot, Config: config, Items: pkg.CopyItems(), Now: testkit.Now})
	steady := pkg.Render(t, phases.Steady)
	if out.Failed() {
		t.Fatalf("render failed: %v", out.Results)
	}
	apply := func(n *yaml.RNode) {
		t.Helper()
		s.KubectlIn(t, []byte(n.MustString()), "apply", "--server-side", "--force-conflicts", "-f", "-")
	}
	apply(testkit.Find(out.Items, "Namespace", "", "app"))
	apply(testkit.Decrypt(t, testkit.Find(out.Items, "Secret", "app", "api-tls")))
	apply(testkit.Find(out.Items, "ConfigMap", "app", "app-trust"))
	apply(testkit.Find(out.Items, "Deployment", "app", "api"))
	apply(testkit.Find(steady.Items, "Deployment", "app", "web"))
	var hash string
	for _, w := range out.Restarts {
		if w.Name == "api" {
			hash = w.Hash
		}
	}
	key := gen.RestartAnnotation(rot.Metadata.Name)
	pod := func(name, hash, finalizer string) *yaml.RNode {
		return yaml.MustParse(`apiVersion: v1
kind: Pod
metadata:
  name: ` + name + `
  namespace: app
  labels: {app: api}
  annotations: {"` + key + `": "` + hash + `"}
  finalizers: [` + finalizer + `]
spec: {containers: [{name: api, image: registry.example.dev/api:1.0.0}]}
`)
	}
	// No controller-manager here makes the namespace's default ServiceAccount.
	apply(yaml.MustParse("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: default, namespace: app}\n"))
	apply(pod("api-old", "0000000000000000", ""))
	apply(pod("api-leaving", hash, "carousel.dev/test-hold"))
	s.Kubectl(t, "delete", "pod", "-n", "app", "api-leaving", "--wait=false")
	t.Cleanup(func() {
		s.Kubectl(t, "patch", "pod", "-n", "app", "api-leaving", "--type=merge", "-p", `{"metadata":{"finalizers":null}}`)
	})

	r, err := Evaluate(context.Background(), client, rot, out, testkit.Now)
	if err != nil {
		t.Fatal(err)
	}
	got := metricsOf(t, r)
	checkExposition(t, got)
	for _, want := range []string{
		`carousel_rotation_phase{phase="trust-new",rotation="app-tls"} 1`,
		`carousel_rotation_phase{phase="steady",rotation="app-tls"} 0`,
		`carousel_rotation_phase_since_timestamp_seconds{rotation="app-tls"} 1798761600`,
		`carousel_rotation_verdict{rotation="app-tls",verdict="progressing"} 1`,
		`carousel_object_converged{kind="Secret",name="api-tls",namespace="app",rotation="app-tls"} 1`,
		`carousel_object_converged{kind="ConfigMap",name="app-trust",namespace="app",rotation="app-tls"} 1`,
		`carousel_workload_converged{kind="Deployment",name="web",namespace="app",rotation="app-tls"} 0`,
		`carousel_workload_stale_pods{kind="Deployment",name="api",namespace="app",rotation="app-tls"} 1`,
		`carousel_workload_terminating_pods{kind="Deployment",name="api",namespace="app",rotation="app-tls"} 1`,
	} {
		if !bytes.Contains(got, []byte(want+"\n")) {
			t.Errorf("the metrics lack %s", want)
		}
	}
	// Every certificate the phase uses, with its NotAfter.
	for _, c := range out.Certificates {
		line := regexp.MustCompile(`carousel_certificate_not_after_timestamp_seconds\{certificate="` + c.Name + `",generation="` + string(c.Generation) + `",role="` + c.Role + `",rotation="app-tls",sha256="[0-9a-f]{64}"\} ` + strconvUnix(c.Cert.NotAfter) + "\n")
		if !line.Match(got) {
			t.Errorf("no expiry of %s %s (%s)", c.Role, c.Name, c.Generation)
		}
	}
	if len(out.Certificates) != 3 {
		t.Errorf("trust-new uses 3 certificates (2 CAs, the leaf), got %d", len(out.Certificates))
	}
	golden := filepath.Join("testdata", "metrics", "kpt-trust-new.prom")
	if *update {
		if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test -run %s -update writes it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the metrics differ from %s:\n%s", golden, testkit.Diff(golden, "got", want, got))
	}
}

func strconvUnix(t time.Time) string { return regexp.QuoteMeta(formatValue(float64(t.Unix()))) }

// The exposition itself, on reports made by hand: each case's metrics
// hold the lines it names and pass Prometheus's parsers.
func TestTheMetricsAreOneValidSeriesPerThing(t *testing.T) {
	for _, tc := range []struct {
		name   string
		report Report
		want   []string
		absent []string
	}{
		{"a rotation at a step is at its phase, every phase of its scope listed",
			Report{Rotation: "cluster-ca", Phase: "trust-new/in-cluster-config", Scope: phases.ScopeCA, Verdict: Converged},
			[]string{`carousel_rotation_phase{phase="trust-new",rotation="cluster-ca"} 1`, `carousel_rotation_phase{phase="cleanup",rotation="cluster-ca"} 0`, `carousel_rotation_verdict{rotation="cluster-ca",verdict="converged"} 1`, `carousel_rotation_verdict{rotation="cluster-ca",verdict="blocked"} 0`},
			[]string{`phase="trust-new/in-cluster-config"`, `phase="reissue"`}},
		{"a leaf re-issue lists the leaf scope's phases",
			Report{Rotation: "rke", Phase: "reissue", Scope: phases.ScopeLeaf, Verdict: Blocked},
			[]string{`carousel_rotation_phase{phase="reissue",rotation="rke"} 1`, `carousel_rotation_phase{phase="steady",rotation="rke"} 0`, `carousel_rotation_verdict{rotation="rke",verdict="blocked"} 1`},
			[]string{`phase="trust-new"`}},
		{"without spec.phaseSince there is no phase start, rather than 1970",
			Report{Rotation: "r", Phase: "steady", Scope: phases.ScopeCA},
			[]string{"# TYPE carousel_rotation_phase_since_timestamp_seconds gauge\n"},
			[]string{"carousel_rotation_phase_since_timestamp_seconds{"}},
		{"an endpoint probed twice is one series, converged only when both are",
			Report{Rotation: "r", Phase: "steady", Scope: phases.ScopeCA, Objects: []ObjectStatus{
				{Kind: "Probe", Name: "api:443", State: Converged}, {Kind: "Probe", Name: "api:443", State: Progressing}}},
			[]string{`carousel_object_converged{kind="Probe",name="api:443",namespace="",rotation="r"} 0`}, nil},
		{"a cluster-scoped object has an empty namespace",
			Report{Rotation: "r", Phase: "steady", Scope: phases.ScopeCA, Objects: []ObjectStatus{
				{Kind: "ValidatingWebhookConfiguration", Name: "policy", State: Blocked}}},
			[]string{`carousel_object_converged{kind="ValidatingWebhookConfiguration",name="policy",namespace="",rotation="r"} 0`}, nil},
		{"a converged workload has no stale or terminating pods, said as 0",
			Report{Rotation: "r", Phase: "steady", Scope: phases.ScopeCA, Workloads: []WorkloadStatus{
				{Kind: "StatefulSet", Namespace: "db", Name: "pg", State: Converged}}},
			[]string{`carousel_workload_converged{kind="StatefulSet",name="pg",namespace="db",rotation="r"} 1`, `carousel_workload_stale_pods{kind="StatefulSet",name="pg",namespace="db",rotation="r"} 0`, `carousel_workload_terminating_pods{kind="StatefulSet",name="pg",namespace="db",rotation="r"} 0`}, nil},
		{"a certificate git does not hold (backend cert-manager's leaves) has no expiry series",
			Report{Rotation: "r", Phase: "steady", Scope: phases.ScopeCA, Certificates: []gen.Certificate{{Role: "leaf", Name: "issuer", Generation: phases.Old, Namespace: "mesh", Certificate: "issuer"}}},
			nil, []string{"carousel_certificate_not_after_timestamp_seconds{"}},
		{"label values are escaped",
			Report{Rotation: "r", Phase: "steady", Scope: phases.ScopeCA, Objects: []ObjectStatus{
				{Kind: "Probe", Name: `a"b\c`, State: Converged}}},
			[]string{`carousel_object_converged{kind="Probe",name="a\"b\\c",namespace="",rotation="r"} 1`}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := metricsOf(t, &tc.report)
			checkExposition(t, got)
			for _, w := range tc.want {
				if !bytes.Contains(got, []byte(w)) {
					t.Errorf("lacks %s", w)
				}
			}
			for _, a := range tc.absent {
				if bytes.Contains(got, []byte(a)) {
					t.Errorf("holds %s", a)
				}
			}
			if !bytes.HasSuffix(got, []byte("\n# EOF\n")) {
				t.Errorf("does not end with # EOF")
			}
			if again := metricsOf(t, &tc.report); !bytes.Equal(again, got) {
				t.Errorf("the same report wrote different bytes")
			}
		})
	}
}
