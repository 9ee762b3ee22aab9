package main

import (
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	var o Options
	var epoch int64
	flag.StringVar(&o.Repo, "repo", "../..", "the carousel repository to build")
	flag.StringVar(&o.Out, "out", "dist", "where to write the artifacts (replaced)")
	flag.StringVar(&o.Version, "version", "", "the version carousel reports (git describe)")
	flag.StringVar(&o.Commit, "commit", "", "the commit carousel reports (git rev-parse HEAD)")
	flag.Int64Var(&epoch, "epoch", 0, "the time every artifact carries, in Unix seconds (the commit's: git log -1 --format=%ct)")
	flag.Parse()
	if o.Version == "" || o.Commit == "" || epoch == 0 {
		fmt.Fprintln(os.Stderr, "release: -version, -commit and -epoch are required (make release sets them from git)")
		os.Exit(2)
	}
	o.Time = time.Unix(epoch, 0).UTC()
	files, err := Build(o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "release: %v\n", err)
		os.Exit(1)
	}
	for _, f := range files {
		fmt.Println(f)
	}
}
