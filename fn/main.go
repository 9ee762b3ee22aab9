// Package fn is the carousel binary: with no arguments a kustomize KRM
// function that renders a phase of a CA rotation (a ResourceList on
// stdin), and a CLI that makes the rotation's material and moves its
// phases (`carousel init`, `carousel start`, `carousel advance`, ...).
// Each command is flags in, one call into pkg/, output out.
//
// The program itself is cmd/carousel, three lines that call Main: Go
// names a binary after its directory, so `go install .../cmd/carousel`
// installs `carousel`, the name kustomize's exec functions look for.
package fn

import (
	"errors"
	"fmt"
	"os"
)

// Main runs the command line in os.Args and returns the exit code
// (exit.go: one meaning per code across commands).
func Main() int {
	root := buildCmd()
	cmd, err := root.ExecuteC()
	if err != nil {
		// The function prints its own results; subcommands are silenced by
		// the function's root command, so their errors are printed here.
		var quiet *exitErr
		// Verdict exits (a refused check, a status that is not converged)
		// already printed their report.
		silent := errors.As(err, &quiet) && (cmd.Name() == "check" || cmd.Name() == "status") && quiet.code != exitError
		var usage *usageError
		if (cmd != root || errors.As(err, &usage)) && !silent {
			fmt.Fprintln(os.Stderr, "carousel:", err)
		}
		return exitCode(err)
	}
	return exitOK
}
