// Command carousel renders a phase of a CA rotation as a kustomize KRM
// function (no arguments: a ResourceList on stdin) and makes the rotation's
// material as a CLI (`carousel init`, `carousel start`, ...).
package main

import "os"

func main() {
	if err := buildCmd().Execute(); err != nil {
		os.Exit(1)
	}
}
