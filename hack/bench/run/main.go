// Command run times whole processes for `make bench`: each command runs
// several times with the same stdin; it reports the median wall time and the
// largest peak resident memory (from the kernel's rusage, so no external
// tool is needed), and the median CPU time (user + system, the process and
// the children it waited for): on a shared machine wall time measures the
// neighbours, CPU time the work.
//
//	run -n 5 -stdin input.yaml -label carousel -- bin/carousel
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"time"
)

func main() {
	n := flag.Int("n", 5, "runs")
	stdin := flag.String("stdin", "", "file fed to stdin")
	label := flag.String("label", "", "label of the row")
	flag.Parse()
	args := flag.Args()
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: run [-n N] [-stdin FILE] [-label L] -- CMD ARGS...")
		os.Exit(2)
	}
	var walls, cpus []time.Duration
	var peak int64
	for i := 0; i < *n; i++ {
		cmd := exec.Command(args[0], args[1:]...)
		if *stdin != "" {
			f, err := os.Open(*stdin)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			cmd.Stdin = f
			defer f.Close()
		}
		cmd.Stderr = os.Stderr
		devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		cmd.Stdout = devnull
		start := time.Now()
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "run %s: %v\n", *label, err)
			os.Exit(1)
		}
		walls = append(walls, time.Since(start))
		cpus = append(cpus, cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			peak = max(peak, ru.Maxrss) // KiB on Linux
		}
		if f, ok := cmd.Stdin.(*os.File); ok {
			f.Close()
		}
		devnull.Close()
	}
	slices.Sort(walls)
	slices.Sort(cpus)
	median := walls[len(walls)/2]
	// label <TAB> median seconds <TAB> peak MiB <TAB> median CPU seconds
	fmt.Printf("%s\t%.2f\t%.0f\t%.2f\n", *label, median.Seconds(), float64(peak)/1024, cpus[len(cpus)/2].Seconds())
}
