package fn

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
)

// TestObjectsNamingACAGenerationKeepTheirNameForTheCAsLife runs, with the
// real binary and the real kustomize, two full CA rotations of the
// cluster-ca example (init, start, advance through every phase, start
// again, which promotes, ...) and renders every phase on the way. The
// second CA is made by the first start, signs through the first rotation's
// cleanup, is promoted to current, and is distrusted and removed by the
// second rotation: its whole life.
//
// Objects that name one CA generation are the Secrets spec.ca.secret
// renders besides itself, one per CA generation present: found by content
// (the CA certificate under keys.cert), not by name, so a rename cannot
// hide. Each CA must be held by exactly one such name in every render of
// its life, and by none once it is gone: an OSM MeshRootCertificate's
// secretRef, a cert-manager CA Issuer's secretName or a trust-manager
// source set to that name keeps finding the same CA. Before CA IDs,
// promotion renamed the current CA's Secret from <secret>-new to
// <secret>-old and this failed.
//
// The second case is a package an older carousel made: its material
// records no CA IDs (removed from what init and the first start write). Its CAs
// keep the names of the roles they had (<secret>-old, <secret>-new) for
// their lives, and the next CA is g1.
func TestObjectsNamingACAGenerationKeepTheirNameForTheCAsLife(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		name := map[bool]string{false: "material recording CA IDs", true: "material from before CA IDs"}[legacy]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			namesStayFixed(t, legacy)
		})
	}
}

func namesStayFixed(t *testing.T, legacy bool) {
	testkit.Tool(t, "kustomize")
	dir := t.TempDir()
	crashPackage(t, dir)
	carousel := testkit.Cmd{Dir: dir}
	names := map[string][]string{} // CA fingerprint -> generation Secret names, in render order
	lives := map[string][]string{} // CA fingerprint -> the renders it was present in
	render := func(label string) {
		t.Helper()
		p, _ := loadMaterial(t, dir)
		b := build(t, dir)
		if !b.ok {
			t.Fatalf("%s: kustomize build failed:\n%s", label, b.out)
		}
		state, err := phases.Lookup(p.Rotation.Spec.Scope, p.Rotation.Spec.Phase)
		if err != nil {
			t.Fatal(err)
		}
		sec := p.Rotation.Spec.CA.Secret
		items, err := (&kio.ByteReader{Reader: strings.NewReader(b.out)}).Read()
		if err != nil {
			t.Fatal(err)
		}
		found := 0
		for _, n := range items {
			if n.GetKind() != "Secret" || n.GetNamespace() != sec.Namespace || n.GetName() == sec.Name {
				continue
			}
			fp, ok := caHeld(t, n, sec.Keys.Cert)
			if !ok {
				continue
			}
			found++
			if !slices.Contains(names[fp], n.GetName()) {
				names[fp] = append(names[fp], n.GetName())
			}
			lives[fp] = append(lives[fp], label)
		}
		if found != len(state.CAPresent) {
			t.Fatalf("%s: %d CA generation Secrets rendered, the phase has %d CA generations", label, found, len(state.CAPresent))
		}
	}

	carousel.Must(t, "init", "carousel.yaml", "--plaintext-keys")
	if legacy {
		stripCAID(t, filepath.Join(dir, "material", "ca-old.yaml"))
	}
	render("init: steady")
	for rotation := 1; rotation <= 2; rotation++ {
		carousel.Must(t, "start", "carousel.yaml", "--plaintext-keys")
		if legacy && rotation == 1 {
			stripCAID(t, filepath.Join(dir, "material", "ca-new.yaml"))
		}
		render(fmt.Sprintf("rotation %d started: steady", rotation))
		// Every commit of the rotation, steps within a phase included
		// (runbook: kubernetes gives trust-new and distrust-old two).
		for step := 0; ; step++ {
			if step > 10 {
				t.Fatal("ten advances did not reach cleanup")
			}
			carousel.Must(t, "advance", "--no-cluster", "carousel.yaml")
			p, _ := loadMaterial(t, dir)
			ph := p.Rotation.Spec.Phase
			render(fmt.Sprintf("rotation %d: %s", rotation, ph))
			if ph == phases.Cleanup {
				break
			}
		}
	}
	carousel.Must(t, "start", "carousel.yaml", "--plaintext-keys") // promotes the second rotation
	render("after the second rotation: steady")

	if len(names) < 3 {
		t.Fatalf("the renders showed %d CAs, want 3 or more (init's and two rotations')", len(names))
	}
	fullLife := 0
	for fp, ns := range names {
		if len(ns) != 1 {
			t.Errorf("CA %s was named %s in its life (%s)", fp[:12], strings.Join(ns, ", then "), strings.Join(lives[fp], "; "))
		}
		if slices.Contains(lives[fp], "rotation 1: trust-new") && slices.Contains(lives[fp], "rotation 2: distrust-old") {
			fullLife++
		}
	}
	if fullLife != 1 {
		t.Fatalf("%d CAs lived from the first rotation's trust-new to the second's distrust-old, want 1 (the second CA)", fullLife)
	}
	var all []string
	for _, ns := range names {
		all = append(all, ns...)
	}
	slices.Sort(all)
	want := []string{"cluster-ca-g1", "cluster-ca-g2", "cluster-ca-g3"}
	if legacy {
		want = []string{"cluster-ca-g1", "cluster-ca-new", "cluster-ca-old"}
	}
	if !slices.Equal(all, want) {
		t.Fatalf("generation Secrets %v, want %v", all, want)
	}
}

// stripCAID makes a KeyPair file as carousel wrote it before CA IDs.
func stripCAID(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := regexp.MustCompile(`(?m)^\s+carousel\.dev/ca-id: .*\n`).ReplaceAll(b, nil)
	if len(out) == len(b) {
		t.Fatalf("%s records no CA ID", path)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

// caHeld returns the fingerprint of the CA certificate a Secret holds
// under key, if it holds one.
func caHeld(t *testing.T, n *yaml.RNode, key string) (string, bool) {
	t.Helper()
	v, err := n.Pipe(yaml.Lookup("data", key))
	if err != nil || v == nil {
		return "", false
	}
	raw, err := base64.StdEncoding.DecodeString(yaml.GetValue(v))
	if err != nil {
		return "", false
	}
	certs, err := pki.ParseCerts(raw)
	if err != nil || len(certs) == 0 || !certs[0].IsCA {
		return "", false
	}
	return pki.Fingerprint(certs[0]), true
}
