package fn

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/presets"
	"github.com/carousel-dev/carousel/pkg/spec"
)

func TestInitPresetListNamesEveryEmbeddedPreset(t *testing.T) {
	// bin/ first on PATH, as for a user who ran `make build`: the exec
	// function annotation init writes names carousel on PATH.
	out := testkit.Cmd{Dir: t.TempDir(), BinOnPath: true}.Must(t, "init", "--preset", "list").Stdout
	if len(presets.All()) < 6 {
		t.Fatalf("only %d presets are embedded", len(presets.All()))
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(presets.All()) {
		t.Fatalf("init --preset list printed %d lines for %d presets:\n%s", len(lines), len(presets.All()), out)
	}
	for i, p := range presets.All() {
		f := strings.Fields(lines[i])
		if len(f) < 2 || f[0] != p.Name || !strings.Contains(lines[i], p.Description) {
			t.Errorf("line %d is %q, want the name %s and its description", i+1, lines[i], p.Name)
		}
	}
}

// TestInitPresetMakesAPackageKustomizeRenders is the first hour of a user
// with a preset: an empty directory, one command, and the real kustomize
// renders the package at steady with the carousel function.
func TestInitPresetMakesAPackageKustomizeRenders(t *testing.T) {
	for _, p := range presets.All() {
		t.Run(p.Name, func(t *testing.T) {
			dir := t.TempDir()
			args := []string{"init", "--preset", p.Name, "carousel.yaml", "--plaintext-keys"}
			if strings.Contains(string(p.YAML), "\n    trust: root\n") {
				// A cluster's intermediate under a shared root: the
				// root first, then init adopts the intermediate the
				// root's owner signed, with its chain.
				var flags []string
				dir, flags = presetUnderRoot(t, p.YAML)
				args = append(args, flags...)
			}
			testkit.Cmd{Dir: dir, BinOnPath: true}.Must(t, args...)
			b, err := os.ReadFile(filepath.Join(dir, "carousel.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			n, err := yaml.Parse(string(b))
			if err != nil {
				t.Fatal(err)
			}
			rot, err := spec.Load(n)
			if err != nil {
				t.Fatalf("the written spec does not load: %v", err)
			}
			if rot.Spec.Phase != phases.Steady {
				t.Errorf("phase %s, want steady", rot.Spec.Phase)
			}
			if _, ok := rot.Metadata.Annotations["config.kubernetes.io/function"]; !ok {
				t.Error("the CARotation has no function annotation")
			}
			if _, err := os.Stat(filepath.Join(dir, "kustomization.yaml")); err != nil {
				t.Fatal(err)
			}
			out := testkit.KustomizeDir(t, dir, testkit.BinFirstOnPath(t))
			if len(testkit.Parse(t, out)) == 0 {
				t.Fatal("kustomize rendered nothing")
			}
			again := testkit.KustomizeDir(t, dir, testkit.BinFirstOnPath(t))
			if !bytes.Equal(out, again) {
				t.Error("two renders of the package differ")
			}
		})
	}
}

func TestInitPresetNameSetsMetadataName(t *testing.T) {
	dir := t.TempDir()
	testkit.Cmd{Dir: dir, BinOnPath: true}.Must(t, "init", "--preset", "kubernetes", "--name", "prod-cluster-ca", "carousel.yaml", "--plaintext-keys")
	b, _ := os.ReadFile(filepath.Join(dir, "carousel.yaml"))
	if !bytes.Contains(b, []byte("\n  name: prod-cluster-ca\n")) {
		t.Fatalf("metadata.name is not prod-cluster-ca:\n%s", b)
	}
}

func TestInitPresetRefusesToOverwriteADifferentFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "carousel.yaml")
	before, err := os.ReadFile(filepath.Join(testkit.Root(t), "examples", "osm", "carousel.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, before, 0o644); err != nil {
		t.Fatal(err)
	}
	r := testkit.Cmd{Dir: dir, BinOnPath: true}.Run(t, "init", "--preset", "linkerd", "carousel.yaml", "--plaintext-keys")
	if r.Err == nil {
		t.Fatal("init --preset over a different file succeeded")
	}
	if !strings.Contains(r.Stderr, "not overwritten") {
		t.Errorf("the refusal does not say the file is not overwritten:\n%s", r.Stderr)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, before) {
		t.Error("the existing file changed")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("init wrote beside the refused file: %d entries", len(entries))
	}
}

func TestInitUnknownPresetIsRefusedNamingTheList(t *testing.T) {
	dir := t.TempDir()
	r := testkit.Cmd{Dir: dir, BinOnPath: true}.Run(t, "init", "--preset", "linkerd2", "carousel.yaml")
	if r.Err == nil {
		t.Fatal("init --preset linkerd2 succeeded")
	}
	for _, n := range presets.Names() {
		if !strings.Contains(r.Stderr, n) {
			t.Errorf("the refusal does not name preset %s:\n%s", n, r.Stderr)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("init wrote %d files", len(entries))
	}
}

// opensslIntermediate makes, with openssl, a root and an intermediate CA it
// signed, and returns init's flags adopting the intermediate with its
// chain.
func opensslIntermediate(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	ext := filepath.Join(dir, "ca.ext")
	if err := os.WriteFile(ext, []byte("basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	opensslIn(t, dir, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "root.key", "-out", "root.pem",
		"-subj", "/CN=shared root", "-days", "3650", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
	opensslIn(t, dir, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "int.key", "-out", "int.csr", "-subj", "/CN=cluster intermediate")
	opensslIn(t, dir, "x509", "-req", "-in", "int.csr", "-CA", "root.pem", "-CAkey", "root.key", "-set_serial", "2", "-days", "365", "-extfile", ext, "-out", "int.pem")
	i, _ := os.ReadFile(filepath.Join(dir, "int.pem"))
	r, _ := os.ReadFile(filepath.Join(dir, "root.pem"))
	if err := os.WriteFile(filepath.Join(dir, "chain.pem"), append(i, r...), 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{"--ca-cert", filepath.Join(dir, "chain.pem"), "--ca-key", filepath.Join(dir, "int.key")}
}

// presetUnderRoot makes the shared root a cluster preset names
// (spec.sharedRoot ../../root, spec.rootState its name), publishing its
// state, and an intermediate it signs for the cluster (key and request
// from openssl): the cluster's directory and init's flags adopting it.
func presetUnderRoot(t *testing.T, preset []byte) (string, []string) {
	t.Helper()
	m := regexp.MustCompile(`(?m)^  rootState: (\S+)`).FindSubmatch(preset)
	if m == nil {
		t.Fatal("a trust: root preset names no spec.rootState")
	}
	base := t.TempDir()
	root := filepath.Join(base, "root", "carousel.yaml")
	cluster := filepath.Join(base, "clusters", "east")
	for _, d := range []string{filepath.Dir(root), cluster} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	spec := fmt.Sprintf("apiVersion: carousel.dev/v1alpha1\nkind: CARotation\nmetadata:\n  name: %s\nspec:\n  phase: steady\n  ca: {commonName: shared root}\n  publish: ../state/root.yaml\n  clusters:\n  - {name: east, rotation: ../clusters/east/carousel.yaml}\n", m[1])
	if err := os.WriteFile(root, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	testkit.Cmd{}.Must(t, "init", root, "--plaintext-keys")
	work := t.TempDir()
	opensslIn(t, work, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "int.key")
	opensslIn(t, work, "req", "-new", "-key", "int.key", "-subj", "/CN=east intermediate", "-out", "int.csr")
	testkit.Cmd{}.Must(t, "sign", root, "--csr", filepath.Join(work, "int.csr"), "--out", filepath.Join(work, "int.pem"), "--chain-out", filepath.Join(work, "root.pem"))
	i, _ := os.ReadFile(filepath.Join(work, "int.pem"))
	r, _ := os.ReadFile(filepath.Join(work, "root.pem"))
	if err := os.WriteFile(filepath.Join(work, "chain.pem"), append(i, r...), 0o644); err != nil {
		t.Fatal(err)
	}
	return cluster, []string{"--ca-cert", filepath.Join(work, "chain.pem"), "--ca-key", filepath.Join(work, "int.key")}
}

// TestInitRefusesToMakeACAThatMustChainToASharedRoot: a CA carousel makes
// is its own root, which the peers under a shared root do not trust; init
// says how to adopt the intermediate instead, and writes nothing.
func TestInitRefusesToMakeACAThatMustChainToASharedRoot(t *testing.T) {
	dir := t.TempDir()
	r := testkit.Cmd{Dir: dir, BinOnPath: true}.Run(t, "init", "--preset", "istio-multicluster", "carousel.yaml", "--plaintext-keys")
	if r.Code == 0 || !strings.Contains(r.Out, "spec.ca.trust is root") || !strings.Contains(r.Out, "carousel sign") {
		t.Fatalf("init of a trust: root rotation without --ca-cert must refuse, naming the way: exit %d\n%s", r.Code, r.Out)
	}
	if _, err := os.Stat(filepath.Join(dir, "material")); err == nil {
		t.Error("the refused init wrote material")
	}
}
