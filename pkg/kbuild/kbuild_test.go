package kbuild

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carousel-dev/carousel/internal/testkit"
)

// write writes files (path: content) under root.
func write(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// edit replaces old by new in the file at p, which must hold it.
func edit(t *testing.T, p, old, new string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s does not hold %q", p, old)
	}
	if err := os.WriteFile(p, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}

// example copies examples/cluster-ca to root/pkg at phase; its function
// config names `carousel`, found on PATH by kustomize.
func example(t *testing.T, root, phase string) string {
	t.Helper()
	dir := filepath.Join(root, "pkg")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(testkit.Root(t), "examples", "cluster-ca"))); err != nil {
		t.Fatal(err)
	}
	edit(t, filepath.Join(dir, "carousel.yaml"), "phase: steady", "phase: "+phase)
	return dir
}

// kustomizeEnv is the environment both builds run carousel's functions
// with: bin/ on PATH (kustomize finds `carousel` there, carousel decrypt
// finds sops beside it), the demo age identity, the suite's clock.
func kustomizeEnv(t *testing.T) []string {
	root := testkit.Root(t)
	return []string{
		"PATH=" + filepath.Join(root, "bin") + ":" + os.Getenv("PATH"),
		"SOPS_AGE_KEY_FILE=" + filepath.Join(root, testkit.AgeKeyFile),
		testkit.NowEnv(),
	}
}

// kustomize runs the real kustomize with exec functions on dir.
func kustomize(t *testing.T, dir string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(testkit.Tool(t, "kustomize"), "build", "--enable-alpha-plugins", "--enable-exec", dir)
	cmd.Env = append(os.Environ(), kustomizeEnv(t)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, &buildErr{err: err, stderr: stderr.String()}
	}
	return stdout.Bytes(), nil
}

type buildErr struct {
	err    error
	stderr string
}

func (e *buildErr) Error() string { return e.err.Error() + ": " + e.stderr }

// inProcess is this test process set up as carousel build would run on
// the repo-server: sops and the age identity from the environment.
func inProcess(t *testing.T) Options {
	t.Helper()
	root := testkit.Root(t)
	t.Setenv("CAROUSEL_SOPS", testkit.Tool(t, "sops"))
	t.Setenv("SOPS_AGE_KEY_FILE", filepath.Join(root, testkit.AgeKeyFile))
	return Options{Now: func() (time.Time, error) { return testkit.Now, nil }}
}

// TestBuildIsKustomizesBuildAroundTheFunction builds packages shaped the
// ways kustomizations are around carousel's function, with the real
// kustomize running carousel as an exec function and with carousel build,
// both ways it finishes (in-process, and with a second kustomize build of
// the output), and wants the same bytes.
func TestBuildIsKustomizesBuildAroundTheFunction(t *testing.T) {
	testkit.Carousel(t)
	opts := inProcess(t)
	workload := `apiVersion: apps/v1
kind: Deployment
metadata: {name: settings-reader, namespace: shop}
spec:
  selector: {matchLabels: {app: settings-reader}}
  template:
    metadata: {labels: {app: settings-reader}}
    spec:
      containers:
      - name: c
        image: registry.example.dev/reader:1
        envFrom: [{configMapRef: {name: app-settings}}]
        volumeMounts: [{name: ca, mountPath: /ca}]
      volumes: [{name: ca, configMap: {name: cluster-ca-bundle}}]
`
	shapes := []struct {
		name  string
		build func(t *testing.T, root string) string
	}{
		{"the package at trust-new", func(t *testing.T, root string) string {
			return example(t, root, "trust-new")
		}},
		{"an overlay with a name prefix, a patch and a transformer; a transformer after the function", func(t *testing.T, root string) string {
			pkg := example(t, root, "sign-new")
			edit(t, filepath.Join(pkg, "kustomization.yaml"), "- carousel.yaml\n", "- carousel.yaml\n- after.yaml\n")
			write(t, root, map[string]string{
				"pkg/after.yaml": "apiVersion: builtin\nkind: AnnotationsTransformer\nmetadata: {name: after}\nannotations: {example.dev/after: function}\nfieldSpecs: [{path: metadata/annotations, create: true}]\n",
				"overlay/kustomization.yaml": `resources: [../pkg]
namePrefix: eu-
patches:
- target: {kind: Deployment, name: storefront}
  patch: |
    - {op: add, path: /metadata/labels, value: {tier: web}}
transformers:
- |
  apiVersion: builtin
  kind: LabelTransformer
  metadata: {name: region}
  labels: {region: eu}
  fieldSpecs: [{path: metadata/labels, create: true}]
`,
			})
			return filepath.Join(root, "overlay")
		}},
		{"a generated ConfigMap (hash suffix) a workload reads", func(t *testing.T, root string) string {
			pkg := example(t, root, "trust-new")
			edit(t, filepath.Join(pkg, "kustomization.yaml"), "transformers:", "- reader.yaml\nconfigMapGenerator:\n- name: app-settings\n  namespace: shop\n  literals: [mode=fast]\ntransformers:")
			write(t, root, map[string]string{"pkg/reader.yaml": workload})
			return pkg
		}},
		{"the same ConfigMap merged by an overlay's generator", func(t *testing.T, root string) string {
			pkg := example(t, root, "distrust-old")
			edit(t, filepath.Join(pkg, "kustomization.yaml"), "transformers:", "- reader.yaml\nconfigMapGenerator:\n- name: app-settings\n  namespace: shop\n  literals: [mode=fast]\ntransformers:")
			write(t, root, map[string]string{
				"pkg/reader.yaml":            workload,
				"overlay/kustomization.yaml": "resources: [../pkg]\nconfigMapGenerator:\n- name: app-settings\n  namespace: shop\n  behavior: merge\n  literals: [region=eu]\n",
			})
			return filepath.Join(root, "overlay")
		}},
		{"a local-config resource, dropped at the end and read by an overlay's replacement", func(t *testing.T, root string) string {
			pkg := example(t, root, "trust-new")
			edit(t, filepath.Join(pkg, "kustomization.yaml"), "- material\n", "- material\n- team.yaml\n")
			write(t, root, map[string]string{
				"pkg/team.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: team\n  namespace: shop\n  annotations: {config.kubernetes.io/local-config: \"true\"}\ndata: {team: payments}\n",
				"overlay/kustomization.yaml": `resources: [../pkg]
replacements:
- source: {kind: ConfigMap, name: team, fieldPath: data.team}
  targets:
  - select: {kind: Deployment, name: storefront}
    fieldPaths: [metadata.labels.team]
    options: {create: true}
`,
			})
			return filepath.Join(root, "overlay")
		}},
		{"transformers before the function: inline, a file, and the function's config from a directory with a patch", func(t *testing.T, root string) string {
			pkg := example(t, root, "steady")
			if err := os.MkdirAll(filepath.Join(root, "rotation-src"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(filepath.Join(pkg, "carousel.yaml"), filepath.Join(root, "rotation-src", "carousel.yaml")); err != nil {
				t.Fatal(err)
			}
			edit(t, filepath.Join(pkg, "kustomization.yaml"), "transformers:\n- carousel.yaml\n", `transformers:
- rotation
- before.yaml
- |
  apiVersion: builtin
  kind: LabelTransformer
  metadata: {name: inline}
  labels: {example.dev/inline: "true"}
  fieldSpecs: [{path: metadata/labels, create: true}]
`)
			write(t, root, map[string]string{
				"pkg/before.yaml": "apiVersion: builtin\nkind: AnnotationsTransformer\nmetadata: {name: before}\nannotations: {example.dev/before: function}\nfieldSpecs: [{path: metadata/annotations, create: true}]\n",
				"pkg/rotation/kustomization.yaml": `resources: [../../rotation-src]
patches:
- target: {kind: CARotation}
  patch: |
    - {op: replace, path: /spec/phase, value: sign-new}
`,
				"rotation-src/kustomization.yaml": "resources: [carousel.yaml]\n",
			})
			return pkg
		}},
		{"two functions in one kustomization, a builtin between", func(t *testing.T, root string) string {
			pkg := example(t, root, "trust-new")
			edit(t, filepath.Join(pkg, "kustomization.yaml"), "- carousel.yaml\n", "- carousel.yaml\n- between.yaml\n- decrypt.yaml\n")
			write(t, root, map[string]string{
				"pkg/between.yaml": "apiVersion: builtin\nkind: AnnotationsTransformer\nmetadata: {name: between}\nannotations: {example.dev/between: functions}\nfieldSpecs: [{path: metadata/annotations, create: true}]\n",
				"pkg/decrypt.yaml": "apiVersion: carousel.dev/v1alpha1\nkind: Decrypt\nmetadata:\n  name: decrypt\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: carousel\n        args: [decrypt]\n",
			})
			return pkg
		}},
		{"a base with its own name prefix and labels", func(t *testing.T, root string) string {
			pkg := example(t, root, "trust-new")
			if err := os.MkdirAll(filepath.Join(root, "base"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(filepath.Join(pkg, "shop.yaml"), filepath.Join(root, "base", "shop.yaml")); err != nil {
				t.Fatal(err)
			}
			edit(t, filepath.Join(pkg, "kustomization.yaml"), "- shop.yaml\n", "- ../base\n")
			write(t, root, map[string]string{"base/kustomization.yaml": "resources: [shop.yaml]\nnamePrefix: p-\nlabels:\n- pairs: {team: shop}\n"})
			return pkg
		}},
		{"fifo order", func(t *testing.T, root string) string {
			pkg := example(t, root, "cleanup")
			edit(t, filepath.Join(pkg, "kustomization.yaml"), "transformers:", "sortOptions: {order: fifo}\ntransformers:")
			return pkg
		}},
		{"a component and a base outside the package", func(t *testing.T, root string) string {
			pkg := example(t, root, "sign-new")
			if err := os.MkdirAll(filepath.Join(root, "base"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(filepath.Join(pkg, "shop.yaml"), filepath.Join(root, "base", "shop.yaml")); err != nil {
				t.Fatal(err)
			}
			edit(t, filepath.Join(pkg, "kustomization.yaml"), "- shop.yaml\n", "- ../base\n")
			edit(t, filepath.Join(pkg, "kustomization.yaml"), "transformers:", "components:\n- ../comp\ntransformers:")
			write(t, root, map[string]string{
				"base/kustomization.yaml": "resources: [shop.yaml]\n",
				"comp/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [scrape.yaml]\n",
				"comp/scrape.yaml":        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: scrape, namespace: monitoring}\ndata: {from: component}\n",
			})
			return pkg
		}},
		{"a function that returns nothing: a CA adopted without its key, no leaves", func(t *testing.T, root string) string {
			ca := filepath.Join(root, "ca")
			if err := os.MkdirAll(ca, 0o755); err != nil {
				t.Fatal(err)
			}
			testkit.OpenSSLCA(t, ca, testkit.OpenSSLECParam, "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n")
			pkg := filepath.Join(root, "pkg")
			write(t, root, map[string]string{"pkg/carousel.yaml": "apiVersion: carousel.dev/v1alpha1\nkind: CARotation\nmetadata: {name: mesh}\nspec:\n  ca: {commonName: root.mesh}\n"})
			testkit.Cmd{Dir: pkg}.Must(t, "init", "carousel.yaml", "--ca-cert", filepath.Join(ca, "ca.crt"))
			return pkg
		}},
		{"a package reached through a symlink", func(t *testing.T, root string) string {
			pkg := example(t, root, "distrust-old")
			if err := os.Symlink(pkg, filepath.Join(root, "link")); err != nil {
				t.Fatal(err)
			}
			write(t, root, map[string]string{"overlay/kustomization.yaml": "resources: [../link]\n"})
			return filepath.Join(root, "overlay")
		}},
	}
	for _, s := range shapes {
		t.Run(s.name, func(t *testing.T) {
			dir := s.build(t, t.TempDir())
			want, err := kustomize(t, dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, finish := range []bool{false, true} {
				o := opts
				o.kustomizeFinish = finish
				got, err := Build(dir, o)
				if err != nil {
					t.Fatalf("kustomizeFinish=%v: %v", finish, err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("kustomizeFinish=%v: carousel build differs from kustomize --enable-exec:\n%s", finish, testkit.Diff("kustomize", "carousel build", want, got))
				}
			}
		})
	}
}

// TestTheSortIsKustomizesLegacyOrder has kustomize sort resources of many
// kinds, groups, namespaces and names, and wants finish's order.
func TestTheSortIsKustomizesLegacyOrder(t *testing.T) {
	var docs []string
	kinds := []string{"v1 Namespace", "example.dev/v1 Namespace", "v1 Secret", "v1 ConfigMap", "apps/v1 Deployment",
		"admissionregistration.k8s.io/v1 ValidatingWebhookConfiguration", "admissionregistration.k8s.io/v1 MutatingWebhookConfiguration",
		"apiextensions.k8s.io/v1 CustomResourceDefinition", "example.dev/v1 Widget", "example.dev/v2 Widget", "other.dev/v1 Gadget",
		"v1 Service", "batch/v1 CronJob", "rbac.authorization.k8s.io/v1 ClusterRole", "v1 ServiceAccount"}
	for _, k := range kinds {
		av, kind, _ := strings.Cut(k, " ")
		namespaces := []string{"", "a", "a-b", "ab", "b"}
		if strings.Contains(k, "Namespace") || strings.Contains(k, "Webhook") || strings.Contains(k, "CustomResource") || strings.Contains(k, "ClusterRole") {
			namespaces = []string{""}
		}
		for _, ns := range namespaces {
			for _, name := range []string{"x", "x-y", "xy", "y"} {
				meta := "name: " + name
				if ns != "" {
					meta += ", namespace: " + ns
				}
				docs = append(docs, "apiVersion: "+av+"\nkind: "+kind+"\nmetadata: {"+meta+"}\n")
			}
		}
	}
	// Reverse so that no input order happens to be the answer.
	for i, j := 0, len(docs)-1; i < j; i, j = i+1, j-1 {
		docs[i], docs[j] = docs[j], docs[i]
	}
	dir := t.TempDir()
	write(t, dir, map[string]string{"all.yaml": strings.Join(docs, "---\n"), "kustomization.yaml": "resources: [all.yaml]\n"})
	want, err := kustomize(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	nodes := testkit.Parse(t, []byte(strings.Join(docs, "---\n")))
	got, ok, err := finish(&kust{}, nodes)
	if err != nil || !ok {
		t.Fatalf("finish: %v %v", ok, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the order differs from kustomize's:\n%s", testkit.Diff("kustomize", "finish", want, got))
	}
}
