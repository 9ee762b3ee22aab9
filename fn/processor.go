package main

import (
	"fmt"
	"os"
	"time"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"

	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/krmio"
	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/spec"
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

// buildProcessor is the KRM function: it loads the CARotation from the
// function config and renders its phase. On any error it returns the
// results and no items, so a failed render never writes half a phase.
func buildProcessor(now func() (time.Time, error)) framework.ResourceListProcessor {
	return framework.ResourceListProcessorFunc(func(rl *framework.ResourceList) error {
		fail := func(results framework.Results) error {
			rl.Results = append(rl.Results, results...)
			rl.Items = nil
			return rl.Results
		}
		// A consumer package: the same binary, another config.
		if krmio.Identity(rl.FunctionConfig).Kind == spec.ConsumerKind {
			problems := spec.ItemResults(rl.Items)
			c, err := spec.LoadConsumer(rl.FunctionConfig)
			if err != nil {
				problems = append(spec.ErrorResults(rl.FunctionConfig, err), problems...)
			}
			if len(problems) > 0 {
				return fail(problems)
			}
			out := gen.RenderConsumer(gen.ConsumerInput{Consumer: c, Config: rl.FunctionConfig, Items: rl.Items})
			if out.Failed() {
				return fail(out.Results)
			}
			rl.Results = append(rl.Results, out.Results...)
			rl.Items = out.Items
			return nil
		}
		// Every problem with the config and the items at once.
		problems := spec.ItemResults(rl.Items)
		rot, err := spec.Load(rl.FunctionConfig)
		if err != nil {
			problems = append(spec.ErrorResults(rl.FunctionConfig, err), problems...)
		}
		if len(problems) > 0 {
			return fail(problems)
		}
		t, err := now()
		if err != nil {
			return fail(framework.Results{{Severity: framework.Error, Message: err.Error()}})
		}
		out := gen.Render(gen.Input{Rotation: rot, Config: rl.FunctionConfig, Items: rl.Items, Now: t})
		if out.Failed() {
			return fail(out.Results)
		}
		rl.Results = append(rl.Results, out.Results...)
		rl.Results = append(rl.Results, material.ForeignResults(rl.Items, rot.Metadata.Name)...)
		rl.Items = out.Items
		return nil
	})
}
