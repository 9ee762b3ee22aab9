package gate

import (
	"context"
	"time"

	"github.com/carousel-dev/carousel/pkg/rotate"
	"github.com/carousel-dev/carousel/pkg/status"
)

// Watch is Status, asked again while the phase is progressing when wait is
// set: with a growing delay (1s, doubling, at most 10s) until the phase
// has converged or is blocked, or the next ask would come after timeout
// (the report then is the last, progressing). now is the clock of each
// render.
func Watch(ctx context.Context, file string, c Cluster, now func() (time.Time, error), wait bool, timeout time.Duration) (*status.Report, error) {
	return poll(ctx, now, wait, timeout, func(t time.Time) (*status.Report, status.Verdict, error) {
		r, err := Status(ctx, file, c, t)
		if err != nil {
			return nil, "", err
		}
		return r, r.Verdict, nil
	})
}

// FleetWatch is Fleet, polled the way Watch polls Status, until no
// cluster is progressing (every one converged, or the fleet blocked):
// `status --wait` on a shared root, what a pipeline runs before it merges
// the root's next phase.
func FleetWatch(ctx context.Context, root *rotate.Package, c Cluster, now func() (time.Time, error), wait bool, timeout time.Duration) (*status.FleetReport, error) {
	return poll(ctx, now, wait, timeout, func(t time.Time) (*status.FleetReport, status.Verdict, error) {
		r, err := Fleet(ctx, root, c, t)
		if err != nil {
			return nil, "", err
		}
		return r, r.Verdict, nil
	})
}

// poll asks until the verdict is not progressing, wait is off, or the
// next ask would come after timeout; a cancelled context ends it.
func poll[R any](ctx context.Context, now func() (time.Time, error), wait bool, timeout time.Duration, ask func(time.Time) (R, status.Verdict, error)) (R, error) {
	var zero R
	deadline := time.Now().Add(timeout)
	delay := time.Second
	for {
		t, err := now()
		if err != nil {
			return zero, err
		}
		r, v, err := ask(t)
		if err != nil {
			return zero, err
		}
		if !wait || v != status.Progressing || time.Now().Add(delay).After(deadline) {
			return r, nil
		}
		select {
		case <-ctx.Done():
			return zero, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 10*time.Second)
	}
}
