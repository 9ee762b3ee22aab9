package main

import (
	"bytes"
	"errors"
	"os/exec"
	"testing"
)

// runCmd runs a command the tests built (the real carousel binary, usually)
// and returns what it printed and its exit code; a command that could not
// run at all fails the test. One place, so every test reads exit codes the
// same way.
func runCmd(t testing.TB, cmd *exec.Cmd) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("%v: %v", cmd.Args, err)
	}
	return o.String(), e.String(), code
}
