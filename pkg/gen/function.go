package gen

import (
	"time"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"

	"github.com/carousel-dev/carousel/pkg/krmio"
	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// Function is the KRM function: it loads the function config, a
// CARotation (Render) or a CARotationConsumer (RenderConsumer), and renders
// its phase; now is the clock of the expiry warnings. On any error it
// returns the results and no items, so a failed render never writes half a
// phase.
func Function(now func() (time.Time, error)) framework.ResourceListProcessor {
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
			out := RenderConsumer(ConsumerInput{Consumer: c, Config: rl.FunctionConfig, Items: rl.Items})
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
		out := Render(Input{Rotation: rot, Config: rl.FunctionConfig, Items: rl.Items, Now: t})
		if out.Failed() {
			return fail(out.Results)
		}
		rl.Results = append(rl.Results, out.Results...)
		rl.Results = append(rl.Results, material.ForeignResults(rl.Items, rot.Metadata.Name)...)
		rl.Items = out.Items
		return nil
	})
}
