package backend

import (
	"context"
	"time"

	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/rotate"
	"github.com/carousel-dev/carousel/pkg/spec"
	"github.com/carousel-dev/carousel/pkg/status"
)

// Backend is what the commands need of a rotation's backend.
type Backend interface {
	// Name is the spec.backend value.
	Name() spec.Backend
	// Init is `carousel init`: it makes a package of the backend.
	Init(p *rotate.Package, o rotate.Options) (rotate.Report, error)
	// Start is `carousel start`: it finishes a finished rotation and
	// begins the next one (doc.go says how far each backend goes).
	Start(p *rotate.Package, o rotate.Options, req rotate.StartRequest) (rotate.Report, error)
	// Pull is `carousel pull`: it commits what the cluster issued. connect
	// is called only when the backend has something to read.
	Pull(ctx context.Context, connect func() (dynamic.Interface, error), p *rotate.Package) (rotate.Report, error)
	// Status compares the rendered phase with the cluster: the live gate
	// of `carousel status` and `carousel advance`.
	Status(ctx context.Context, client dynamic.Interface, ph Phase) (*status.Report, error)
	// Unpromoted is, for `carousel check`, why a move from the last phase
	// back to the first did not promote the finished rotation ("" if it
	// did). materialChanged are the material files the change touched.
	Unpromoted(base, cur *spec.CARotation, materialChanged []string) string
}

// Phase is a rendered phase as the live gate compares it with the cluster.
type Phase struct {
	Rotation *spec.CARotation
	// Items are the function's input, as kustomize hands it over.
	Items []*yaml.RNode
	Out   gen.Output
	Now   time.Time
}

// backends are the implementations, by spec.backend. An empty spec.backend
// is the material backend (the default).
var backends = map[spec.Backend]Backend{
	"":                      Material{},
	spec.BackendMaterial:    Material{},
	spec.BackendCertManager: CertManager{},
}

// For is the backend of a rotation. spec.Load refuses a spec.backend that
// is not one, so every loaded rotation has one; anything else is the
// material backend, as before the value was typed.
func For(rot *spec.CARotation) Backend {
	if b, ok := backends[rot.Spec.Backend]; ok {
		return b
	}
	return Material{}
}
