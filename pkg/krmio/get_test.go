package krmio

import (
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// TestGetFindsWhatKyamlsLookupFinds: for plain field paths, Get and
// yaml.Lookup agree on every path of a workload, present or not, through
// scalars, sequences, nulls and aliases.
func TestGetFindsWhatKyamlsLookupFinds(t *testing.T) {
	n := yaml.MustParse(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: &l {app: web}
  annotations: null
spec:
  selector: {matchLabels: *l}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: c
        env: [{name: A, valueFrom: {secretKeyRef: {name: s, key: k}}}]
      volumes: []
`)
	for _, path := range [][]string{
		{"metadata", "name"},
		{"metadata", "labels"},
		{"metadata", "labels", "app"},
		{"metadata", "annotations"},
		{"metadata", "annotations", "x"},
		{"spec", "selector", "matchLabels", "app"},
		{"spec", "template", "spec", "containers"},
		{"spec", "template", "spec", "volumes"},
		{"spec", "template", "spec", "containers", "name"},
		{"spec", "template", "metadata", "annotations"},
		{"kind", "x"},
		{"nope"},
		{},
	} {
		want, err := n.Pipe(yaml.Lookup(path...))
		if err != nil {
			continue // kyaml does not walk through an alias; Get does
		}
		got := Get(n, path...)
		if (got == nil) != (want == nil) {
			t.Errorf("%v: Get %v, Lookup %v", path, got != nil, want != nil)
			continue
		}
		if got != nil && got.MustString() != want.MustString() {
			t.Errorf("%v: Get %q, Lookup %q", path, got.MustString(), want.MustString())
		}
	}
	if Value(n, "metadata", "name") != "web" || Value(n, "metadata", "labels") != "" || Value(n, "nope") != "" {
		t.Error("Value reads scalars only")
	}
}
