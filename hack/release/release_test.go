package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

var testOptions = Options{
	Repo:    "../..",
	Version: "v0.0.0-release-test",
	Commit:  "0123456789abcdef0123456789abcdef01234567",
	Time:    time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC),
}

// build runs one release build into a new directory.
func build(t *testing.T) string {
	t.Helper()
	o := testOptions
	o.Out = filepath.Join(t.TempDir(), "dist")
	if _, err := Build(o); err != nil {
		t.Fatal(err)
	}
	return o.Out
}

// tree reads every file under dir, by slash path.
func tree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		rel, _ := filepath.Rel(dir, path)
		files[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestTwoReleaseBuildsOfOneCommitAreByteIdenticalAndTheImageRuns builds the
// release twice from this checkout and holds it to what a platform team
// installs from: every file identical between the builds; a binary named
// for each of linux and darwin on amd64 and arm64, listed in SHA256SUMS
// with its hash; an SBOM naming the modules linked in; and an OCI image
// layout read back with go-containerregistry, whose index has a linux/amd64
// and a linux/arm64 image, each running the binary as entrypoint as a
// non-root user, with one layer holding the binary and no shell; the
// binary extracted from this machine's platform's layer runs and reports
// the version and commit it was built with.
func TestTwoReleaseBuildsOfOneCommitAreByteIdenticalAndTheImageRuns(t *testing.T) {
	a, b := build(t), build(t)
	ta, tb := tree(t, a), tree(t, b)
	if len(ta) != len(tb) {
		t.Fatalf("the builds wrote %d and %d files", len(ta), len(tb))
	}
	for name, data := range ta {
		if !bytes.Equal(data, tb[name]) {
			t.Errorf("%s differs between two builds of one commit", name)
		}
	}

	// SHA256SUMS lists every binary, SBOM and the image tarball.
	listed := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(ta["SHA256SUMS"]))
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q is not sha256sum's format", sc.Text())
		}
		h := sha256.Sum256(ta[name])
		if hex.EncodeToString(h[:]) != sum {
			t.Errorf("SHA256SUMS: %s does not match", name)
		}
		listed[name] = sum
	}
	for _, p := range Platforms {
		for _, f := range []string{BinaryName(p), BinaryName(p) + ".cdx.json"} {
			if _, ok := listed[f]; !ok {
				t.Errorf("SHA256SUMS does not list %s", f)
			}
		}
	}
	if _, ok := listed["carousel-oci.tar"]; !ok {
		t.Error("SHA256SUMS does not list the image tarball")
	}

	// The SBOM names carousel's dependencies of record, as linked.
	var bom struct {
		BOMFormat  string `json:"bomFormat"`
		Components []struct {
			Name, Version, PURL string
		} `json:"components"`
	}
	if err := json.Unmarshal(ta["carousel-linux-amd64.cdx.json"], &bom); err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, c := range bom.Components {
		names[c.Name] = c.Version
	}
	if bom.BOMFormat != "CycloneDX" || names["sigs.k8s.io/kustomize/kyaml"] == "" || names["github.com/cloudflare/cfssl"] == "" {
		t.Errorf("the SBOM does not name kyaml and cfssl: %s", ta["carousel-linux-amd64.cdx.json"][:200])
	}

	// The image, read back.
	lp, err := layout.FromPath(filepath.Join(a, "oci"))
	if err != nil {
		t.Fatal(err)
	}
	top, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	tm, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(tm.Manifests) != 1 || tm.Manifests[0].Annotations[RefName] != testOptions.Version {
		t.Fatalf("index.json must name one index tagged %s: %+v", testOptions.Version, tm.Manifests)
	}
	idx, err := top.ImageIndex(tm.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if mt, _ := idx.MediaType(); mt != types.OCIImageIndex {
		t.Errorf("index media type %s, want OCI's", mt)
	}
	platforms := map[string]bool{}
	for _, d := range im.Manifests {
		if d.Platform == nil {
			t.Fatalf("manifest %s has no platform", d.Digest)
		}
		platforms[d.Platform.OS+"/"+d.Platform.Architecture] = true
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.Config.User != User || len(cf.Config.Entrypoint) != 1 || cf.Config.Entrypoint[0] != Entrypoint {
			t.Errorf("%s: user %q entrypoint %q, want %q %q", d.Platform.Architecture, cf.Config.User, cf.Config.Entrypoint, User, Entrypoint)
		}
		if cf.OS != d.Platform.OS || cf.Architecture != d.Platform.Architecture {
			t.Errorf("%s: config says %s/%s", d.Platform.Architecture, cf.OS, cf.Architecture)
		}
		files := layerFiles(t, img)
		if _, ok := files["bin/sh"]; ok || len(files) != 1 {
			t.Errorf("%s: the image holds %v, want the binary alone", d.Platform.Architecture, keys(files))
		}
		bin := files[strings.TrimPrefix(Entrypoint, "/")]
		if !bytes.Equal(bin, ta[BinaryName(Platform{d.Platform.OS, d.Platform.Architecture})]) {
			t.Errorf("%s: the image's binary is not the release binary", d.Platform.Architecture)
		}
		if d.Platform.OS == runtime.GOOS && d.Platform.Architecture == runtime.GOARCH {
			run := filepath.Join(t.TempDir(), "carousel")
			if err := os.WriteFile(run, bin, 0o755); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(run, "version", "-o", "json").Output()
			if err != nil {
				t.Fatalf("the image's binary does not run: %v", err)
			}
			var v struct{ Version, Commit string }
			if err := json.Unmarshal(out, &v); err != nil || v.Version != testOptions.Version || v.Commit != testOptions.Commit {
				t.Errorf("the image's binary reports %s (%v), want version %s commit %s", out, err, testOptions.Version, testOptions.Commit)
			}
		}
	}
	if !platforms["linux/amd64"] || !platforms["linux/arm64"] || len(platforms) != 2 {
		t.Errorf("the index holds %v, want linux/amd64 and linux/arm64", platforms)
	}
}

// layerFiles reads the regular files of every layer of img.
func layerFiles(t *testing.T, img v1.Image) map[string][]byte {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.Typeflag == tar.TypeReg {
				b, _ := io.ReadAll(tr)
				files[h.Name] = b
			}
		}
		rc.Close()
	}
	return files
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
