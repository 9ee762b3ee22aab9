// Command carousel renders a phase of a CA rotation as a kustomize KRM
// function and makes and moves the rotation as a CLI; package fn holds
// it all. This directory exists for the binary's name: `go install
// github.com/carousel-dev/carousel/cmd/carousel@VERSION` installs
// `carousel`.
package main

import (
	"os"

	"github.com/carousel-dev/carousel/fn"
)

func main() { os.Exit(fn.Main()) }
