package main

import (
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/carousel-dev/carousel/pkg/phases"
)

// TestOutputNamesAFormatInEveryCommand: -o is text, json or yaml wherever it
// exists (files are --out), and yaml is the json with the same fields.
func TestOutputNamesAFormatInEveryCommand(t *testing.T) {
	dir := examplePackage(t, phases.Steady)
	file := filepath.Join(dir, "carousel.yaml")
	js, err := runCarousel(t, "plan", file, "-o", "json")
	if err != nil {
		t.Fatalf("%v\n%s", err, js)
	}
	ym, err := runCarousel(t, "plan", file, "-o", "yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, ym)
	}
	want, err := yaml.JSONToYAML([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	if ym != string(want) {
		t.Fatalf("plan -o yaml is not plan -o json as YAML:\n%s", ym)
	}
	for _, cmd := range [][]string{
		{"plan", file, "-o", "table"},
		{"status", file, "-o", "table", "--kubeconfig", filepath.Join(dir, "nope")},
		{"check", file, "-o", "table", "--base", "main"},
	} {
		out, err := runCarousel(t, cmd...)
		if code := exitOf(t, err); code != 1 || !strings.Contains(out, "--output must be text, json or yaml") {
			t.Errorf("%s -o table: want exit 1 naming the formats, got %d:\n%s", cmd[0], code, out)
		}
	}
	// kubeconfig writes a file: --out, and -o is no file name anywhere.
	out, err := runCarousel(t, "kubeconfig", file, "--leaf", "jane", "-o", filepath.Join(t.TempDir(), "jane.conf"))
	if code := exitOf(t, err); code != 1 || !strings.Contains(out, "unknown shorthand flag: 'o'") {
		t.Errorf("kubeconfig -o FILE must be refused (the file is --out): %d\n%s", code, out)
	}
}
