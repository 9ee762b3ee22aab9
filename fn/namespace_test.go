package fn

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/gen"
)

// TestANamespaceTransformerBesideCarouselIsRefusedAndAnOverlayWorks: kustomize
// applies a kustomization's namespace: to its resources before its
// transformers, so beside carousel it moves the workloads away from the
// Secret and bundle the rotation renders: nothing would ever roll. The
// real kustomize build fails naming the workload and the fix; the fix (the
// same namespace: in an overlay over the package) moves the rendered
// objects with the workloads, and they roll.
func TestANamespaceTransformerBesideCarouselIsRefusedAndAnOverlayWorks(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "app")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(testkit.Root(t), "examples", "kpt"))); err != nil {
		t.Fatal(err)
	}
	testkit.SetPhase(t, dir, "trust-new")
	kz := filepath.Join(dir, "kustomization.yaml")
	base, err := os.ReadFile(kz)
	if err != nil {
		t.Fatal(err)
	}
	build := func(d string) (string, string, error) {
		cmd := exec.Command(testkit.Tool(t, "kustomize"), "build", "--enable-alpha-plugins", "--enable-exec", d)
		cmd.Env = append(os.Environ(), NowEnv+"=2027-01-01T00:00:00Z", "SOPS_AGE_KEY_FILE="+filepath.Join(testkit.Root(t), testkit.AgeKeyFile))
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		return o.String(), e.String(), err
	}

	if err := os.WriteFile(kz, append(bytes.Clone(base), "namespace: prod\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := build(dir)
	if err == nil || !strings.Contains(stderr, "Deployment api was moved from namespace app to prod by kustomize's namespace:") || !strings.Contains(stderr, "Move namespace: to an overlay") {
		t.Fatalf("namespace: beside carousel must fail the build naming the workload and the fix: %v\n%s", err, stderr)
	}

	if err := os.WriteFile(kz, base, 0o644); err != nil {
		t.Fatal(err)
	}
	overlay := filepath.Join(t.TempDir(), "prod")
	if err := os.MkdirAll(overlay, 0o755); err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(overlay, dir)
	if err := os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte("resources:\n- "+rel+"\nnamespace: prod\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := build(overlay)
	if err != nil {
		t.Fatalf("the overlay must build: %v\n%s", err, stderr)
	}
	nodes := testkit.Parse(t, []byte(out))
	if testkit.Find(nodes, "Secret", "prod", "api-tls") == nil || testkit.Find(nodes, "ConfigMap", "prod", "app-trust") == nil {
		t.Fatalf("the overlay must move the rendered Secret and bundle to prod:\n%s", out)
	}
	api := testkit.Find(nodes, "Deployment", "prod", "api")
	if api == nil {
		t.Fatal("no Deployment prod/api")
	}
	if v, _ := api.Pipe(yaml.Lookup("spec", "template", "metadata", "annotations", gen.RestartAnnotation("app-tls"))); v == nil {
		t.Fatalf("the moved Deployment must roll at trust-new:\n%s", api.MustString())
	}
}
