package examples

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/apiserver"
	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
)

const (
	fluxSync = "examples/flux/clusters/production/carousel.yaml"
	// fluxMeshSync applies examples/linkerd-cert-manager (cluster "mesh").
	fluxMeshSync = "examples/flux/clusters/mesh/carousel.yaml"
	// fluxKustomizeController is the kustomize-controller whose CRD the Flux
	// CLI v2.9.5 (hack/tools.sh) is built against: its go.mod requires
	// github.com/fluxcd/kustomize-controller/api v1.9.5.
	fluxKustomizeController = "github.com/fluxcd/kustomize-controller@v1.9.5"
	pruneAnnotation         = "kustomize.toolkit.fluxcd.io/prune"
)

var workloadKinds = map[string]bool{"Deployment": true, "StatefulSet": true, "DaemonSet": true, "ReplicaSet": true, "Job": true, "CronJob": true, "Pod": true}

// render runs examples/flux/render.sh (the CI step of the Flux example)
// with a render.conf and an output directory.
func render(t *testing.T, conf, out string) {
	t.Helper()
	root := testkit.Root(t)
	cmd := exec.Command(filepath.Join(root, "examples/flux/render.sh"))
	// The packages run `carousel` from PATH: bin/ first.
	cmd.Env = append(os.Environ(), "KUSTOMIZE="+testkit.Tool(t, "kustomize"), "RENDER_CONF="+conf, "OUT="+out,
		"PATH="+filepath.Join(root, "bin")+":"+os.Getenv("PATH"))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("examples/flux/render.sh: %v\n%s", err, b)
	}
}

// TestFluxRenderedManifestsAreCurrent fails when the committed rendered
// directory is not what the render step makes from the committed packages:
// Flux would apply a stale phase.
func TestFluxRenderedManifestsAreCurrent(t *testing.T) {
	t.Parallel()
	root := testkit.Root(t)
	testkit.Carousel(t) // the packages run bin/carousel (first on PATH)
	out := t.TempDir()
	render(t, filepath.Join(root, "examples/flux/render.conf"), out)
	want := readTree(t, out)
	got := readTree(t, filepath.Join(root, "examples/flux/rendered"))
	for name, w := range want {
		if g, ok := got[name]; !ok || !bytes.Equal(g, w) {
			t.Errorf("examples/flux/rendered/%s is stale or missing: run `make flux-render`", name)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("examples/flux/rendered/%s is not rendered any more: run `make flux-render`", name)
		}
	}
}

func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		rel, _ := filepath.Rel(dir, path)
		out[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// fluxBuild builds path as Flux's kustomize-controller would for the
// Kustomization name of fluxSync, offline: bin/flux-build, carousel's harness
// over the controller's own build code (fluxcd/pkg/kustomize's generator,
// SecureBuild and post-build substitution, fluxcd/pkg/ssa's owner labels).
func fluxBuild(t *testing.T, name, path string) ([]byte, error) {
	return fluxBuildFrom(t, fluxSync, name, path)
}

// fluxBuildFrom is fluxBuild with the Kustomization taken from sync.
func fluxBuildFrom(t *testing.T, sync, name, path string) ([]byte, error) {
	t.Helper()
	return fluxBuildFile(t, filepath.Join(testkit.Root(t), sync), name, path)
}

// fluxBuildFile is fluxBuild with the Kustomization taken from file, an
// absolute path.
func fluxBuildFile(t *testing.T, file, name, path string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(testkit.Tool(t, "flux-build"), "-name", name, "-path", path, "-kustomization", file)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.Bytes(), &exec.ExitError{ProcessState: cmd.ProcessState, Stderr: stderr.Bytes()}
	}
	return stdout.Bytes(), nil
}

// TestFluxAppliesEveryRenderedPhase renders every phase the way CI does and
// builds both Flux Kustomizations with Flux's own build code: the material holds
// no workload and every SOPS-encrypted Secret (which Flux recognizes and
// masks), the workloads hold only workloads, the old CA Secret is
// prune-protected exactly while it is trusted, and the real sops decrypts
// every Secret of the committed-style output to a key matching its
// certificate (what Flux's decryption.provider: sops does at apply time).
func TestFluxAppliesEveryRenderedPhase(t *testing.T) {
	t.Parallel()
	root := testkit.Root(t)
	src := filepath.Join(root, "examples/cluster-ca")
	protected := map[phases.Phase]string{phases.Steady: "disabled", phases.TrustNew: "disabled", phases.SignNew: "disabled", phases.DistrustOld: "", phases.Cleanup: "absent"}
	for _, phase := range testkit.Load(t, src).Phases(t) {
		t.Run(string(phase), func(t *testing.T) {
			tmp := t.TempDir()
			pkg := filepath.Join(tmp, "cluster-ca")
			if err := os.CopyFS(pkg, os.DirFS(src)); err != nil {
				t.Fatal(err)
			}
			testkit.SetPhase(t, pkg, phase)
			conf := filepath.Join(tmp, "render.conf")
			if err := os.WriteFile(conf, []byte("production cluster-ca\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(tmp, "rendered")
			render(t, conf, out)

			matDir := filepath.Join(out, "production/material")
			b, err := fluxBuild(t, "carousel-material", matDir)
			if err != nil {
				t.Fatalf("flux build carousel-material: %v\n%s", err, err.(*exec.ExitError).Stderr)
			}
			material := testkit.Parse(t, b)
			committed := testkit.Parse(t, mustRead(t, filepath.Join(matDir, "resources.yaml")))
			encrypted := 0
			for _, n := range committed {
				if n.Field("sops") == nil {
					continue
				}
				encrypted++
				checkDecryptedKeyPair(t, testkit.Decrypt(t, n))
				built := testkit.Find(material, n.GetKind(), n.GetNamespace(), n.GetName())
				// The build keeps what the controller's decryptor needs: the
				// sops metadata and the encrypted value, untouched.
				if built == nil || built.Field("sops") == nil || built.GetDataMap()["tls.key"] != n.GetDataMap()["tls.key"] {
					t.Errorf("Flux's build does not carry %s/%s SOPS-encrypted as committed", n.GetNamespace(), n.GetName())
				}
			}
			if encrypted == 0 {
				t.Fatal("the rendered material holds no SOPS-encrypted Secret")
			}
			for _, n := range material {
				if workloadKinds[n.GetKind()] {
					t.Errorf("the material holds workload %s %s/%s", n.GetKind(), n.GetNamespace(), n.GetName())
				}
				if n.GetLabels()["kustomize.toolkit.fluxcd.io/name"] != "carousel-material" {
					t.Errorf("%s %s/%s lacks Flux's ownership label", n.GetKind(), n.GetNamespace(), n.GetName())
				}
			}
			old := testkit.Find(material, "Secret", "kube-system", "cluster-ca-g1") // the old CA's, by its CA ID
			got := "absent"
			if old != nil {
				got = old.GetAnnotations()[pruneAnnotation]
			}
			if got != protected[phase] {
				t.Errorf("the old CA Secret's %s is %q, want %q", pruneAnnotation, got, protected[phase])
			}

			b, err = fluxBuild(t, "carousel-workloads", filepath.Join(out, "production/workloads"))
			if err != nil {
				t.Fatalf("flux build carousel-workloads: %v\n%s", err, err.(*exec.ExitError).Stderr)
			}
			workloads := testkit.Parse(t, b)
			if len(workloads) == 0 {
				t.Fatal("the workloads build is empty")
			}
			for _, n := range workloads {
				if !workloadKinds[n.GetKind()] {
					t.Errorf("the workloads hold %s %s/%s, which belongs to the material", n.GetKind(), n.GetNamespace(), n.GetName())
				}
			}
		})
	}
}

// TestFluxAppliesTheCertManagerMeshInTwoSteps builds the committed render of
// examples/linkerd-cert-manager (cluster "mesh") with Flux's own build code:
// linkerd-material holds every cert-manager and trust-manager object and no
// workload, linkerd-workloads only the workloads, so the workloads'
// dependsOn + wait orders them after the issuers (examples/certmanager
// checks the wait itself against the real controllers' status).
func TestFluxAppliesTheCertManagerMeshInTwoSteps(t *testing.T) {
	t.Parallel()
	root := testkit.Root(t)
	b, err := fluxBuildFrom(t, fluxMeshSync, "linkerd-material", filepath.Join(root, "examples/flux/rendered/mesh/material"))
	if err != nil {
		t.Fatalf("flux build linkerd-material: %v\n%s", err, err.(*exec.ExitError).Stderr)
	}
	kinds := map[string]int{}
	for _, n := range testkit.Parse(t, b) {
		kinds[n.GetKind()]++
		if workloadKinds[n.GetKind()] {
			t.Errorf("linkerd-material holds workload %s %s/%s", n.GetKind(), n.GetNamespace(), n.GetName())
		}
		if n.GetLabels()["kustomize.toolkit.fluxcd.io/name"] != "linkerd-material" {
			t.Errorf("%s %s/%s lacks Flux's ownership label", n.GetKind(), n.GetNamespace(), n.GetName())
		}
		if strings.Contains(n.MustString(), "PRIVATE KEY") {
			t.Errorf("%s %s/%s holds a private key", n.GetKind(), n.GetNamespace(), n.GetName())
		}
	}
	for _, k := range []string{"Certificate", "ClusterIssuer", "Bundle"} {
		if kinds[k] == 0 {
			t.Errorf("linkerd-material holds no %s (kinds: %v)", k, kinds)
		}
	}
	b, err = fluxBuildFrom(t, fluxMeshSync, "linkerd-workloads", filepath.Join(root, "examples/flux/rendered/mesh/workloads"))
	if err != nil {
		t.Fatalf("flux build linkerd-workloads: %v\n%s", err, err.(*exec.ExitError).Stderr)
	}
	workloads := testkit.Parse(t, b)
	if testkit.Find(workloads, "Deployment", "linkerd", "linkerd-identity") == nil {
		t.Error("linkerd-workloads does not roll linkerd-identity")
	}
	for _, n := range workloads {
		if !workloadKinds[n.GetKind()] {
			t.Errorf("linkerd-workloads holds %s %s/%s, which belongs to the material", n.GetKind(), n.GetNamespace(), n.GetName())
		}
	}
}

// TestFluxCannotRunTheFunction shows why the Flux example renders in CI:
// Flux builds a directory holding an exec KRM function only with an error.
func TestFluxCannotRunTheFunction(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(testkit.Root(t), "examples/cluster-ca"))); err != nil {
		t.Fatal(err)
	}
	testkit.SetPhase(t, dir, "")
	_, err := fluxBuild(t, "carousel-material", dir)
	if err == nil {
		t.Fatal("flux built a package with an exec function; the rendered-manifests step would be unnecessary")
	}
	if msg := string(err.(*exec.ExitError).Stderr); !strings.Contains(msg, "plugin") {
		t.Fatalf("flux failed for another reason than the disabled plugins: %s", msg)
	}
}

func checkDecryptedKeyPair(t *testing.T, n *yaml.RNode) {
	t.Helper()
	data := n.GetDataMap()
	crt, err1 := base64.StdEncoding.DecodeString(data["tls.crt"])
	key, err2 := base64.StdEncoding.DecodeString(data["tls.key"])
	if err1 != nil || err2 != nil {
		t.Fatalf("%s/%s: undecodable data after sops -d: %v %v", n.GetNamespace(), n.GetName(), err1, err2)
	}
	if _, err := tls.X509KeyPair(crt, key); err != nil {
		t.Errorf("%s/%s: the decrypted key does not match the certificate: %v", n.GetNamespace(), n.GetName(), err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFluxKustomizationsAreAcceptedByTheAPIServer applies Flux's real
// Kustomization CRD to the test API server, then the example's Flux
// Kustomizations (dry run and for real), and checks the server refuses a
// broken one: the CRD's schema is enforced, not just stored.
func TestFluxKustomizationsAreAcceptedByTheAPIServer(t *testing.T) {
	t.Parallel()
	s := apiserver.Start(t)
	crd := filepath.Join(moduleDir(t, fluxKustomizeController), "config/crd/bases/kustomize.toolkit.fluxcd.io_kustomizations.yaml")
	s.Kubectl(t, "apply", "--server-side", "--field-manager="+fieldManager, "-f", crd)
	s.WaitEstablished(t, "crd/kustomizations.kustomize.toolkit.fluxcd.io")
	s.KubectlIn(t, []byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: flux-system\n"), "apply", "--server-side", "--field-manager="+fieldManager, "-f", "-")

	sync := mustRead(t, filepath.Join(testkit.Root(t), fluxSync))
	s.KubectlIn(t, sync, "apply", "--server-side", "--dry-run=server", "--field-manager="+fieldManager, "-f", "-")
	s.KubectlIn(t, sync, "apply", "--server-side", "--field-manager="+fieldManager, "-f", "-")
	got := string(s.Kubectl(t, "get", "-n", "flux-system", "kustomizations.kustomize.toolkit.fluxcd.io", "-o",
		`jsonpath={range .items[*]}{.metadata.name} {.spec.decryption.provider} {.spec.wait} {.spec.timeout} {.spec.dependsOn[*].name}{"\n"}{end}`))
	want := "carousel-material sops true 5m \ncarousel-workloads  true 15m carousel-material\n"
	if got != want {
		t.Errorf("the server holds the Flux Kustomizations\n%q\nwant\n%q", got, want)
	}

	// The mesh's Kustomizations, with their healthCheckExprs, as the
	// server stores them.
	mesh := mustRead(t, filepath.Join(testkit.Root(t), fluxMeshSync))
	s.KubectlIn(t, mesh, "apply", "--server-side", "--field-manager="+fieldManager, "-f", "-")
	got = string(s.Kubectl(t, "get", "-n", "flux-system", "kustomizations.kustomize.toolkit.fluxcd.io", "linkerd-material", "linkerd-workloads", "-o",
		`jsonpath={range .items[*]}{.metadata.name} {.spec.wait} {.spec.healthCheckExprs[*].kind} {.spec.dependsOn[*].name}{"\n"}{end}`))
	want = "linkerd-material true Certificate ClusterIssuer Bundle \nlinkerd-workloads true  linkerd-material\n"
	if got != want {
		t.Errorf("the server holds the mesh's Flux Kustomizations\n%q\nwant\n%q", got, want)
	}

	broken := bytes.Replace(sync, []byte("provider: sops"), []byte("provider: vault"), 1)
	if _, stderr, err := s.KubectlInErr(broken, "apply", "--server-side", "--dry-run=server", "--field-manager="+fieldManager, "-f", "-"); err == nil {
		t.Error("the server accepted decryption.provider: vault; the CRD schema is not in force")
	} else if !strings.Contains(string(stderr), "provider") {
		t.Errorf("refused for another reason: %s", stderr)
	}
}

// moduleDir returns the module cache directory of path@version (downloaded
// by `make tools`, which installs flux).
func moduleDir(t *testing.T, mod string) string {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", mod)
	cmd.Dir = t.TempDir() // outside the repository's module
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOFLAGS=-mod=mod")
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod download %s (run `make tools`): %v\n%s", mod, err, b)
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(b, &info); err != nil || info.Dir == "" {
		t.Fatalf("go mod download %s: %v %s", mod, err, info.Error)
	}
	return info.Dir
}
