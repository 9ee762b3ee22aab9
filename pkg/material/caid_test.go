package material

import (
	"crypto/x509"
	"os"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/phases"
)

// examplePair reads a CA KeyPair of the cluster-ca example with its
// recorded ID replaced (or removed, for "").
func examplePair(t *testing.T, file, id string) *yaml.RNode {
	t.Helper()
	b, err := os.ReadFile("../../examples/cluster-ca/material/" + file)
	if err != nil {
		t.Fatal(err)
	}
	n := yaml.MustParse(string(b))
	anns := n.GetAnnotations()
	delete(anns, AnnotationCAID)
	if id != "" {
		anns[AnnotationCAID] = id
	}
	if err := n.SetAnnotations(anns); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestACAsIDIsRecordedOrItsRoleForOlderMaterial(t *testing.T) {
	tests := []struct {
		name, file, id, want, err string
	}{
		{"a recorded ID is the ID", "ca-new.yaml", "g2", "g2", ""},
		{"an old CA without one has the ID old", "ca-old.yaml", "", "old", ""},
		{"a new CA without one has the ID new", "ca-new.yaml", "", "new", ""},
		{"an ID must be able to end a name", "ca-new.yaml", "G2", "", "must be a DNS label"},
		{"an ID longer than 16 characters is refused", "ca-new.yaml", "g12345678901234567", "", "must be a DNS label"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := Parse(examplePair(t, tt.file, tt.id))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "metadata.annotations."+AnnotationCAID) {
					t.Fatalf("want %q at the annotation, got %v", tt.err, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k.CAID != tt.want || k.CAIDRecorded() != (tt.id != "") {
				t.Fatalf("ID %q (recorded %v), want %q", k.CAID, k.CAIDRecorded(), tt.want)
			}
		})
	}
}

func TestALeafHasNoCAID(t *testing.T) {
	b, err := os.ReadFile("../../examples/cluster-ca/material/leaf-policy-webhook-old.yaml")
	if err != nil {
		t.Fatal(err)
	}
	n := yaml.MustParse(string(b))
	anns := n.GetAnnotations()
	anns[AnnotationCAID] = "g1"
	_ = n.SetAnnotations(anns)
	if _, err := Parse(n); err == nil || !strings.Contains(err.Error(), "CA KeyPairs only") {
		t.Fatalf("a leaf with a CA ID: %v", err)
	}
}

func TestTheNextCAIDCountsPastEveryIDInTheMaterial(t *testing.T) {
	cert := &x509.Certificate{}
	set := func(ids ...string) *Set {
		s := &Set{CA: map[phases.Generation]KeyPair{}}
		for i, id := range ids {
			s.CA[phases.Generations[i]] = KeyPair{CAID: id, Certs: []*x509.Certificate{cert}}
		}
		return s
	}
	tests := []struct {
		name string
		set  *Set
		want string
	}{
		{"no CA yet: the first", set(), "g1"},
		{"after g1", set("g1"), "g2"},
		{"after the higher of both generations", set("g9", "g10"), "g11"},
		{"legacy IDs (roles) count as none", set("old", "new"), "g1"},
		{"a legacy CA promoted, then counting", set("new", "g1"), "g2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NextCAID(tt.set); got != tt.want {
				t.Fatalf("%s, want %s", got, tt.want)
			}
		})
	}
}

func TestTwoCAGenerationsShareAnIDOnlyAsOneCertificate(t *testing.T) {
	parse := func(file, id string) KeyPair {
		k, err := Parse(examplePair(t, file, id))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	if _, err := NewSet([]KeyPair{parse("ca-old.yaml", "g1"), parse("ca-new.yaml", "g1")}); err == nil || !strings.Contains(err.Error(), "the new CA has the ID \"g1\" of the old CA") {
		t.Fatalf("two CAs with one ID: %v", err)
	}
	// A promotion half-way: the finished rotation's CA under both roles.
	promoted := parse("ca-new.yaml", "g2")
	promoted.Generation = phases.Old
	if _, err := NewSet([]KeyPair{promoted, parse("ca-new.yaml", "g2")}); err != nil {
		t.Fatalf("one CA under both roles, one ID: %v", err)
	}
}
