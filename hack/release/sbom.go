package main

import (
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// SBOM is a CycloneDX 1.5 document for the binary at path, read from the
// build information the Go linker wrote into it: the main module and every
// module linked in, with its version and go.sum hash (h1:, which is no
// CycloneDX hash algorithm, so a property), and the toolchain and
// build settings. It is made from the binary, not from go.mod, so it lists
// what shipped, and it has no serial number or time of its own but the
// commit's, so the same binary gives the same document.
func SBOM(path string, o Options) ([]byte, error) {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return nil, err
	}
	type property struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	type component struct {
		Type       string     `json:"type"`
		BOMRef     string     `json:"bom-ref"`
		Name       string     `json:"name"`
		Version    string     `json:"version,omitempty"`
		PURL       string     `json:"purl,omitempty"`
		Properties []property `json:"properties,omitempty"`
	}
	purl := func(path, version string) string { return "pkg:golang/" + path + "@" + version }
	main := component{Type: "application", Name: "carousel", Version: o.Version,
		BOMRef: purl(bi.Main.Path, o.Version), PURL: purl(bi.Main.Path, o.Version),
		Properties: []property{{"go:version", bi.GoVersion}, {"vcs:revision", o.Commit}}}
	for _, s := range bi.Settings {
		main.Properties = append(main.Properties, property{"go:build:" + s.Key, s.Value})
	}
	var comps []component
	for _, d := range bi.Deps {
		m := d
		if d.Replace != nil {
			m = d.Replace
		}
		c := component{Type: "library", Name: d.Path, Version: m.Version, BOMRef: purl(d.Path, m.Version), PURL: purl(m.Path, m.Version)}
		if m.Sum != "" {
			c.Properties = append(c.Properties, property{"go:sum", m.Sum})
		}
		if d.Replace != nil {
			c.Properties = append(c.Properties, property{"go:replace", m.Path + "@" + m.Version})
		}
		comps = append(comps, c)
	}
	slices.SortFunc(comps, func(a, b component) int { return strings.Compare(a.BOMRef, b.BOMRef) })
	var deps []string
	for _, c := range comps {
		deps = append(deps, c.BOMRef)
	}
	doc := map[string]any{
		"bomFormat":   "CycloneDX",
		"specVersion": "1.5",
		"version":     1,
		"metadata": map[string]any{
			"timestamp": o.Time.Format("2006-01-02T15:04:05Z"),
			"tools":     map[string]any{"components": []component{{Type: "application", BOMRef: "carousel-release", Name: "carousel hack/release"}}},
			"component": main,
		},
		"components":   comps,
		"dependencies": []map[string]any{{"ref": main.BOMRef, "dependsOn": deps}},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("sbom: %w", err)
	}
	return append(b, '\n'), nil
}
