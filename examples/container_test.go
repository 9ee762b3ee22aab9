package examples

import (
	"debug/elf"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/fn/runtime/runtimeutil"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
)

// No Docker engine runs here: these tests check what can be checked of the
// container function without one.

func TestTheContainerFunctionAnnotationParses(t *testing.T) {
	t.Parallel()
	cfg, err := yaml.ReadFile(filepath.Join(testkit.Root(t), "examples", "container", "carousel.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	fs, err := runtimeutil.GetFunctionSpec(cfg)
	if err != nil || fs == nil {
		t.Fatalf("the function annotation does not parse: %v", err)
	}
	if !regexp.MustCompile(`^ghcr\.io/carousel-dev/carousel:v\d+\.\d+\.\d+$`).MatchString(fs.Container.Image) {
		t.Fatalf("the image must be pinned to a release tag, got %q", fs.Container.Image)
	}
	if fs.Container.Network {
		t.Fatal("the function needs no network: material comes in the ResourceList")
	}
}

func TestTheContainerExampleRendersWithTheSameBinary(t *testing.T) {
	t.Parallel()
	root := testkit.Root(t)
	tmp := t.TempDir()
	// The package references ../cluster-ca/material: copy both, side by side.
	for _, d := range []string{"container", "cluster-ca"} {
		if err := os.CopyFS(filepath.Join(tmp, d), os.DirFS(filepath.Join(root, "examples", d))); err != nil {
			t.Fatal(err)
		}
	}
	f := filepath.Join(tmp, "container", "carousel.yaml")
	b, _ := os.ReadFile(f)
	exec := regexp.MustCompile(`(?s)container:\n\s+image: \S+\n\s+network: false`).ReplaceAll(b, []byte("exec:\n        path: "+testkit.Carousel(t)))
	if err := os.WriteFile(f, exec, 0o644); err != nil {
		t.Fatal(err)
	}
	// At trust-new, so consumers carry the restart annotation (steady over
	// never-rotated material rolls nothing).
	testkit.SetPhase(t, filepath.Join(tmp, "container"), phases.TrustNew)
	out := string(testkit.KustomizeDir(t, filepath.Join(tmp, "container")))
	for _, want := range []string{"name: policy-webhook-tls", "name: cluster-ca-bundle", "carousel.dev/cluster-ca: "} {
		if !strings.Contains(out, want) {
			t.Errorf("the render lacks %q", want)
		}
	}
	if strings.Contains(out, "kind: KeyPair") {
		t.Error("material reached the output")
	}
	acceptedByServer(t, "examples/container", testkit.Parse(t, []byte(out)))
}

func TestTheBinaryIsStatic(t *testing.T) {
	t.Parallel()
	f, err := elf.Open(testkit.Carousel(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("bin/carousel has an ELF interpreter: it is not static and would not run on distroless/static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Fatalf("bin/carousel links %v", libs)
	}
}

func TestTheDockerfileBuildsWhatTheMakefileBuilds(t *testing.T) {
	t.Parallel()
	root := testkit.Root(t)
	docker, _ := os.ReadFile(filepath.Join(root, "Dockerfile"))
	makefile, _ := os.ReadFile(filepath.Join(root, "Makefile"))
	build := regexp.MustCompile(`CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github\.com/carousel-dev/carousel/fn\.version=\S+ -X github\.com/carousel-dev/carousel/fn\.commit=[^"]+" -o \S+ \./cmd/carousel`)
	if !build.Match(docker) || !build.Match(makefile) {
		t.Fatal("the Dockerfile and the Makefile must build ./cmd/carousel with the same static flags")
	}
	for _, want := range []string{"FROM golang:1.26", "FROM gcr.io/distroless/static-debian12:nonroot", "USER 65532:65532", `ENTRYPOINT ["/usr/local/bin/carousel"]`} {
		if !strings.Contains(string(docker), want) {
			t.Errorf("the Dockerfile lacks %q", want)
		}
	}
	if regexp.MustCompile(`(?m)^FROM \S+:latest`).Match(docker) {
		t.Error("a base image is not pinned")
	}
}
