// Command identity is the baseline of `make bench`: a KRM function that
// changes nothing, so its cost is the read and write path alone. With
// -stream it writes through pkg/krmio (item by item) instead of kyaml's
// framework.Execute.
package main

import (
	"flag"
	"os"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/kio"

	"github.com/carousel-dev/carousel/pkg/krmio"
)

func main() {
	stream := flag.Bool("stream", false, "write the output item by item (pkg/krmio)")
	flag.Parse()
	noop := framework.ResourceListProcessorFunc(func(*framework.ResourceList) error { return nil })
	var err error
	if *stream {
		err = krmio.Execute(noop, os.Stdin, os.Stdout)
	} else {
		err = framework.Execute(noop, &kio.ByteReadWriter{Reader: os.Stdin, Writer: os.Stdout, KeepReaderAnnotations: true})
	}
	if err != nil {
		os.Exit(1)
	}
}
