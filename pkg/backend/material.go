package backend

import (
	"context"
	"fmt"

	"k8s.io/client-go/dynamic"

	"github.com/carousel-dev/carousel/pkg/fleet"
	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/rotate"
	"github.com/carousel-dev/carousel/pkg/spec"
	"github.com/carousel-dev/carousel/pkg/status"
)

// Material is the material backend (the default): carousel makes the keys,
// commits them as KeyPairs (pkg/rotate) and renders Secrets from them.
type Material struct{}

// Name is spec.BackendMaterial.
func (Material) Name() spec.Backend { return spec.BackendMaterial }

// Init records the current CA (made, or adopted from o) and issues every
// leaf with it (rotate.Init).
func (Material) Init(p *rotate.Package, o rotate.Options) (rotate.Report, error) {
	return rotate.Init(p, o)
}

// Start promotes a finished rotation and makes the next one's material
// (rotate.Start). The scope changes only between rotations: at steady, or
// at the last phase of a finished one (cleanup, reissue), which Start
// promotes to steady first, so a leaf re-issue right after a CA rotation's
// cleanup is one command. Mid-rotation rotate.Start refuses anyway; the
// scope's own message says what to do.
func (Material) Start(p *rotate.Package, o rotate.Options, req rotate.StartRequest) (rotate.Report, error) {
	ph := p.Rotation.Spec.Phase
	if req.Scope != "" && req.Scope != p.Rotation.Spec.Scope && ph != phases.Steady && !finished(p.Rotation.Spec.Scope, ph) {
		return rotate.Report{}, fmt.Errorf("the scope can change only between rotations, at steady or at the end of one (the rotation is at %s)", ph)
	}
	// Start writes the scope only once everything else is checked.
	return rotate.Start(p, o, req)
}

// finished: ph is the last phase of scope's sequence, where a rotation is
// done and the next start promotes it.
func finished(scope phases.Scope, ph phases.Phase) bool {
	seq, err := phases.Sequence(scope)
	return err == nil && len(seq) > 1 && seq[len(seq)-1] == ph
}

// Pull is refused: the material backend's certificates are committed by
// `carousel start`, never read back from the cluster.
func (Material) Pull(_ context.Context, _ func() (dynamic.Interface, error), p *rotate.Package) (rotate.Report, error) {
	return rotate.Report{}, fmt.Errorf("%s uses backend %q: pull is for backend %s", p.Rotation.Metadata.Name, p.Rotation.Spec.Backend, spec.BackendCertManager)
}

// Status is status.Evaluate, and the consumer packages of other
// applications when the rotation publishes its state or names consumers.
func (Material) Status(ctx context.Context, client dynamic.Interface, ph Phase) (*status.Report, error) {
	r, err := status.Evaluate(ctx, client, ph.Rotation, ph.Out, ph.Now)
	if err != nil {
		return nil, err
	}
	if ph.Rotation.Spec.Publish != "" || len(ph.Rotation.Spec.Consumers) > 0 {
		if err := consumers(ctx, client, ph.Rotation, ph.Out, r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Unpromoted: a promotion rewrites the material (checkMaterial in
// pkg/check proves it is the finished rotation's); an edit of spec.phase
// alone promotes nothing.
func (Material) Unpromoted(base, cur *spec.CARotation, materialChanged []string) string {
	if len(materialChanged) == 0 {
		return fmt.Sprintf("spec.phase moved from %s to %s by hand: nothing was promoted, so %s would render the old material, already distrusted, as the one in use", base.Spec.Phase, cur.Spec.Phase, cur.Spec.Phase)
	}
	return ""
}

// consumers folds the consumer packages of other applications into the
// report: one that has not rendered the phase keeps it from having
// converged, and a workload no package renders blocks it.
func consumers(ctx context.Context, client dynamic.Interface, rot *spec.CARotation, out gen.Output, r *status.Report) error {
	owned := map[string]bool{}
	for _, w := range out.Restarts {
		owned[w.Kind+"/"+w.Namespace+"/"+w.Name] = true
	}
	scan, err := fleet.Consumers(ctx, client, rot.Metadata.Name, rot.Spec.Kinds(), func(kind, ns, name string) bool { return owned[kind+"/"+ns+"/"+name] })
	if err != nil {
		return fmt.Errorf("listing the consumer packages of %s: %w", rot.Metadata.Name, err)
	}
	lag := fleet.Lagging(rot, scan.Consumers)
	for _, l := range lag {
		r.Reasons = append(r.Reasons, "consumer "+l.Reason)
	}
	if len(lag) > 0 && r.Verdict == status.Converged {
		r.Verdict = status.Progressing
	}
	// Waiting will not roll these: no package renders them.
	for _, u := range scan.Unmarked {
		r.Reasons = append(r.Reasons, fmt.Sprintf("%s without %s: no consumer package renders it, so it never rolls onto a new trusted set; add it to one (docs/fleet.md)", u, gen.MarkerAnnotation(rot.Metadata.Name)))
		r.Verdict = status.Blocked
	}
	return nil
}
