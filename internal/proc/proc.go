// Package proc supervises the programs the tests run next to them (etcd,
// kube-apiserver, controllers): each writes to a log file of its own, dies
// with the test binary, can be waited on until ready, paused, and stopped.
// It knows nothing of Kubernetes; internal/apiserver and
// internal/certmanager run their processes through it.
package proc

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ReadyTimeout bounds WaitUntil. It is generous because the machines
// running the suite are small and shared; a start that takes longer is
// broken, and the error carries the process's log tail.
const ReadyTimeout = 2 * time.Minute

// Process is a running program whose output goes to its log file.
type Process struct {
	Name string
	Log  string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start starts bin with args in dir; its output goes to dir/NAME.log. The
// kernel kills it when the test binary exits (on Linux), so a run that
// never stops it (a panic, a timeout, ^C) leaves nothing behind.
func Start(dir, name, bin string, args ...string) (*Process, error) {
	logPath := filepath.Join(dir, name+".log")
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	dieWithParent(cmd.SysProcAttr)
	if err := startOnFixedThread(cmd); err != nil {
		log.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &Process{Name: name, Log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		log.Close()
		close(p.done)
	}()
	return p, nil
}

var spawnThread = sync.OnceValue(func() chan func() {
	ch := make(chan func())
	go func() {
		// Locked and never unlocked: this OS thread lives as long as the
		// process does.
		runtime.LockOSThread()
		for f := range ch {
			f()
		}
	}()
	return ch
})

// startOnFixedThread starts cmd from one OS thread that lives as long as
// the test binary: Linux sends the parent-death signal when the thread that
// forked the child exits, not the process, and a thread does exit when a
// goroutine locked to it ends without unlocking.
func startOnFixedThread(cmd *exec.Cmd) error {
	done := make(chan error)
	spawnThread() <- func() { done <- cmd.Start() }
	return <-done
}

// WaitUntil polls ready until it holds, the process exits or ReadyTimeout
// passes; the error carries the tail of the process's log.
func (p *Process) WaitUntil(ready func() bool) error {
	deadline := time.Now().Add(ReadyTimeout)
	for {
		if ready() {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready (%v); last lines of %s:\n%s", p.Name, p.err, p.Log, p.Tail(30))
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s was not ready after %s; last lines of %s:\n%s", p.Name, ReadyTimeout, p.Log, p.Tail(30))
		}
	}
}

// Exited reports whether the process has exited, and with what error.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Tail returns the last n lines of the process's log.
func (p *Process) Tail(n int) string {
	b, err := os.ReadFile(p.Log)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Signal sends sig to the process: SIGSTOP and SIGCONT pause a controller,
// so a test can look at the cluster before the controller has acted.
func (p *Process) Signal(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }

// Stop sends SIGTERM, waits up to grace, then kills, and waits for the exit.
func (p *Process) Stop(grace time.Duration) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// FreePorts asks the kernel for n free loopback ports. They are released
// before the servers bind them; on a shared machine another process may take
// one in between, which shows as a clear bind error in the log tail.
func FreePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
