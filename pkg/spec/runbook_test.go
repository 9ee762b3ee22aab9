package spec

import (
	"slices"
	"testing"

	k8syaml "sigs.k8s.io/yaml"

	"github.com/carousel-dev/carousel/pkg/phases"
)

// TestTheSchemaListsExactlyTheRunbooks: the CRD's spec.runbook enum (what
// editors and the API server accept) and Runbooks (what Validate accepts)
// are the same values in the same order.
func TestTheSchemaListsExactlyTheRunbooks(t *testing.T) {
	var crd struct {
		Spec struct {
			Versions []struct {
				Schema struct {
					OpenAPIV3Schema struct {
						Properties struct {
							Spec struct {
								Properties struct {
									Runbook struct {
										Enum []string `json:"enum"`
									} `json:"runbook"`
								} `json:"properties"`
							} `json:"spec"`
						} `json:"properties"`
					} `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := k8syaml.Unmarshal([]byte(CRD), &crd); err != nil {
		t.Fatal(err)
	}
	if len(crd.Spec.Versions) == 0 {
		t.Fatal("the CRD has no version")
	}
	var want []string
	for _, r := range Runbooks {
		want = append(want, string(r))
	}
	for _, v := range crd.Spec.Versions {
		if got := v.Schema.OpenAPIV3Schema.Properties.Spec.Properties.Runbook.Enum; !slices.Equal(got, want) {
			t.Errorf("the CRD's spec.runbook enum is %q, Runbooks are %q", got, want)
		}
	}
}

// TestTheSchemaListsExactlyTheScopes: the CRD's spec.scope enum and
// phases.Scopes are the same values in the same order.
func TestTheSchemaListsExactlyTheScopes(t *testing.T) {
	var crd struct {
		Spec struct {
			Versions []struct {
				Schema struct {
					OpenAPIV3Schema struct {
						Properties struct {
							Spec struct {
								Properties struct {
									Scope struct {
										Enum []string `json:"enum"`
									} `json:"scope"`
								} `json:"properties"`
							} `json:"spec"`
						} `json:"properties"`
					} `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := k8syaml.Unmarshal([]byte(CRD), &crd); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, s := range phases.Scopes {
		want = append(want, string(s))
	}
	for _, v := range crd.Spec.Versions {
		if got := v.Schema.OpenAPIV3Schema.Properties.Spec.Properties.Scope.Enum; !slices.Equal(got, want) {
			t.Errorf("the CRD's spec.scope enum is %q, phases.Scopes are %q", got, want)
		}
	}
}
