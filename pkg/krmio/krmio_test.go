package krmio

import (
	"bytes"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/kio"
)

const input = `apiVersion: config.kubernetes.io/v1
kind: ResourceList
items:
# a comment before the first item
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: a # trailing comment
    namespace: x
    annotations:
      config.kubernetes.io/index: '0'
  data:
    pem: |
      -----BEGIN CERTIFICATE-----
      MIIB
      -----END CERTIFICATE-----
    quoted: "yes"
    long: ` + "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbbbbbbbbbbbbb" + `
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: b, annotations: {}}
  spec:
    template:
      spec:
        containers:
        - name: c
          args: [--x, --y]
          env:
          - {name: A, value: "1"}
functionConfig:
  apiVersion: example.dev/v1
  kind: Config
  spec: {a: [1, 2]}
`

func execute(t *testing.T, p framework.ResourceListProcessor, in string) (viaFramework, streamed string, ferr, serr error) {
	t.Helper()
	var fw, st bytes.Buffer
	ferr = framework.Execute(p, &kio.ByteReadWriter{Reader: strings.NewReader(in), Writer: &fw, KeepReaderAnnotations: true})
	serr = Execute(p, strings.NewReader(in), &st)
	return fw.String(), st.String(), ferr, serr
}

func TestStreamingWritesWhatTheFrameworkWrites(t *testing.T) {
	tests := []struct {
		name string
		p    framework.ResourceListProcessor
	}{
		{"an identity function", framework.ResourceListProcessorFunc(func(*framework.ResourceList) error { return nil })},
		{"a function that drops every item", framework.ResourceListProcessorFunc(func(rl *framework.ResourceList) error { rl.Items = nil; return nil })},
		{"a function that fails with results", framework.ResourceListProcessorFunc(func(rl *framework.ResourceList) error {
			rl.Results = framework.Results{{Message: "bad", Severity: framework.Error, Field: &framework.Field{Path: "spec.a"}}}
			rl.Items = nil
			return rl.Results
		})},
		{"a function that warns", framework.ResourceListProcessorFunc(func(rl *framework.ResourceList) error {
			rl.Results = framework.Results{{Message: "careful", Severity: framework.Warning}}
			return nil
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, got, ferr, serr := execute(t, tt.p, input)
			if (ferr == nil) != (serr == nil) {
				t.Fatalf("errors differ: framework %v, streamed %v", ferr, serr)
			}
			if got != want {
				t.Fatalf("output differs\n--- framework\n%s\n--- streamed\n%s", want, got)
			}
		})
	}
}
