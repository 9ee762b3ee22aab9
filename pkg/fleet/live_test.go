package fleet

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/carousel-dev/carousel/pkg/spec"
)

func TestAnObjectIsNamedByTheApplicationThatAppliedIt(t *testing.T) {
	tests := []struct {
		name        string
		labels, ann map[string]string
		want        string
	}{
		{"Argo CD's tracking id names the Application", nil, map[string]string{ArgoTrackingID: "payments:apps/Deployment:payments/api"}, "payments"},
		{"an Application outside Argo CD's namespace is namespace/name", nil, map[string]string{ArgoTrackingID: "team-a_payments:apps/Deployment:payments/api"}, "team-a/payments"},
		{"label tracking names it by the instance label", map[string]string{AppInstance: "orders"}, nil, "orders"},
		{"the tracking id wins over a chart's own instance label", map[string]string{AppInstance: "redis"}, map[string]string{ArgoTrackingID: "orders:apps/StatefulSet:orders/redis"}, "orders"},
		{"Flux's labels name the Kustomization as namespace/name", map[string]string{FluxName: "ledger", FluxNamespace: "flux-system", AppInstance: "journal"}, nil, "flux-system/ledger"},
		{"an object no controller marked has no application", nil, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := &unstructured.Unstructured{Object: map[string]any{}}
			u.SetLabels(tc.labels)
			u.SetAnnotations(tc.ann)
			if got := AppOf(u); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLaggingNamesEveryApplicationNotAtThePhase(t *testing.T) {
	rot := &spec.CARotation{Metadata: spec.Metadata{Name: "mesh-ca"}, Spec: spec.Spec{Phase: "trust-new", Consumers: []string{"payments", "orders", "flux-system/ledger"}}}
	tests := []struct {
		name      string
		consumers []Consumer
		want      []string // the lagging applications, in order
	}{
		{"every listed application at the phase lags nothing", []Consumer{
			{App: "payments", Phases: map[string][]string{"trust-new": {"Deployment payments/api"}}},
			{App: "orders", Phases: map[string][]string{"trust-new": {"Deployment orders/checkout"}}},
			{App: "flux-system/ledger", Phases: map[string][]string{"trust-new": {"StatefulSet ledger/journal"}}},
		}, nil},
		{"an application one phase behind lags", []Consumer{
			{App: "payments", Phases: map[string][]string{"steady": {"Deployment payments/api"}}},
			{App: "orders", Phases: map[string][]string{"trust-new": {"Deployment orders/checkout"}}},
			{App: "flux-system/ledger", Phases: map[string][]string{"trust-new": {"StatefulSet ledger/journal"}}},
		}, []string{"payments"}},
		{"an application half synced lags", []Consumer{
			{App: "payments", Phases: map[string][]string{"trust-new": {"Deployment payments/api"}, "steady": {"CronJob payments/settlement"}}},
			{App: "orders", Phases: map[string][]string{"trust-new": {"Deployment orders/checkout"}}},
			{App: "flux-system/ledger", Phases: map[string][]string{"trust-new": {"StatefulSet ledger/journal"}}},
		}, []string{"payments"}},
		{"a listed application with no object lags", []Consumer{
			{App: "payments", Phases: map[string][]string{"trust-new": {"Deployment payments/api"}}},
			{App: "orders", Phases: map[string][]string{"trust-new": {"Deployment orders/checkout"}}},
		}, []string{"flux-system/ledger"}},
		{"an unlisted application behind lags too", []Consumer{
			{App: "payments", Phases: map[string][]string{"trust-new": {"Deployment payments/api"}}},
			{App: "orders", Phases: map[string][]string{"trust-new": {"Deployment orders/checkout"}}},
			{App: "flux-system/ledger", Phases: map[string][]string{"trust-new": {"StatefulSet ledger/journal"}}},
			{App: "search", Phases: map[string][]string{"steady": {"Deployment search/indexer"}}},
		}, []string{"search"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, l := range Lagging(rot, tc.consumers) {
				got = append(got, l.App)
				if !strings.Contains(l.Reason, l.App) {
					t.Errorf("the reason does not name %s: %s", l.App, l.Reason)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("lagging %v, want %v", got, tc.want)
			}
		})
	}
}
