package fn

import (
	"fmt"
	"os"
	"time"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"

	"github.com/carousel-dev/carousel/pkg/gen"
)

// NowEnv fixes the clock the function warns about expiry with (RFC 3339).
// The clock never reaches rendered resources; this only makes the warnings
// of a test or a CI run reproducible.
const NowEnv = "CAROUSEL_NOW"

func clock() (time.Time, error) {
	if v := os.Getenv(NowEnv); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return time.Time{}, fmt.Errorf("%s=%q is not an RFC 3339 time: %w", NowEnv, v, err)
		}
		return t, nil
	}
	return time.Now(), nil
}

// buildProcessor is the KRM function (gen.Function) with the clock of its
// expiry warnings.
func buildProcessor(now func() (time.Time, error)) framework.ResourceListProcessor {
	return gen.Function(now)
}
