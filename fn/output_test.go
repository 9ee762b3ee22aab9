package fn

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
	js := offline.Must(t, "plan", file, "-o", "json").Stdout
	ym := offline.Must(t, "plan", file, "-o", "yaml").Stdout
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
		// status writes its report as metrics too.
		formats := map[string]string{"status": "text, json, openmetrics or yaml"}[cmd[0]]
		if formats == "" {
			formats = "text, json or yaml"
		}
		if r := offline.Run(t, cmd...); r.Code != 1 || !strings.Contains(r.Out, "--output must be "+formats) {
			t.Errorf("%s -o table: want exit 1 naming the formats, got %d:\n%s", cmd[0], r.Code, r.Out)
		}
	}
	// kubeconfig writes a file: --out, and -o is no file name anywhere.
	if r := offline.Run(t, "kubeconfig", file, "--leaf", "jane", "-o", filepath.Join(t.TempDir(), "jane.conf")); r.Code != 1 || !strings.Contains(r.Out, "unknown shorthand flag: 'o'") {
		t.Errorf("kubeconfig -o FILE must be refused (the file is --out): %d\n%s", r.Code, r.Out)
	}
}
