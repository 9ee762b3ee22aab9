package gen_test

import (
	"strings"
	"testing"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
)

func TestAnInputObjectCarouselRendersIsRefused(t *testing.T) {
	out := render(t, phases.Steady, testkit.Now, "apiVersion: v1\nkind: Secret\nmetadata: {name: policy-webhook-tls, namespace: policy}\ntype: kubernetes.io/tls\n")
	if !out.Failed() || out.Items != nil {
		t.Fatal("a duplicate of a rendered Secret must fail the render with no items")
	}
	if !strings.Contains(out.Results.Error(), `is rendered by rotation "cluster-ca": remove it from the input`) {
		t.Fatal(out.Results.Error())
	}
}
