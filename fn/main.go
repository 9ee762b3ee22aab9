// Command carousel renders a phase of a CA rotation as a kustomize KRM
// function (no arguments: a ResourceList on stdin) and makes the rotation's
// material as a CLI (`carousel init`, `carousel start`, ...).
package main

import (
	"errors"
	"fmt"
	"os"
)

func main() {
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
		os.Exit(exitCode(err))
	}
}
