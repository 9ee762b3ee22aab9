package cmbackend

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestDataWritten(t *testing.T) {
	at := func(s string) *metav1.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		mt := metav1.NewTime(tm)
		return &mt
	}
	entry := func(manager, when, fields string) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: manager, Operation: metav1.ManagedFieldsOperationApply, Time: at(when),
			FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(fields)}}
	}
	cases := []struct {
		name   string
		fields []metav1.ManagedFieldsEntry
		want   string // RFC 3339, "" for not found
	}{
		{"the time of the only manager owning the key is the write", []metav1.ManagedFieldsEntry{
			entry("cert-manager-certificates-issuing", "2026-11-24T02:00:00Z", `{"f:data":{".":{},"f:tls.crt":{},"f:tls.key":{}}}`),
		}, "2026-11-24T02:00:00Z"},
		{"a manager owning other fields only does not count, however late", []metav1.ManagedFieldsEntry{
			entry("cert-manager-certificates-issuing", "2026-11-24T02:00:00Z", `{"f:data":{"f:tls.crt":{}}}`),
			entry("kubectl-label", "2026-11-24T03:00:00Z", `{"f:metadata":{"f:labels":{"f:team":{}}}}`),
			entry("other", "2026-11-24T04:00:00Z", `{"f:data":{"f:ca.crt":{}}}`),
		}, "2026-11-24T02:00:00Z"},
		{"of two managers owning the key the later write counts", []metav1.ManagedFieldsEntry{
			entry("a", "2026-11-24T02:00:00Z", `{"f:data":{"f:tls.crt":{}}}`),
			entry("b", "2026-11-24T02:30:00Z", `{"f:data":{"f:tls.crt":{}}}`),
		}, "2026-11-24T02:30:00Z"},
		{"no manager owning the key is not a write", []metav1.ManagedFieldsEntry{
			entry("a", "2026-11-24T02:00:00Z", `{"f:metadata":{}}`),
		}, ""},
		{"no managed fields at all is not a write", nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Secret"}}
			u.SetManagedFields(c.fields)
			got, ok := DataWritten(u, "tls.crt")
			switch {
			case c.want == "" && ok:
				t.Fatalf("found a write at %s, want none", got)
			case c.want != "" && (!ok || !got.Equal(at(c.want).Time)):
				t.Fatalf("got %s (found %v), want %s", got, ok, c.want)
			}
		})
	}
}
