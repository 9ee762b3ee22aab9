package krmio

import (
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

func TestResourcesOfTheWrongShapeAreNamedByField(t *testing.T) {
	tests := []struct {
		name, doc, field string // field "-": the resource is fine
	}{
		{"a resource with metadata, labels and annotations of strings is fine", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: b, labels: {x: y}, annotations: {x: y}}\n", "-"},
		{"a resource without metadata is fine", "apiVersion: v1\nkind: List\n", "-"},
		{"a list is not a resource", "[a]\n", ""},
		{"a kind that is a list is refused", "kind: [a]\n", "kind"},
		{"metadata that is a list is refused", "kind: A\nmetadata: [a]\n", "metadata"},
		{"metadata that is an alias is refused", "x: &m {name: a}\nmetadata: *m\n", "metadata"},
		{"a name that is a mapping is refused", "metadata: {name: {a: b}}\n", "metadata.name"},
		{"labels that are a list are refused", "metadata: {labels: [a]}\n", "metadata.labels"},
		{"a label key that is a list is refused", "metadata:\n  labels:\n    ? [a]\n    : b\n", "metadata.labels"},
		{"an annotation that is a list is refused", "metadata: {annotations: {a: [b]}}\n", "metadata.annotations.a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := yaml.Parse(tt.doc)
			if err != nil {
				t.Fatal(err)
			}
			got := CheckShape(n)
			switch {
			case tt.field == "-" && got != nil:
				t.Fatalf("refused: %v", got)
			case tt.field == "-":
			case got == nil:
				t.Fatal("accepted")
			case got.Field != tt.field:
				t.Fatalf("field %q, want %q (%v)", got.Field, tt.field, got)
			}
			// The safe readers never panic on it either.
			_ = Identity(n)
			_ = StringMap(n, yaml.LabelsField)
			_ = ResultAt("error", n, "", "m")
		})
	}
}
