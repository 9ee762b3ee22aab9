// Package hang turns a fuzz input that runs too long into a crash the fuzz
// engine records, with the input. Go's fuzzing finds panics but not hangs:
// a worker stuck on one input just stops the count of executions.
//
// It only arms under -test.fuzz (make fuzz): replaying the corpus in a
// normal `go test` is never timed.
package hang

import (
	"flag"
	"fmt"
	"time"
)

// Limit is how long one input may run while fuzzing. A function run is
// milliseconds; the limit is generous for a machine under load.
const Limit = 10 * time.Second

// Watch panics (a crash the engine saves with its input) if the returned
// stop is not called within Limit while fuzzing.
func Watch(input []byte) (stop func()) {
	if f := flag.Lookup("test.fuzz"); f == nil || f.Value.String() == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-done:
		case <-time.After(Limit):
			panic(fmt.Sprintf("one input ran longer than %s: %q", Limit, input))
		}
	}()
	return func() { close(done) }
}
