package gate

import (
	"context"
	"time"

	"github.com/carousel-dev/carousel/pkg/status"
)

// Watch is Status, asked again while the phase is progressing when wait is
// set: with a growing delay (1s, doubling, at most 10s) until the phase
// has converged or is blocked, or the next ask would come after timeout
// (the report then is the last, progressing). now is the clock of each
// render.
func Watch(ctx context.Context, file string, c Cluster, now func() (time.Time, error), wait bool, timeout time.Duration) (*status.Report, error) {
	deadline := time.Now().Add(timeout)
	delay := time.Second
	for {
		t, err := now()
		if err != nil {
			return nil, err
		}
		r, err := Status(ctx, file, c, t)
		if err != nil {
			return nil, err
		}
		if !wait || r.Verdict != status.Progressing || time.Now().Add(delay).After(deadline) {
			return r, nil
		}
		time.Sleep(delay)
		delay = min(delay*2, 10*time.Second)
	}
}
