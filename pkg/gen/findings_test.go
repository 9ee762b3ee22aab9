package gen_test

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
)

func TestFindingsAreWarnings(t *testing.T) {
	tests := []struct {
		name  string
		now   time.Time
		extra []string
		want  string
	}{
		{
			name: "a leaf expiring within the window is a warning",
			now:  time.Date(2036, 11, 1, 0, 0, 0, 0, time.UTC),
			want: `leaf "policy-webhook" expires`,
		},
		{
			name: "a bare Pod consuming a bundle cannot be rolled",
			now:  testkit.Now,
			extra: []string{`apiVersion: v1
kind: Pod
metadata: {name: debug, namespace: shop}
spec:
  containers:
  - name: c
    image: busybox
    volumeMounts: [{name: ca, mountPath: /ca}]
  volumes:
  - name: ca
    configMap: {name: cluster-ca-bundle}
`},
			want: "Pod shop/debug consumes material",
		},
		{
			name: "a caBundle holding this rotation's CA but not managed is a warning",
			now:  testkit.Now,
			want: "is not managed by it",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			extra := tt.extra
			if strings.Contains(tt.name, "not managed") {
				pkg := example(t)
				var old string
				for _, n := range pkg.Items {
					if n.GetName() == "cluster-ca-ca-old" {
						c, _ := n.Pipe(yaml.Lookup("certificate"))
						old = base64.StdEncoding.EncodeToString([]byte(yaml.GetValue(c)))
					}
				}
				extra = []string{"apiVersion: admissionregistration.k8s.io/v1\nkind: MutatingWebhookConfiguration\nmetadata: {name: forgotten}\nwebhooks:\n- name: f.example.dev\n  clientConfig:\n    caBundle: " + old + "\n    service: {name: f, namespace: shop}\n"}
			}
			out := render(t, phases.Steady, tt.now, extra...)
			if out.Failed() {
				t.Fatalf("a finding must not fail the render: %v", out.Results)
			}
			for _, w := range warnings(out) {
				if strings.Contains(w, tt.want) {
					return
				}
			}
			t.Fatalf("no warning containing %q in %v", tt.want, warnings(out))
		})
	}
}

func TestNoWarningsForAHealthyPackage(t *testing.T) {
	out := render(t, phases.Steady, testkit.Now)
	if w := warnings(out); len(w) > 0 {
		t.Fatalf("unexpected warnings: %v", w)
	}
}
