package status

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/pki"
)

// certSets maps each field path of an object to the SHA-256 fingerprints of
// the certificates it holds (PEM, base64 PEM, or a kubeconfig's
// certificate-authority-data), so the comparison never reads key material.
func certSets(n *yaml.RNode) map[string][]string {
	out := map[string][]string{}
	var walk func(path string, node *yaml.RNode)
	walk = func(path string, node *yaml.RNode) {
		switch node.YNode().Kind {
		case yaml.MappingNode:
			_ = node.VisitFields(func(f *yaml.MapNode) error {
				k := f.Key.YNode().Value
				if path == "" && (k == "metadata" || k == material.SopsField || k == "status") {
					return nil
				}
				walk(path+"."+k, f.Value)
				return nil
			})
		case yaml.SequenceNode:
			els, _ := node.Elements()
			for i, e := range els {
				key := fmt.Sprint(i)
				if name := e.Field("name"); name != nil {
					key = "[name=" + yaml.GetValue(name.Value) + "]"
				}
				walk(path+"."+key, e)
			}
		case yaml.ScalarNode:
			if fps := fingerprints(node.YNode().Value); len(fps) > 0 {
				out[strings.TrimPrefix(path, ".")] = fps
			}
		}
	}
	walk("", n)
	return out
}

func fingerprints(v string) []string {
	try := func(text string) []string {
		if !strings.Contains(text, "-----BEGIN CERTIFICATE-----") {
			return nil
		}
		var fps []string
		for _, block := range strings.SplitAfter(text, "-----END CERTIFICATE-----") {
			i := strings.Index(block, "-----BEGIN CERTIFICATE-----")
			if i < 0 {
				continue
			}
			if c, err := pki.ParseCert([]byte(block[i:])); err == nil {
				fps = append(fps, pki.Fingerprint(c))
			}
		}
		slices.Sort(fps)
		return slices.Compact(fps)
	}
	if fps := try(v); len(fps) > 0 {
		return fps
	}
	if b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v)); err == nil {
		if fps := try(string(b)); len(fps) > 0 {
			return fps
		}
		v = string(b)
	}
	// A kubeconfig: its certificate-authority-data values.
	var fps []string
	for _, line := range strings.Split(v, "\n") {
		if _, data, ok := strings.Cut(line, "certificate-authority-data:"); ok {
			if b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(data)); err == nil {
				fps = append(fps, try(string(b))...)
			}
		}
	}
	slices.Sort(fps)
	return slices.Compact(fps)
}

// knownFingerprints are every certificate the rendered phase mentions and
// every leaf generation of the material (out.KnownLeaves): a live object
// holding anything else is managed by someone else too. The leaf
// generations count because a leaf Secret one phase behind (at sign-new,
// still trust-new's leaf of the old CA) is a phase not applied yet, which
// the render of the current phase no longer mentions.
func knownFingerprints(out gen.Output) map[string]bool {
	known := map[string]bool{}
	for fp := range out.KnownLeaves {
		known[fp] = true
	}
	for _, n := range out.Items {
		for _, fps := range certSets(n) {
			for _, fp := range fps {
				known[fp] = true
			}
		}
	}
	return known
}

func short(fps []string) string {
	s := make([]string, len(fps))
	for i, f := range fps {
		s[i] = f[:12]
	}
	return "[" + strings.Join(s, " ") + "]"
}
