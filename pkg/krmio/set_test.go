package krmio

import (
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// TestSetStringWritesWhatKyamlsSetFieldWrites: for values a YAML 1.1
// reader takes for strings and for values it does not, on a new field and
// on fields already there in each quoting style, SetString leaves the same
// document as yaml.SetField(name, yaml.NewStringRNode(value)), twice in a
// row (the second time from the cache).
func TestSetStringWritesWhatKyamlsSetFieldWrites(t *testing.T) {
	values := []string{"abc", "123", "1e3", "0x1F", "1_000", "true", "yes", "on", "No", "null", "~", "", "12:30", "a\nb", "sha256:0123abcd", "3e5a9", " lead", "-1.5"}
	docs := []string{
		"metadata: {}\n",
		"a: b\nk: old\nz: y\n",
		"k: \"old\"\n",
		"k: 'old'\n",
		"k: |\n  old\n",
		"k: null\n",
		"k: 1\nk: 2\n",
	}
	for round := 0; round < 2; round++ {
		for _, doc := range docs {
			for _, v := range values {
				want := yaml.MustParse(doc)
				if err := want.PipeE(yaml.SetField("k", yaml.NewStringRNode(v))); err != nil {
					t.Fatal(err)
				}
				got := yaml.MustParse(doc)
				if err := SetString(got, "k", v); err != nil {
					t.Fatal(err)
				}
				if got.MustString() != want.MustString() {
					t.Errorf("%q on %q:\nSetString:\n%s\nkyaml:\n%s", v, doc, got.MustString(), want.MustString())
				}
			}
		}
	}
	if err := SetString(yaml.NewListRNode("a"), "k", "v"); err == nil {
		t.Error("a sequence is not a mapping")
	}
}

// TestSetMetadataMapWritesWhatKyamlsSetLabelsWrites: on objects with no
// metadata, empty flow labels, labels in the middle of metadata and null
// annotations, SetMetadataMap leaves what SetLabels and SetAnnotations
// leave, for maps of strings and of values YAML 1.1 would not read as
// strings, and for an empty map.
func TestSetMetadataMapWritesWhatKyamlsSetLabelsWrites(t *testing.T) {
	docs := []string{
		"kind: ConfigMap\n",
		"kind: ConfigMap\nmetadata:\n  name: x\n  labels: {}\n",
		"kind: ConfigMap\nmetadata:\n  labels: {a: \"1\"}\n  name: x\n  annotations: null\n",
		"kind: ConfigMap\nmetadata:\n  annotations:\n    keep: 'me'\n  name: x\n",
	}
	maps := []map[string]string{
		{"carousel.dev/rotation": "cluster-ca"},
		{"b": "2", "a": "yes", "c": "x\ny", "d": ""},
		{},
	}
	for _, doc := range docs {
		for _, m := range maps {
			for _, field := range []string{"labels", "annotations"} {
				want := yaml.MustParse(doc)
				var err error
				if field == "labels" {
					err = want.SetLabels(m)
				} else {
					err = want.SetAnnotations(m)
				}
				if err != nil {
					t.Fatal(err)
				}
				got := yaml.MustParse(doc)
				if err := SetMetadataMap(got, field, m); err != nil {
					t.Fatal(err)
				}
				if got.MustString() != want.MustString() {
					t.Errorf("%s %v on %q:\nSetMetadataMap:\n%s\nkyaml:\n%s", field, m, doc, got.MustString(), want.MustString())
				}
			}
		}
	}
}
