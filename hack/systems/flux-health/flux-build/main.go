// Command flux-build builds a directory the way Flux's kustomize-controller
// builds a Kustomization's path, offline, and prints the objects it would
// apply. It is carousel's test harness over the controller's own build code,
// at the versions kustomize-controller v1.9.5 (flux v2.9.5) builds with:
//
//   - github.com/fluxcd/pkg/kustomize's Generator writes the
//     kustomization.yaml the controller writes (from the Kustomization's
//     spec: patches, images, namespace, components, or a generated one when
//     the directory has none);
//   - its SecureBuild runs kustomize's krusty as the controller does: file
//     access confined to the source root, no plugins, no exec or container
//     functions, no remote bases;
//   - its SubstituteVariables applies spec.postBuild.substitute (substituteFrom
//     needs the cluster; like `flux build --dry-run` it is skipped);
//   - spec.commonMetadata and the owner labels
//     (kustomize.toolkit.fluxcd.io/name and /namespace) that
//     github.com/fluxcd/pkg/ssa's resource manager sets before it applies.
//
// What the controller does and this does not: it decrypts SOPS-encrypted
// Secrets (the tests decrypt the same objects with the real sops), reads
// substituteFrom ConfigMaps and Secrets from the cluster, and normalizes
// the decrypted objects through client-go's scheme before applying (an
// encrypted Secret does not convert, so without decryption it cannot).
//
// It replaces the flux CLI in the tests (`flux build kustomization NAME
// --path DIR --kustomization-file FILE --dry-run`): the CLI is a much larger
// build whose `build` command runs the same library calls and, unlike the
// controller, masks SOPS data in its output.
//
// Usage:
//
//	flux-build -name carousel-material -path rendered/production/material \
//	  -kustomization clusters/production/carousel.yaml
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	generator "github.com/fluxcd/pkg/kustomize"
	"github.com/fluxcd/pkg/ssa"
	ssautil "github.com/fluxcd/pkg/ssa/utils"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
)

func main() {
	name := flag.String("name", "", "the Flux Kustomization to build (metadata.name)")
	path := flag.String("path", "", "the directory to build: the Kustomization's spec.path, checked out")
	file := flag.String("kustomization", "", "file holding the Flux Kustomization (multi-document YAML)")
	flag.Parse()
	if *name == "" || *path == "" || *file == "" {
		fmt.Fprintln(os.Stderr, "flux-build: -name, -path and -kustomization are required")
		os.Exit(2)
	}
	out, err := build(*name, *path, *file)
	if err != nil {
		fmt.Fprintln(os.Stderr, "flux-build:", err)
		os.Exit(1)
	}
	os.Stdout.WriteString(out)
}

// build returns the YAML stream kustomize-controller would apply for the
// Kustomization name of file, built from the directory path.
func build(name, path, file string) (string, error) {
	k, err := kustomizationOf(file, name)
	if err != nil {
		return "", err
	}
	// The controller builds in a temporary copy of the source artifact and
	// the generator writes kustomization.yaml into it: never into path.
	work, err := os.MkdirTemp("", "flux-build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	dir := filepath.Join(work, "src")
	if err := os.CopyFS(dir, os.DirFS(path)); err != nil {
		return "", fmt.Errorf("copying %s: %w", path, err)
	}
	data, err := runtime.DefaultUnstructuredConverter.ToUnstructured(k)
	if err != nil {
		return "", err
	}
	u := unstructured.Unstructured{Object: data}
	if _, err := generator.NewGenerator(work, u).WriteFile(dir); err != nil {
		return "", fmt.Errorf("generating kustomization.yaml: %w", err)
	}
	m, err := generator.SecureBuild(work, dir, false)
	if err != nil {
		return "", fmt.Errorf("kustomize build failed: %w", err)
	}
	for _, res := range m.Resources() {
		if res.GetName() == "" || res.GetKind() == "" || res.GetApiVersion() == "" {
			return "", fmt.Errorf("failed to decode Kubernetes apiVersion, kind and name from: %v", res.String())
		}
		if k.Spec.PostBuild == nil {
			continue
		}
		out, err := generator.SubstituteVariables(context.Background(), nil, u, res,
			generator.SubstituteWithDryRun(true),
			generator.SubstituteWithAlways(k.GetSubstituteStrategy() == kustomizev1.SubstituteStrategyAlways))
		if err != nil {
			return "", fmt.Errorf("post build failed for '%s/%s': %w", res.GetGvk(), res.GetName(), err)
		}
		if out != nil {
			if _, err := m.Replace(res); err != nil {
				return "", err
			}
		}
	}
	resources, err := m.AsYaml()
	if err != nil {
		return "", fmt.Errorf("kustomize build failed: %w", err)
	}
	objects, err := ssautil.ReadObjects(bytes.NewReader(resources))
	if err != nil {
		return "", err
	}
	if cm := k.Spec.CommonMetadata; cm != nil {
		ssautil.SetCommonMetadata(objects, cm.Labels, cm.Annotations)
	}
	manager := ssa.NewResourceManager(nil, nil, ssa.Owner{Field: "kustomize-controller", Group: kustomizev1.GroupVersion.Group})
	manager.SetOwnerLabels(objects, k.GetName(), k.GetNamespace())
	return ssautil.ObjectsToYAML(objects)
}

// kustomizationOf finds the Kustomization named name in file.
func kustomizationOf(file, name string) (*kustomizev1.Kustomization, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	dec := k8syaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), len(b))
	for {
		k := &kustomizev1.Kustomization{}
		if err := dec.Decode(k); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("no Kustomization named %q in %s", name, file)
			}
			return nil, fmt.Errorf("reading %s: %w", file, err)
		}
		if k.Kind == kustomizev1.KustomizationKind && k.GetName() == name &&
			k.GroupVersionKind().Group == kustomizev1.GroupVersion.Group {
			return k, nil
		}
	}
}
