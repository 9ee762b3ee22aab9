package gate

import (
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/backend"
	"github.com/carousel-dev/carousel/pkg/fninput"
	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/rotate"
	"github.com/carousel-dev/carousel/pkg/status"
)

// Phase is a package's current phase as the function renders it: what the
// gate compares the cluster with.
type Phase struct {
	Package *rotate.Package
	// Items is what kustomize hands the function (fninput.Build), not
	// every file in the folder.
	Items []*yaml.RNode
	Out   gen.Output
	// Now is the render's clock, and the gate's: rules that wait out a
	// lifetime (spec.workloadCertificates) count from it.
	Now time.Time
}

// Load reads the package of a CARotation file and renders its current phase.
func Load(file string, now time.Time) (*Phase, error) {
	p, err := rotate.Load(file)
	if err != nil {
		return nil, err
	}
	items, err := fninput.Build(file)
	if err != nil {
		return nil, err
	}
	out := gen.Render(gen.Input{Rotation: p.Rotation, Config: p.Node, Items: items, Now: now})
	return &Phase{Package: p, Items: items, Out: out, Now: now}, nil
}

// Status is `carousel status`: the package's current phase compared with
// the cluster, narrowed to the cluster's namespace. It fails (never passes)
// when the cluster cannot be asked.
func Status(ctx context.Context, file string, c Cluster, now time.Time) (*status.Report, error) {
	ph, err := Load(file, now)
	if err != nil {
		return nil, err
	}
	var client dynamic.Interface
	if !ph.Out.Failed() {
		if client, err = c.Client(); err != nil {
			return nil, err
		}
	}
	r, err := Check(ctx, ph, client)
	if err != nil {
		return nil, err
	}
	r.Filter(c.Namespace)
	return r, nil
}

// Check compares a rendered phase with the cluster: every managed object
// holds the phase's certificates, every workload that consumes them rolled
// onto them, and every consumer package of another application rendered
// the phase. A phase that does not render is blocked without asking the
// cluster (client may then be nil).
func Check(ctx context.Context, ph *Phase, client dynamic.Interface) (*status.Report, error) {
	rot := ph.Package.Rotation
	if ph.Out.Failed() {
		return &status.Report{Rotation: rot.Metadata.Name, Phase: string(rot.Spec.Phase), Verdict: status.Blocked,
			Reasons: []string{fmt.Sprintf("the phase does not render: %v", ph.Out.Results)}, Objects: []status.ObjectStatus{}, Workloads: []status.WorkloadStatus{},
			Scope: rot.Spec.Scope, PhaseSince: rot.Spec.PhaseSince.Value()}, nil
	}
	return backend.For(rot).Status(ctx, client, backend.Phase{Rotation: rot, Items: ph.Items, Out: ph.Out, Now: ph.Now})
}
