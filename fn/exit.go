package fn

import (
	"errors"

	"github.com/carousel-dev/carousel/pkg/gate"
)

// Exit codes, one meaning each across every command (README, "Exit codes";
// `carousel --help`). Scripts and CI branch on them, so a code never means
// one thing in one command and another in the next.
const (
	// exitOK: done; converged; the change may merge.
	exitOK = 0
	// exitError: the command could not do its job: bad input, a file or a
	// cluster it could not read or reach. Nothing was written.
	exitError = 1
	// exitRefused: a check or gate looked and says no, and waiting will
	// not help: a refused pull request, a blocked phase, a refused advance.
	exitRefused = 2
	// exitWait: not yet: the cluster is still converging; rerun later.
	exitWait = 3
	// exitNothingDue: there was nothing to do (renew: nothing expires
	// within the window).
	exitNothingDue = 4
)

// exitHelp is what --help says of the exit codes.
const exitHelp = `Exit codes (every command): 0 done, converged or may merge; 1 could not run
(bad input, unreachable cluster; nothing written); 2 refused (a check or gate
says no and waiting will not help); 3 wait (still converging: rerun later);
4 nothing due (renew).`

// exitError carries a specific exit code.
type exitErr struct {
	code int
	err  error
}

func (e *exitErr) Error() string { return e.err.Error() }
func (e *exitErr) Unwrap() error { return e.err }

// exitCode is the code a command's error exits with: its own, a gate's
// refusal (wait or refused), else 1.
func exitCode(err error) int {
	var e *exitErr
	if errors.As(err, &e) {
		return e.code
	}
	var r *gate.Refusal
	if errors.As(err, &r) {
		if r.Wait {
			return exitWait
		}
		return exitRefused
	}
	return exitError
}
