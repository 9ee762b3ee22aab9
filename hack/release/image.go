package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	// Entrypoint is where the image holds the binary.
	Entrypoint = "/usr/local/bin/carousel"
	// User is the image's user: distroless's "nonroot" uid and gid, by
	// number, so no /etc/passwd is needed and Kubernetes' runAsNonRoot
	// can verify it.
	User = "65532:65532"
)

// Image writes an OCI image layout at dir: a multi-arch index whose
// manifests are one image per linux platform, each a single layer holding
// the platform's binary (from bins) and nothing else: no shell, no
// package manager, nothing a container of a KRM function or an init
// container that copies the binary needs.
func Image(dir, bins string, o Options) error {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range Platforms {
		if p.OS != "linux" {
			continue
		}
		bin, err := os.ReadFile(filepath.Join(bins, BinaryName(p)))
		if err != nil {
			return err
		}
		img, err := platformImage(bin, p, o)
		if err != nil {
			return err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: p.OS, Architecture: p.Arch}},
		})
	}
	idx = mutate.Annotations(idx, annotations(o)).(v1.ImageIndex)
	// The layout's index.json names the one multi-arch index by its tag
	// (org.opencontainers.image.ref.name), so `crane push dist/oci REF`,
	// `skopeo copy --all oci:dist/oci:VERSION docker://REF` and `oras cp`
	// find it without being told a digest.
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	return lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{RefName: o.Version}))
}

// RefName is the OCI annotation that tags a manifest in a layout's index.json.
const RefName = "org.opencontainers.image.ref.name"

func annotations(o Options) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":    "carousel",
		"org.opencontainers.image.version":  o.Version,
		"org.opencontainers.image.revision": o.Commit,
		"org.opencontainers.image.created":  o.Time.Format("2006-01-02T15:04:05Z"),
		"org.opencontainers.image.source":   "https://github.com/carousel-dev/carousel",
	}
}

func platformImage(bin []byte, p Platform, o Options) (v1.Image, error) {
	layerTar, err := binaryLayer(bin, o)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.AppendLayers(img, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = p.OS, p.Arch
	cf.Created = v1.Time{Time: o.Time}
	cf.Config = v1.Config{
		User:       User,
		Entrypoint: []string{Entrypoint},
		WorkingDir: "/",
		Labels:     annotations(o),
	}
	cf.History = []v1.History{{Created: v1.Time{Time: o.Time}, CreatedBy: "carousel hack/release: " + Entrypoint}}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, err
	}
	return mutate.Annotations(img, annotations(o)).(v1.Image), nil
}

// binaryLayer is the layer's tar: the directories down to the binary, and
// the binary, owned by root and executable by all (the non-root user runs
// it, and cannot change it), every entry at the commit's time.
func binaryLayer(bin []byte, o Options) ([]byte, error) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, d := range []string{"usr/", "usr/local/", "usr/local/bin/"} {
		if err := tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: o.Time, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Name: Entrypoint[1:], Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bin)), ModTime: o.Time, Format: tar.FormatPAX}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(bin); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
