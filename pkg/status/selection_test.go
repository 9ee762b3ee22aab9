package status

import (
	"context"
	"os"
	"path/filepath"
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

func TestMain(m *testing.M) {
	code := m.Run()
	apiserver.Stop()
	os.Exit(code)
}

// TestALiveNamespaceLabelDecidesWhatStatusReports runs status against a
// real API server with Istio's restart rules (docs/spec.md): the package
// holds Namespace "shop" labelled istio-injection=enabled and a Deployment
// in it, and a Deployment in "back-office", whose Namespace it does not
// hold. Labelling the live Namespaces is what changes the report.
func TestALiveNamespaceLabelDecidesWhatStatusReports(t *testing.T) {
	s := apiserver.Start(t)
	cfg, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pkg := testkit.Load(t, filepath.Join(testkit.Root(t), "examples", "cluster-ca"))
	config := pkg.WithPhase(t, phases.TrustNew)
	restarts, _ := config.Pipe(yaml.Lookup("spec", "restarts"))
	b, err := os.ReadFile(filepath.Join("..", "consumers", "testdata", "istio.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	els, _ := yaml.MustParse(string(b)).Elements()
	for _, e := range els {
		restarts.YNode().Content = append(restarts.YNode().Content, e.YNode())
	}
	rot, err := spec.Load(config)
	if err != nil {
		t.Fatal(err)
	}
	deployment := func(ns, name string) *yaml.RNode {
		return yaml.MustParse(`apiVersion: apps/v1
kind: Deployment
metadata: {name: ` + name + `, namespace: ` + ns + `}
spec:
  selector: {matchLabels: {app: ` + name + `}}
  template:
    metadata: {labels: {app: ` + name + `}}
    spec: {containers: [{name: app, image: app}]}
`)
	}
	items := append(pkg.CopyItems(),
		yaml.MustParse("apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {istio-injection: enabled}}\n"),
		deployment("shop", "cart"), deployment("back-office", "ledger"))
	out := gen.Render(gen.Input{Rotation: rot, Config: config, Items: items, Now: testkit.Now})
	if out.Failed() {
		t.Fatalf("render failed: %v", out.Results)
	}

	s.Kubectl(t, "create", "namespace", "shop")
	s.Kubectl(t, "create", "namespace", "back-office")
	s.Kubectl(t, "label", "namespace", "shop", "istio-injection=enabled")
	report := func() map[string]WorkloadStatus {
		t.Helper()
		r, err := Evaluate(context.Background(), client, rot, out, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]WorkloadStatus{}
		for _, w := range r.Workloads {
			m[w.Namespace+"/"+w.Name] = w
		}
		return m
	}
	steps := []struct {
		name         string
		label        []string // kubectl label args applied before the check
		cart, ledger Verdict  // "" : not reported
		cartDetail   string
		ledgerDetail string
	}{
		{"the live Namespaces agree with the package: cart is checked as the phase rolls it, ledger is not reported", nil,
			Progressing, "", "not in the cluster yet", ""},
		{"labelling back-office for injection live makes ledger blocked: the package cannot see that Namespace",
			[]string{"namespace", "back-office", "istio-injection=enabled"},
			Progressing, Blocked, "not in the cluster yet", "add the Namespace to the package"},
		{"unlabelling shop live makes cart disagree with the package's Namespace",
			[]string{"namespace", "shop", "istio-injection-"},
			Progressing, Blocked, "with the live Namespace shop its restart rules select nothing", "add the Namespace to the package"},
		{"disabling back-office live settles ledger again",
			[]string{"namespace", "back-office", "istio-injection=disabled", "--overwrite"},
			Progressing, "", "with the live Namespace shop", ""},
	}
	for _, st := range steps {
		if st.label != nil {
			s.Kubectl(t, append([]string{"label"}, st.label...)...)
		}
		got := report()
		cart, ok := got["shop/cart"]
		if !ok || cart.State != st.cart || !strings.Contains(cart.Detail, st.cartDetail) {
			t.Errorf("%s: shop/cart = %+v, want %s with %q", st.name, cart, st.cart, st.cartDetail)
		}
		ledger, ok := got["back-office/ledger"]
		if st.ledger == "" {
			if ok {
				t.Errorf("%s: back-office/ledger is reported: %+v", st.name, ledger)
			}
		} else if !ok || ledger.State != st.ledger || !strings.Contains(ledger.Detail, st.ledgerDetail) {
			t.Errorf("%s: back-office/ledger = %+v, want %s with %q", st.name, ledger, st.ledger, st.ledgerDetail)
		}
	}
}
