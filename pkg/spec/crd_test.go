package spec_test

import (
	"os"
	"strings"
	"testing"

	"github.com/carousel-dev/carousel/internal/apiserver"
	"github.com/carousel-dev/carousel/pkg/spec"
)

func TestMain(m *testing.M) {
	code := m.Run()
	apiserver.Stop()
	os.Exit(code)
}

// TestTheCRDIsAcceptedByARealAPIServer: `carousel schema` prints the CRD for
// editors, kubeconform and clusters. It once closed its objects with
// additionalProperties: false, which the API server refuses beside
// properties; the loader closes them itself now (TestUnknownFieldsAnywhereAreRefused).
func TestTheCRDIsAcceptedByARealAPIServer(t *testing.T) {
	s := apiserver.Start(t)
	_, stderr, err := s.KubectlInErr([]byte(spec.CRD), "apply", "--dry-run=server", "-f", "-")
	if err != nil {
		t.Fatalf("the API server refuses the CRD: %v\n%s", err, strings.TrimSpace(string(stderr)))
	}
}
