package testkit

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// Now is the fixed clock of the tests: expiry warnings depend on it, so the
// suite does not change behaviour as real time passes.
var Now = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)

// Root returns the repository root.
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Tool returns the path of a tool installed by `make tools` into bin/.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(Root(t), "bin", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is not installed at %s: run `make tools` (or `make test`, which installs it)", name, p)
	}
	return p
}

// Carousel returns the carousel binary built by `make build`.
func Carousel(t testing.TB) string {
	t.Helper()
	p := filepath.Join(Root(t), "bin", "carousel")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("bin/carousel is missing: run `make build` (or `make test`)")
	}
	return p
}

// Package is an example package read from disk.
type Package struct {
	Dir    string
	Config *yaml.RNode
	Items  []*yaml.RNode
}

// Load reads every resource of an example directory (recursively, kustomization
// files aside) and its CARotation (the transformer config). A crds/
// directory holds the custom resource definitions of the system the
// example rotates for, installed before the package (installCRDs in
// examples/): they are not the package's resources.
func Load(t testing.TB, dir string) *Package {
	t.Helper()
	skip := func(rel string) bool { return strings.HasPrefix(filepath.ToSlash(rel), "crds/") }
	nodes, err := kio.LocalPackageReader{PackagePath: dir, OmitReaderAnnotations: true, MatchFilesGlob: []string{"*.yaml"}, FileSkipFunc: skip}.Read()
	if err != nil {
		t.Fatalf("reading %s: %v", dir, err)
	}
	p := &Package{Dir: dir}
	for _, n := range nodes {
		switch {
		case n.GetKind() == "Kustomization":
		case n.GetKind() == spec.Kind && n.GetApiVersion() == spec.APIVersion:
			p.Config = n
		default:
			p.Items = append(p.Items, n)
		}
	}
	if p.Config == nil {
		t.Fatalf("%s has no CARotation", dir)
	}
	return p
}

// WithPhase returns a copy of the config set to phase.
func (p *Package) WithPhase(t testing.TB, phase phases.Phase) *yaml.RNode {
	t.Helper()
	c := p.Config.Copy()
	if err := c.PipeE(yaml.Lookup("spec"), yaml.SetField("phase", yaml.NewStringRNode(string(phase)))); err != nil {
		t.Fatal(err)
	}
	return c
}

// CopyItems deep-copies the items, so renders do not share nodes.
func (p *Package) CopyItems() []*yaml.RNode {
	out := make([]*yaml.RNode, len(p.Items))
	for i, n := range p.Items {
		out[i] = n.Copy()
	}
	return out
}

// Render renders a phase in-process and fails the test on error results.
func (p *Package) Render(t testing.TB, phase phases.Phase) gen.Output {
	t.Helper()
	return p.render(t, p.WithPhase(t, phase), string(phase))
}

// render renders the items with cfg, the config set to a phase (and step)
// named what, and fails the test on error results. Render leaves spec.step
// unset, as a package at a phase's first step has it; RenderAt sets it.
func (p *Package) render(t testing.TB, cfg *yaml.RNode, what string) gen.Output {
	t.Helper()
	rot, err := spec.Load(cfg)
	if err != nil {
		t.Fatalf("loading the CARotation: %v", err)
	}
	out := gen.Render(gen.Input{Rotation: rot, Config: cfg, Items: p.CopyItems(), Now: Now})
	if out.Failed() {
		t.Fatalf("rendering %s failed: %v", what, out.Results)
	}
	return out
}

// Rotation loads (schema-checks, defaults, validates) the package's CARotation.
func (p *Package) Rotation(t testing.TB) *spec.CARotation {
	t.Helper()
	rot, err := spec.Load(p.Config)
	if err != nil {
		t.Fatalf("%s: loading the CARotation: %v", p.Dir, err)
	}
	return rot
}

// Positions lists every phase and step of the package's rotation in order.
func (p *Package) Positions(t testing.TB) []phases.Position {
	t.Helper()
	r := p.Rotation(t)
	path, err := phases.Path(r.Spec.Scope, r.Features())
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// FirstStep reports whether pos is the first (default) step of its phase.
func (p *Package) FirstStep(t testing.TB, pos phases.Position) bool {
	t.Helper()
	r := p.Rotation(t)
	steps, err := phases.Steps(r.Spec.Scope, pos.Phase, r.Features())
	if err != nil {
		t.Fatal(err)
	}
	return steps[0].Name == pos.Step
}

// WithPosition returns a copy of the config set to a phase and step.
func (p *Package) WithPosition(t testing.TB, pos phases.Position) *yaml.RNode {
	t.Helper()
	c := p.WithPhase(t, pos.Phase)
	if err := c.PipeE(yaml.Lookup("spec"), yaml.SetField("step", yaml.NewStringRNode(string(pos.Step)))); err != nil {
		t.Fatal(err)
	}
	return c
}

// RenderAt renders a position in-process; it fails the test on an error result.
func (p *Package) RenderAt(t testing.TB, pos phases.Position) gen.Output {
	t.Helper()
	return p.render(t, p.WithPosition(t, pos), pos.String())
}

// Phases lists the phases of the package's rotation.
func (p *Package) Phases(t testing.TB) []phases.Phase {
	t.Helper()
	seq, err := phases.Sequence(p.Rotation(t).Spec.Scope)
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

var phaseLine = regexp.MustCompile(`(?m)^(\s*phase:\s*)\S+`)
var stepLine = regexp.MustCompile(`(?m)^\s*step:\s*\S+\n`)
var execPath = regexp.MustCompile(`(?m)^(\s*path:\s*)\S*carousel(\s*#.*)?$`)

// Kustomize copies an example package to a temporary directory, sets its
// phase, points its exec function at bin/carousel, and runs the real
// `kustomize build --enable-alpha-plugins --enable-exec`. It returns stdout.
func Kustomize(t testing.TB, dir string, phase phases.Phase, env ...string) []byte {
	t.Helper()
	tmp := copyPackage(t, dir)
	SetPhase(t, tmp, phase)
	return KustomizeDir(t, tmp, env...)
}

// KustomizeAt is Kustomize at a phase and step.
func KustomizeAt(t testing.TB, dir string, pos phases.Position, env ...string) []byte {
	t.Helper()
	tmp := copyPackage(t, dir)
	SetPhase(t, tmp, pos.Phase)
	setStep(t, tmp, pos.Step)
	return KustomizeDir(t, tmp, env...)
}

// copyPackage copies the package in dir to a temporary directory.
func copyPackage(t testing.TB, dir string) string {
	t.Helper()
	tmp := t.TempDir()
	if err := os.CopyFS(tmp, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	return tmp
}

// setStep writes spec.step (on the line after spec.phase) into every
// CARotation file in dir.
func setStep(t testing.TB, dir string, step phases.Step) {
	t.Helper()
	editRotations(t, dir, func(b []byte) []byte {
		b = stepLine.ReplaceAll(b, nil)
		return phaseLine.ReplaceAllFunc(b, func(m []byte) []byte {
			indent := m[:len(m)-len(bytes.TrimLeft(m, " \t\n"))]
			indent = indent[bytes.LastIndexByte(append([]byte{'\n'}, indent...), '\n'):]
			out := append([]byte{}, m...) // m aliases b: never append to it
			return append(append(out, '\n'), append(append([]byte{}, indent...), "step: "+string(step)...)...)
		})
	})
}

// SetPhase rewrites spec.phase and the exec path of every CARotation file in dir.
func SetPhase(t testing.TB, dir string, phase phases.Phase) {
	t.Helper()
	bin := Carousel(t)
	editRotations(t, dir, func(b []byte) []byte {
		if phase != "" {
			b = phaseLine.ReplaceAll(b, []byte("${1}"+string(phase)))
		}
		return execPath.ReplaceAll(b, []byte("${1}"+bin))
	})
}

// editRotations rewrites every CARotation file below dir with edit.
func editRotations(t testing.TB, dir string, edit func([]byte) []byte) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil || !bytes.Contains(b, []byte("kind: "+spec.Kind)) {
			return err
		}
		return os.WriteFile(path, edit(b), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// KustomizeDir runs the real kustomize on dir as is.
func KustomizeDir(t testing.TB, dir string, env ...string) []byte {
	t.Helper()
	cmd := exec.Command(Tool(t, "kustomize"), "build", "--enable-alpha-plugins", "--enable-exec", dir)
	cmd.Env = append(append(os.Environ(), NowEnv()), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kustomize build %s: %v\n%s", dir, err, stderr.String())
	}
	return stdout.Bytes()
}

// Parse splits a multi-document YAML stream into nodes.
func Parse(t testing.TB, b []byte) []*yaml.RNode {
	t.Helper()
	nodes, err := (&kio.ByteReader{Reader: bytes.NewReader(b), OmitReaderAnnotations: true}).Read()
	if err != nil {
		t.Fatal(err)
	}
	return nodes
}

// Find returns the node of kind, namespace and name, or nil.
func Find(nodes []*yaml.RNode, kind, namespace, name string) *yaml.RNode {
	for _, n := range nodes {
		if n.GetKind() == kind && n.GetNamespace() == namespace && n.GetName() == name {
			return n
		}
	}
	return nil
}

// Examples lists the self-contained example packages: directories under
// examples/ holding a CARotation and their own material. (Packages that
// borrow another's material, like examples/container, have their own tests;
// so do those of backend cert-manager, examples/linkerd-cert-manager, whose
// later phases render only once a cluster's cert-manager has issued their
// CAs: examples/certmanager runs them with the real controllers.)
func Examples(t testing.TB) []string {
	t.Helper()
	root := filepath.Join(Root(t), "examples")
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		dir := filepath.Join(root, e.Name())
		_, errCfg := os.Stat(filepath.Join(dir, "carousel.yaml"))
		_, errMat := os.Stat(filepath.Join(dir, "material"))
		if errCfg == nil && errMat == nil && !CertManagerBackend(t, dir) {
			out = append(out, dir)
		}
	}
	if len(out) == 0 {
		t.Fatal("no example packages found")
	}
	return out
}

var certManagerBackend = regexp.MustCompile(`(?m)^\s*backend:\s*cert-manager\s*(#.*)?$`)

// CertManagerBackend reports whether the package in dir rotates with
// backend cert-manager.
func CertManagerBackend(t testing.TB, dir string) bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "carousel.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return certManagerBackend.Match(b)
}

// String formats nodes as one YAML stream.
func String(nodes []*yaml.RNode) string {
	var b bytes.Buffer
	if err := (kio.ByteWriter{Writer: &b}).Write(nodes); err != nil {
		panic(fmt.Sprintf("writing nodes: %v", err))
	}
	return b.String()
}

// ResourceList writes items and a function config as a ResourceList, the
// input a KRM function reads on stdin.
func ResourceList(t testing.TB, config *yaml.RNode, items []*yaml.RNode) []byte {
	t.Helper()
	var b bytes.Buffer
	w := kio.ByteWriter{Writer: &b, FunctionConfig: config, WrappingKind: kio.ResourceListKind, WrappingAPIVersion: kio.ResourceListAPIVersion}
	if err := w.Write(items); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// AgeKeyFile is the demo age identity the examples' material is encrypted
// to (relative to the repository root). It is test/demo material, committed
// on purpose and documented as such; never use it for a real cluster.
const AgeKeyFile = "hack/testdata/demo-age.key"

// Decrypt returns a decrypted copy of a SOPS-encrypted resource (a KeyPair
// or a rendered Secret), using the real sops binary and the demo age key.
// A resource without SOPS metadata is returned as a copy, unchanged.
func Decrypt(t testing.TB, n *yaml.RNode) *yaml.RNode {
	t.Helper()
	if n.Field("sops") == nil {
		return n.Copy()
	}
	plain, err := DecryptAs(t, filepath.Join(Root(t), AgeKeyFile), []byte(n.MustString()))
	if err != nil {
		t.Fatalf("sops --decrypt %s %s: %v\n%s", n.GetKind(), n.GetName(), err, plain)
	}
	out, err := yaml.Parse(string(plain))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// DecryptAs decrypts a SOPS-encrypted YAML document with the age identity
// file given (and no other: SOPS_AGE_KEY is cleared), the real sops. On
// failure it returns sops's output with the error, so a test can check
// that one identity cannot decrypt what another's recipients hold.
func DecryptAs(t testing.TB, identity string, doc []byte) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(Tool(t, "sops"), "--decrypt", "--input-type", "yaml", "--output-type", "yaml", "/dev/stdin")
	cmd.Stdin = bytes.NewReader(doc)
	cmd.Env = append(os.Environ(), "SOPS_AGE_KEY_FILE="+identity, "SOPS_AGE_KEY=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stderr.Bytes(), err
	}
	return stdout.Bytes(), nil
}
