package gate

import "github.com/carousel-dev/carousel/pkg/status"

// Overrides are the explicit ways past a gate. Each one used is recorded
// in the pull request, so a reviewer sees what nobody checked.
type Overrides struct {
	// NoCluster writes the pull request without asking any cluster:
	// the author has none at hand (a laptop, a CI job without
	// credentials). The live gate is then the reviewer's to run.
	NoCluster bool
	// Force moves on although a gate that could look said no.
	Force bool
}

// Refusal is a gate that looked and said no. Wait says whether waiting
// can help (the cluster is still converging) or not (blocked: something
// must be fixed first); commands turn it into their exit code.
type Refusal struct {
	Wait bool
	// Report is the live report that refused, when the live gate did.
	Report *status.Report
	Err    error
}

func (r *Refusal) Error() string { return r.Err.Error() }
func (r *Refusal) Unwrap() error { return r.Err }
