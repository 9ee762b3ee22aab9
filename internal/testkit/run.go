package testkit

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Cmd is how a test runs the carousel binary (bin/carousel, built by `make
// build`): the one runner of the suite. Each test file used to build its
// own exec.Cmd, and the copies drifted (one returned stderr only on
// failure, one dropped it, each spelled the fixed clock, the missing
// cluster and the age key by hand); a Cmd says what a run depends on in one
// value, and its Result holds everything a test may check.
//
// A Cmd is a value: a file that runs carousel the same way many times keeps
// one (`var offline = testkit.Cmd{FixedClock: true, NoCluster: true}`) and
// calls offline.Run(t, args...). The zero Cmd runs in the test's working
// directory with the test's environment.
type Cmd struct {
	// Bin is the binary to run ("" is bin/carousel, Carousel's).
	Bin string
	// Dir is the working directory ("" is the test's).
	Dir string
	// Env is added to the test's environment, after what the switches
	// below add, so an entry here wins over theirs (exec keeps the last
	// entry of a name).
	Env []string
	// Stdin is the standard input (none when nil).
	Stdin []byte
	// Unset drops the test's variables whose NAME=value entry starts with
	// one of these ("SOPS_" drops every SOPS_ variable, "CI=" drops CI), for
	// a run that must not see the machine's identity or CI's.
	Unset []string

	// FixedClock sets CAROUSEL_NOW to Now, the suite's clock: expiry
	// warnings and the gates' clocks do not move with real time.
	FixedClock bool
	// NoCluster empties KUBECONFIG and gives the run a fresh HOME, so no
	// kubeconfig of the machine's is found: nothing reaches a cluster.
	NoCluster bool
	// AgeKey points SOPS_AGE_KEY_FILE at the demo age identity
	// (AgeKeyFile), which decrypts the examples' material.
	AgeKey bool
	// BinOnPath puts bin/ first on PATH, as for a user who ran `make
	// build`: exec functions that name `carousel` find this one.
	BinOnPath bool
}

// Result is what a run of carousel left.
type Result struct {
	// Stdout and Stderr are the two streams, each whole and in order.
	Stdout, Stderr string
	// Out is both streams as they arrived, as a terminal shows them. The
	// order between the two streams is only as good as two pipes give
	// (a write to one may land after a later write to the other): a test
	// that checks order reads Stdout or Stderr.
	Out string
	// Code is the exit code: 0 on success, -1 when a signal ended the run.
	Code int
	// Err is what exec returned: nil, or an *exec.ExitError.
	Err error
}

// NowEnv is the environment entry that fixes carousel's clock at Now.
func NowEnv() string { return "CAROUSEL_NOW=" + Now.Format(time.RFC3339) }

// BinFirstOnPath is the environment entry that puts bin/ first on PATH.
func BinFirstOnPath(t testing.TB) string {
	t.Helper()
	return "PATH=" + filepath.Join(Root(t), "bin") + string(os.PathListSeparator) + os.Getenv("PATH")
}

// Environ returns the environment a run of c gets: the test's, then the
// switches' entries, then c.Env.
func (c Cmd) Environ(t testing.TB) []string {
	t.Helper()
	var env []string
	for _, e := range os.Environ() {
		if !slices.ContainsFunc(c.Unset, func(p string) bool { return strings.HasPrefix(e, p) }) {
			env = append(env, e)
		}
	}
	if c.FixedClock {
		env = append(env, NowEnv())
	}
	if c.NoCluster {
		env = append(env, "KUBECONFIG=", "HOME="+t.TempDir())
	}
	if c.AgeKey {
		env = append(env, "SOPS_AGE_KEY_FILE="+filepath.Join(Root(t), AgeKeyFile))
	}
	if c.BinOnPath {
		env = append(env, BinFirstOnPath(t))
	}
	return append(env, c.Env...)
}

// Command returns the exec.Cmd of a run, for the tests that need the
// process itself (start several at once, run it under strace, kill it);
// the others call Run or Must.
func (c Cmd) Command(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	bin := c.Bin
	if bin == "" {
		bin = Carousel(t)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = c.Dir
	cmd.Env = c.Environ(t)
	if c.Stdin != nil {
		cmd.Stdin = bytes.NewReader(c.Stdin)
	}
	return cmd
}

// Run runs carousel with args and returns what it left, whatever its exit
// code; it fails the test only when carousel cannot be started.
func (c Cmd) Run(t testing.TB, args ...string) Result {
	t.Helper()
	cmd := c.Command(t, args...)
	var stdout, stderr bytes.Buffer
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = teeTo{&stdout, out}, teeTo{&stderr, out}
	err := cmd.Run()
	r := Result{Stdout: stdout.String(), Stderr: stderr.String(), Out: out.String(), Err: err}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.Code = exit.ExitCode()
	case err != nil:
		t.Fatalf("running carousel %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// Must is Run for a run that has to succeed: a non-zero exit fails the
// test, showing the arguments and the output.
func (c Cmd) Must(t testing.TB, args ...string) Result {
	t.Helper()
	r := c.Run(t, args...)
	if r.Err != nil {
		t.Fatalf("carousel %s: %v\n%s", strings.Join(args, " "), r.Err, r.Out)
	}
	return r
}

// teeTo writes to its stream's buffer and to the combined one.
type teeTo struct {
	own *bytes.Buffer
	all *lockedBuffer
}

func (w teeTo) Write(p []byte) (int, error) {
	w.own.Write(p)
	return w.all.Write(p)
}

// lockedBuffer is the combined stream, written from both streams' copiers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
