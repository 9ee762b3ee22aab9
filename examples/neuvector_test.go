package examples

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
)

// The scheduled renewal of NeuVector's internal certificate, end to end:
// the run: steps of examples/neuvector/renew.yml on a git copy of the
// example, then the swap PR's phase through kustomize and NeuVector's own
// TLS checks between the certificate's holders.

// ghaWorkflow is what the test reads of a GitHub Actions workflow.
type ghaWorkflow struct {
	Env  map[string]string `yaml:"env"`
	Jobs map[string]struct {
		Steps []ghaStep `yaml:"steps"`
	} `yaml:"jobs"`
}

type ghaStep struct {
	Name string            `yaml:"name"`
	ID   string            `yaml:"id"`
	If   string            `yaml:"if"`
	Uses string            `yaml:"uses"`
	Run  string            `yaml:"run"`
	Env  map[string]string `yaml:"env"`
}

// ghaRun is what one run of the workflow's job did.
type ghaRun struct {
	ran     []string                     // names of the run: steps that ran
	outputs map[string]map[string]string // step id -> $GITHUB_OUTPUT
	gh      []string                     // gh's arguments, one per line ("" when not called)
	prBody  string                       // the --body-file gh was given
}

var ghaExpr = regexp.MustCompile(`\$\{\{\s*([^}]*?)\s*\}\}`)

// runWorkflowJob runs the run: steps of one job of a workflow the way a
// GitHub runner does (bash -eo pipefail, $GITHUB_OUTPUT, $RUNNER_TEMP, the
// workflow's and the step's env, if: conditions on step outputs), in repo,
// with the pinned tools of bin/ instead of the steps that install them.
// expr gives the value of every ${{ }} expression the env holds; an
// unknown one fails the test, so workflow and test stay in step. gh (the
// GitHub API, which cannot run here) is a script that records its
// arguments and the PR body; git, carousel, sops and kustomize are real.
func runWorkflowJob(t *testing.T, file, job, repo string, expr map[string]string, env ...string) ghaRun {
	t.Helper()
	var wf ghaWorkflow
	if err := yaml.Unmarshal(mustRead(t, file), &wf); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	steps := wf.Jobs[job].Steps
	if len(steps) == 0 {
		t.Fatalf("%s has no job %q with steps", file, job)
	}
	resolve := func(where, v string) string {
		return ghaExpr.ReplaceAllStringFunc(v, func(m string) string {
			e := ghaExpr.FindStringSubmatch(m)[1]
			val, ok := expr[e]
			if !ok {
				t.Fatalf("%s: the test does not know the expression %q: give it a value", where, e)
			}
			return val
		})
	}
	runnerTemp, record := t.TempDir(), t.TempDir()
	fake := filepath.Join(t.TempDir(), "gh")
	if err := os.Mkdir(fake, 0o755); err != nil {
		t.Fatal(err)
	}
	ghScript := `#!/bin/sh
printf '%s\n' "$@" >"$GH_RECORD/args"
while [ $# -gt 0 ]; do
  if [ "$1" = --body-file ]; then cp "$2" "$GH_RECORD/body"; fi
  shift
done
`
	if err := os.WriteFile(filepath.Join(fake, "gh"), []byte(ghScript), 0o755); err != nil {
		t.Fatal(err)
	}
	base := []string{
		"PATH=" + fake + string(os.PathListSeparator) + filepath.Join(testkit.Root(t), "bin") + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + t.TempDir(), "GIT_CONFIG_NOSYSTEM=1", "GH_RECORD=" + record,
		"RUNNER_TEMP=" + runnerTemp, "GITHUB_PATH=" + filepath.Join(runnerTemp, "github-path"),
	}
	for _, kv := range os.Environ() {
		// Only the workflow's secret may decrypt: drop the suite's identity.
		if !strings.HasPrefix(kv, "SOPS_AGE_KEY") && !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "HOME=") {
			base = append(base, kv)
		}
	}
	for k, v := range wf.Env {
		base = append(base, k+"="+resolve("env."+k, v))
	}
	base = append(base, env...)
	run := ghaRun{outputs: map[string]map[string]string{}}
	cond := regexp.MustCompile(`^steps\.([\w-]+)\.outputs\.([\w-]+) == 'true'$`)
	for i, st := range steps {
		if st.Uses != "" {
			continue // checkout and setup-go: repo is the checkout, Go is here
		}
		if strings.Contains(st.Run, "go install") {
			continue // the pinned tools are in bin/ (TestNeuVectorRenewWorkflowPinsTheSuitesTools)
		}
		if st.If != "" {
			m := cond.FindStringSubmatch(st.If)
			if m == nil {
				t.Fatalf("step %q: the test does not know the condition %q", st.Name, st.If)
			}
			if run.outputs[m[1]][m[2]] != "true" {
				continue
			}
		}
		out := filepath.Join(runnerTemp, fmt.Sprintf("output-%d", i))
		if err := os.WriteFile(out, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		stepEnv := append(slices.Clone(base), "GITHUB_OUTPUT="+out)
		for k, v := range st.Env {
			stepEnv = append(stepEnv, k+"="+resolve(fmt.Sprintf("step %q env.%s", st.Name, k), v))
		}
		cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", resolve(fmt.Sprintf("step %q run", st.Name), st.Run))
		cmd.Dir, cmd.Env = repo, stepEnv
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("step %q: %v\n%s", st.Name, err, b)
		}
		run.ran = append(run.ran, st.Name)
		if st.ID != "" {
			run.outputs[st.ID] = map[string]string{}
			for _, line := range strings.Split(string(mustRead(t, out)), "\n") {
				if k, v, ok := strings.Cut(line, "="); ok {
					run.outputs[st.ID][k] = v
				}
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(record, "args")); err == nil {
		run.gh = strings.Split(strings.TrimSpace(string(b)), "\n")
		run.prBody = string(mustRead(t, filepath.Join(record, "body")))
	}
	return run
}

// neuvectorRepo is a git repository holding a copy of examples/neuvector at
// examples/neuvector, brought to a state by prepare, committed on main and
// pushed to a local bare origin.
func neuvectorRepo(t *testing.T, prepare func(t *testing.T, pkg string)) (repo, origin string) {
	t.Helper()
	root := t.TempDir()
	origin, repo = filepath.Join(root, "origin.git"), filepath.Join(root, "repo")
	git(t, root, "init", "-q", "--bare", origin)
	git(t, root, "init", "-q", repo)
	pkg := filepath.Join(repo, "examples", "neuvector")
	if err := os.CopyFS(pkg, os.DirFS(filepath.Join(testkit.Root(t), "examples", "neuvector"))); err != nil {
		t.Fatal(err)
	}
	prepare(t, pkg)
	git(t, repo, "add", "-A")
	git(t, repo, "commit", "-q", "-m", "the repository before the job")
	git(t, repo, "remote", "add", "origin", origin)
	git(t, repo, "push", "-q", "origin", "main")
	return repo, origin
}

// withoutNewMaterial is a fresh install: only the current generation.
func withoutNewMaterial(t *testing.T, pkg string) {
	news, _ := filepath.Glob(filepath.Join(pkg, "material", "*-new.yaml"))
	for _, f := range news {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	kust := filepath.Join(pkg, "material", "kustomization.yaml")
	k := regexp.MustCompile(`(?m)^- \S*-new\.yaml\n`).ReplaceAll(mustRead(t, kust), nil)
	if err := os.WriteFile(kust, k, 0o644); err != nil {
		t.Fatal(err)
	}
}

// afterTheLastReissue is the example once its re-issue finished: reissue.
func afterTheLastReissue(t *testing.T, pkg string) { testkit.SetPhase(t, pkg, phases.Reissue) }

// atTheWallClock runs carousel with the demo age key, no cluster, and the
// wall clock (no FixedClock): carousel issues certificates at the wall
// clock, so a package made to expire soon is made now.
var atTheWallClock = testkit.Cmd{AgeKey: true, NoCluster: true}

// leafValidity sets the validity of the example's leaf (the line after its
// usages), not the CA's.
func leafValidity(t *testing.T, pkg, v string) {
	t.Helper()
	file := filepath.Join(pkg, "carousel.yaml")
	re := regexp.MustCompile(`(usages: \[server, client\]\n    validity: )\S+`)
	if !re.Match(mustRead(t, file)) {
		t.Fatalf("%s: no leaf validity after the usages", file)
	}
	if err := os.WriteFile(file, re.ReplaceAll(mustRead(t, file), []byte("${1}"+v)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// installedTenDaysBeforeExpiry is a fresh install, today, whose certificate
// was issued for 240h: it expires in 10 days, within renew's 720h. The spec
// asks for the example's 10 years again, which renew issues.
func installedTenDaysBeforeExpiry(t *testing.T, pkg string) {
	if err := os.RemoveAll(filepath.Join(pkg, "material")); err != nil {
		t.Fatal(err)
	}
	leafValidity(t, pkg, "240h")
	atTheWallClock.Must(t, "init", filepath.Join(pkg, "carousel.yaml"))
	leafValidity(t, pkg, "87600h")
}

// reissuedTenDaysBeforeExpiry is a finished re-issue (phase reissue) whose
// certificate in use was issued today for 240h.
func reissuedTenDaysBeforeExpiry(t *testing.T, pkg string) {
	installedTenDaysBeforeExpiry(t, pkg)
	leafValidity(t, pkg, "240h")
	atTheWallClock.Must(t, "start", "--scope", "leaf", filepath.Join(pkg, "carousel.yaml"))
	atTheWallClock.Must(t, "advance", "--no-cluster", filepath.Join(pkg, "carousel.yaml"))
	leafValidity(t, pkg, "87600h")
}

// TestNeuVectorRenewalOpensAPullRequestOnlyWhenDue runs the renewal job of
// examples/neuvector/renew.yml on a git copy of the example, from a fresh
// install and from a finished re-issue: with the committed certificates
// (10 years: not due) and with certificates issued today for 240h (due:
// they expire within the job's --before 720h). Not due: renew exits
// RENEW_NOTHING_DUE, no later step runs, nothing changes, no PR. Due: the
// job commits the new material on a branch, pushes it to origin and asks
// gh for a PR whose body holds the plan of the swap; the PR changes only
// the package, and what the cluster receives is byte-identical before and
// after it. Then the swap PR (carousel advance) renders reissue through
// kustomize, rolls exactly the holders, and every holder of either phase
// completes a NeuVector handshake with every other.
func TestNeuVectorRenewalOpensAPullRequestOnlyWhenDue(t *testing.T) {
	t.Parallel()
	root := testkit.Root(t)
	workflow := filepath.Join(root, "examples", "neuvector", "renew.yml")
	age := string(mustRead(t, filepath.Join(root, testkit.AgeKeyFile)))
	expr := map[string]string{
		"secrets.SOPS_AGE_KEY":                   age, // the demo key: it protects nothing
		"github.token":                           "token-of-the-test",
		"github.event.repository.default_branch": "main",
	}
	starts := []struct {
		name        string
		notDue, due func(t *testing.T, pkg string)
	}{
		{"a fresh install", withoutNewMaterial, installedTenDaysBeforeExpiry},
		{"after the last re-issue finished", afterTheLastReissue, reissuedTenDaysBeforeExpiry},
	}
	for _, start := range starts {
		t.Run(start.name, func(t *testing.T) {
			t.Parallel()
			t.Run("the certificate is not due: no pull request", func(t *testing.T) {
				repo, origin := neuvectorRepo(t, start.notDue)
				run := runWorkflowJob(t, workflow, "renew", repo, expr, "CAROUSEL_NOW="+testkit.Now.Format(time.RFC3339))
				if got := run.outputs["renew"]["due"]; got != "false" {
					t.Fatalf("renew step: due=%q, want false (ran %v)", got, run.ran)
				}
				if len(run.ran) != 1 || run.gh != nil {
					t.Fatalf("nothing due: only the renew step runs and gh is never called; ran %v, gh %v", run.ran, run.gh)
				}
				if st := git(t, repo, "status", "--porcelain"); st != "" {
					t.Fatalf("nothing due: the job changed the checkout:\n%s", st)
				}
				if heads := git(t, origin, "branch", "--format=%(refname:short)"); heads != "main" {
					t.Fatalf("nothing due: origin has branches %q, want only main", heads)
				}
			})
			t.Run("the certificate expires in 10 days: a pull request, then the swap", func(t *testing.T) {
				repo, origin := neuvectorRepo(t, start.due)
				pkg := filepath.Join(repo, "examples", "neuvector")
				// carousel issues at the wall clock: the whole run is now.
				clock := time.Now().UTC().Truncate(time.Second)
				now := "CAROUSEL_NOW=" + clock.Format(time.RFC3339)
				before := testkit.KustomizeDir(t, pkg, now)

				run := runWorkflowJob(t, workflow, "renew", repo, expr, now)
				if got := run.outputs["renew"]["due"]; got != "true" {
					t.Fatalf("renew step: due=%q, want true (ran %v)", got, run.ran)
				}
				if len(run.gh) < 6 || run.gh[0] != "pr" || run.gh[1] != "create" || !slices.Contains(run.gh, "--head") {
					t.Fatalf("want gh pr create --base main --head BRANCH ..., got %q", run.gh)
				}
				branch := run.gh[slices.Index(run.gh, "--head")+1]
				if base := run.gh[slices.Index(run.gh, "--base")+1]; base != "main" {
					t.Errorf("the PR's base is %q, want main", base)
				}
				if !strings.Contains(run.prBody, "== Next: steady -> reissue") || !strings.Contains(run.prBody, "neuvector-enforcer-pod") {
					t.Errorf("the PR body must carry the plan of the swap (steady -> reissue, rolling the holders):\n%s", run.prBody)
				}
				if got := git(t, origin, "rev-parse", branch); got != git(t, repo, "rev-parse", "HEAD") {
					t.Fatalf("origin's %s is %s, want the job's commit", branch, got)
				}
				changed := strings.Fields(git(t, repo, "diff", "--name-only", "main", branch))
				if !slices.Contains(changed, "examples/neuvector/material/leaf-internal-new.yaml") {
					t.Errorf("the renewal PR must add the re-issued certificate, changes %v", changed)
				}
				for _, f := range changed {
					if !strings.HasPrefix(f, "examples/neuvector/material/") && f != "examples/neuvector/carousel.yaml" {
						t.Errorf("the renewal PR changes %s: want only the package's material (and its phase)", f)
					}
				}
				// The repository's PR check (examples/ci/pr-check.yaml) on the
				// renewal PR: renew's material may merge as it is.
				if r := (testkit.Cmd{Dir: repo, AgeKey: true, Env: []string{now}}).Run(t, "check", "examples/neuvector/carousel.yaml", "--base", "main"); r.Err != nil {
					t.Errorf("carousel check --base main refuses the renewal PR: %v\n%s", r.Err, r.Out)
				}
				after := testkit.KustomizeDir(t, pkg, now)
				if !bytes.Equal(before, after) {
					t.Errorf("the renewal PR must change nothing the cluster receives:\n%s", testkit.Diff("before", "after", before, after))
				}

				// The next PR: the swap.
				testkit.Cmd{NoCluster: true, Env: []string{now}}.Must(t, "advance", "--no-cluster", filepath.Join(pkg, "carousel.yaml"))
				reissue := testkit.KustomizeDir(t, pkg, now)
				steadyObjs, reissueObjs := testkit.Parse(t, after), testkit.Parse(t, reissue)
				checkOnlyHoldersRoll(t, steadyObjs, reissueObjs)
				old, renewed := nvHolders(t, "steady", steadyObjs), nvHolders(t, "reissue", reissueObjs)
				if o, n := old[0].leaf(t), renewed[0].leaf(t); o.Equal(n) || !n.NotAfter.After(clock.Add(720*time.Hour)) {
					t.Fatalf("reissue must serve a renewed certificate (steady's expires %s, reissue's %s)", o.NotAfter, n.NotAfter)
				}
				tried := 0
				for _, servers := range [][]nvHolder{old, renewed} {
					for _, clients := range [][]nvHolder{old, renewed} {
						for _, s := range servers {
							for _, c := range clients {
								tried++
								if err := nvHandshake(s, c, clock); err != nil {
									t.Errorf("%s (server) <- %s (client): %v", s.name, c.name, err)
								}
							}
						}
					}
				}
				if tried != 36 {
					t.Fatalf("tried %d handshakes, want 36 (3 holders x 2 phases, each way)", tried)
				}
			})
		})
	}
}

// checkOnlyHoldersRoll: between steady and reissue the holders' pod
// templates change (their restart annotation), the manager's does not.
func checkOnlyHoldersRoll(t *testing.T, steady, reissue []*yaml.RNode) {
	t.Helper()
	var rolled []string
	for _, n := range reissue {
		if n.GetKind() != "Deployment" && n.GetKind() != "DaemonSet" {
			continue
		}
		was := testkit.Find(steady, n.GetKind(), n.GetNamespace(), n.GetName())
		if was == nil {
			t.Fatalf("steady has no %s %s", n.GetKind(), n.GetName())
		}
		if was.MustString() != n.MustString() {
			rolled = append(rolled, n.GetName())
		}
	}
	slices.Sort(rolled) // kustomize orders by kind
	if want := []string{"neuvector-controller-pod", "neuvector-enforcer-pod", "neuvector-scanner-pod"}; !slices.Equal(rolled, want) {
		t.Fatalf("reissue changes the templates of %v, want exactly the holders %v (never the manager)", rolled, want)
	}
}

// nvHolder is a NeuVector component as it sees its internal certificate:
// the files of /etc/neuvector/certs/internal (cert.pem, cert.key, ca.cert:
// NeuVector's share/cluster constants), resolved from its pod spec's
// volumes and subPath mounts in a rendered phase.
type nvHolder struct {
	name  string
	files map[string][]byte
}

const nvCertDir = "/etc/neuvector/certs/internal/"

func (h nvHolder) leaf(t *testing.T) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(h.files["cert.pem"])
	if block == nil {
		t.Fatalf("%s: cert.pem is not PEM", h.name)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// nvHolders resolves the internal-certificate files of every workload of a
// rendered phase that mounts any (decrypting Secrets with the real sops),
// and requires them to be the controller, the enforcer and the scanner.
func nvHolders(t *testing.T, phase string, objs []*yaml.RNode) []nvHolder {
	t.Helper()
	var out []nvHolder
	for _, n := range objs {
		if n.GetKind() != "Deployment" && n.GetKind() != "DaemonSet" {
			continue
		}
		h := nvHolder{name: phase + "/" + n.GetName(), files: map[string][]byte{}}
		volumes := map[string]string{} // volume -> Secret
		vols, _ := n.Pipe(yaml.Lookup("spec", "template", "spec", "volumes"))
		if vols != nil {
			els, _ := vols.Elements()
			for _, v := range els {
				if s, _ := v.Pipe(yaml.Lookup("secret", "secretName")); s != nil {
					volumes[yaml.GetValue(v.Field("name").Value)] = yaml.GetValue(s)
				}
			}
		}
		containers, _ := n.Pipe(yaml.Lookup("spec", "template", "spec", "containers"))
		cs, _ := containers.Elements()
		for _, c := range cs {
			mounts, _ := c.Pipe(yaml.Lookup("volumeMounts"))
			if mounts == nil {
				continue
			}
			ms, _ := mounts.Elements()
			for _, m := range ms {
				path := yaml.GetValue(m.Field("mountPath").Value)
				if !strings.HasPrefix(path, nvCertDir) {
					continue
				}
				secret, ok := volumes[yaml.GetValue(m.Field("name").Value)]
				sub := m.Field("subPath")
				if !ok || sub == nil {
					t.Fatalf("%s: %s is not a subPath of a Secret volume", h.name, path)
				}
				s := testkit.Find(objs, "Secret", n.GetNamespace(), secret)
				if s == nil {
					t.Fatalf("%s mounts Secret %s, which the phase does not render", h.name, secret)
				}
				v, _ := testkit.Decrypt(t, s).Pipe(yaml.Lookup("data", yaml.GetValue(sub.Value)))
				if v == nil {
					t.Fatalf("%s: Secret %s has no key %s", h.name, secret, yaml.GetValue(sub.Value))
				}
				b, err := base64.StdEncoding.DecodeString(yaml.GetValue(v))
				if err != nil {
					t.Fatal(err)
				}
				h.files[strings.TrimPrefix(path, nvCertDir)] = b
			}
		}
		if len(h.files) > 0 {
			out = append(out, h)
		}
	}
	slices.SortFunc(out, func(a, b nvHolder) int { return strings.Compare(a.name, b.name) }) // kustomize orders by kind
	var names []string
	for _, h := range out {
		names = append(names, strings.TrimPrefix(h.name, phase+"/"))
		for _, f := range []string{"cert.pem", "cert.key", "ca.cert"} {
			if h.files[f] == nil {
				t.Fatalf("%s has no %s%s", h.name, nvCertDir, f)
			}
		}
	}
	if want := []string{"neuvector-controller-pod", "neuvector-enforcer-pod", "neuvector-scanner-pod"}; !slices.Equal(names, want) {
		t.Fatalf("%s: the internal certificate's holders are %v, want %v (never the manager)", phase, names, want)
	}
	return out
}

// nvTLS is one side of NeuVector's internal gRPC TLS (share/cluster/grpc.go):
// its certificate and key, the pool of ca.cert, and its own certificate's
// common name, which the peer's first DNS name must equal.
func nvTLS(h nvHolder) (tls.Certificate, *x509.CertPool, string, error) {
	pair, err := tls.X509KeyPair(h.files["cert.pem"], h.files["cert.key"])
	if err != nil {
		return tls.Certificate{}, nil, "", fmt.Errorf("%s: %w", h.name, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(h.files["ca.cert"]) {
		return tls.Certificate{}, nil, "", fmt.Errorf("%s: ca.cert holds no certificate", h.name)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return tls.Certificate{}, nil, "", err
	}
	return pair, pool, leaf.Subject.CommonName, nil
}

// nvVerify is NeuVector's peer check: the chain against ca.cert
// (advancedtls CertVerification: no host name), then the peer's first DNS
// name equal to the local common name.
func nvVerify(roots *x509.CertPool, cn string, usage x509.ExtKeyUsage, now time.Time) func([][]byte, [][]*x509.Certificate) error {
	return func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errors.New("no peer certificate")
		}
		peer, err := x509.ParseCertificate(raw[0])
		if err != nil {
			return err
		}
		if _, err := peer.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			return err
		}
		if len(peer.DNSNames) == 0 || peer.DNSNames[0] != cn {
			return fmt.Errorf("server name is invalid: %v (NeuVector wants the first DNS name to be %q)", peer.DNSNames, cn)
		}
		return nil
	}
}

// nvHandshake runs one mutual-TLS handshake over loopback between a server
// and a client holder, each checking the other the way NeuVector does.
func nvHandshake(server, client nvHolder, now time.Time) error {
	sCert, sRoots, sCN, err := nvTLS(server)
	if err != nil {
		return err
	}
	cCert, cRoots, cCN, err := nvTLS(client)
	if err != nil {
		return err
	}
	clock := func() time.Time { return now }
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	serverErr := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			serverErr <- err
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		tc := tls.Server(conn, &tls.Config{
			Certificates: []tls.Certificate{sCert}, ClientAuth: tls.RequireAnyClientCert, Time: clock, MinVersion: tls.VersionTLS12,
			VerifyPeerCertificate: nvVerify(sRoots, sCN, x509.ExtKeyUsageClientAuth, now),
		})
		err = tc.Handshake()
		if err == nil {
			buf := make([]byte, 4)
			if _, err = tc.Read(buf); err == nil {
				_, err = tc.Write(buf)
			}
		}
		serverErr <- err
	}()
	conn, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		return err
	}
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	tc := tls.Client(conn, &tls.Config{
		Certificates: []tls.Certificate{cCert}, Time: clock, MinVersion: tls.VersionTLS12,
		InsecureSkipVerify:    true, //nolint:gosec // NeuVector verifies the chain, not a host name: nvVerify does
		VerifyPeerCertificate: nvVerify(cRoots, cCN, x509.ExtKeyUsageServerAuth, now),
	})
	clientErr := tc.Handshake()
	if clientErr == nil {
		if _, clientErr = tc.Write([]byte("ping")); clientErr == nil {
			_, clientErr = tc.Read(make([]byte, 4))
		}
	}
	tc.Close()
	sErr := <-serverErr
	if clientErr != nil || sErr != nil {
		return fmt.Errorf("client: %v; server: %v", clientErr, sErr)
	}
	return nil
}

// TestTheNeuVectorHandshakeRefusesWhatNeuVectorRefuses keeps the harness
// above honest: a certificate of the example's CA whose first DNS name is
// not its common name (the shape the preset had before: CN neuvector,
// dnsNames [neuvector-svc-controller.neuvector]), and one of another CA,
// both fail against a holder of the example.
func TestTheNeuVectorHandshakeRefusesWhatNeuVectorRefuses(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(testkit.Root(t), "examples", "neuvector")
	holders := nvHolders(t, "steady", testkit.Parse(t, testkit.Kustomize(t, dir, phases.Steady)))
	items := testkit.Load(t, dir).Items
	i := slices.IndexFunc(items, func(n *yaml.RNode) bool { return n.GetName() == "neuvector-ca-old" })
	if i < 0 {
		t.Fatal("examples/neuvector has no KeyPair neuvector-ca-old")
	}
	caPair := testkit.Decrypt(t, items[i])
	caCert, _ := pem.Decode([]byte(yaml.GetValue(caPair.Field("certificate").Value)))
	keyNode, _ := caPair.Pipe(yaml.Lookup("data", "tls.key"))
	if caCert == nil || keyNode == nil {
		t.Fatal("the example's CA KeyPair has no certificate or tls.key")
	}
	ca, err := x509.ParseCertificate(caCert.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := []byte(yaml.GetValue(keyNode))
	if b, err := base64.StdEncoding.DecodeString(yaml.GetValue(keyNode)); err == nil {
		keyPEM = b
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		t.Fatal("the CA key is not PEM")
	}
	signer, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	otherCA, otherKey := selfSignedCA(t)
	tests := []struct {
		name    string
		cn      string
		dns     []string
		parent  *x509.Certificate
		key     *ecdsa.PrivateKey
		refusal string
	}{
		{"the first DNS name is not the common name", "neuvector", []string{"neuvector-svc-controller.neuvector"}, ca, signer, "server name is invalid"},
		{"another CA signed it", "neuvector.internal", []string{"neuvector.internal"}, otherCA, otherKey, "unknown authority"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := nvHolder{name: "bad", files: map[string][]byte{"ca.cert": holders[0].files["ca.cert"]}}
			bad.files["cert.pem"], bad.files["cert.key"] = issue(t, tt.cn, tt.dns, tt.parent, tt.key)
			for _, h := range holders {
				if err := nvHandshake(h, bad, testkit.Now); err == nil || !strings.Contains(err.Error(), tt.refusal) {
					t.Errorf("%s (server) <- bad client: want %q, got %v", h.name, tt.refusal, err)
				}
				if err := nvHandshake(bad, h, testkit.Now); err == nil || !strings.Contains(err.Error(), tt.refusal) {
					t.Errorf("bad server <- %s (client): want %q, got %v", h.name, tt.refusal, err)
				}
			}
		})
	}
}

func selfSignedCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "another CA"},
		NotBefore: testkit.Now.Add(-time.Hour), NotAfter: testkit.Now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, key
}

// issue makes a server-and-client leaf under parent, PEM certificate and key.
func issue(t *testing.T, cn string, dns []string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) ([]byte, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: cn}, DNSNames: dns,
		NotBefore: testkit.Now.Add(-time.Hour), NotAfter: testkit.Now.Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// TestNeuVectorRenewWorkflowPinsTheSuitesTools: the job installs the
// versions of sops and kustomize the suite runs it with (hack/tools.sh),
// and sops at all: renew encrypts the new key with it.
func TestNeuVectorRenewWorkflowPinsTheSuitesTools(t *testing.T) {
	t.Parallel()
	root := testkit.Root(t)
	var wf ghaWorkflow
	if err := yaml.Unmarshal(mustRead(t, filepath.Join(root, "examples", "neuvector", "renew.yml")), &wf); err != nil {
		t.Fatal(err)
	}
	tools := string(mustRead(t, filepath.Join(root, "hack", "tools.sh")))
	for env, tool := range map[string]string{"SOPS_VERSION": "sops", "KUSTOMIZE_VERSION": "kustomize"} {
		if pin := fmt.Sprintf("%q", tool+" "+wf.Env[env]+" "+tool); wf.Env[env] == "" || !strings.Contains(tools, pin) {
			t.Errorf("renew.yml's %s=%q is not hack/tools.sh's pin of %s", env, wf.Env[env], tool)
		}
	}
	var install string
	for _, st := range wf.Jobs["renew"].Steps {
		if strings.Contains(st.Run, "go install") {
			install += st.Run
		}
	}
	for _, pkg := range []string{"carousel-dev/carousel/cmd/carousel@$CAROUSEL_VERSION", "getsops/sops/v3/cmd/sops@$SOPS_VERSION", "kustomize/kustomize/v5@$KUSTOMIZE_VERSION"} {
		if !strings.Contains(install, pkg) {
			t.Errorf("the job does not install %s", pkg)
		}
	}
}
