package main

import (
	"bytes"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/carousel-dev/carousel/internal/testkit"
)

// TestTheDemoWalksEveryCommitAndRollsWhatEachRolls: `make demo` is the
// first command a newcomer runs. It renders every commit of the cluster-ca
// rotation, steps within a phase included, so the add-ons that read
// in-cluster config (kube-proxy, CoreDNS) roll at the in-cluster-config
// steps and nowhere else, and cleanup rolls nothing (it once rendered phases
// without their steps and showed both rolling at sign-new and at cleanup).
func TestTheDemoWalksEveryCommitAndRollsWhatEachRolls(t *testing.T) {
	var out bytes.Buffer
	root := testkit.Root(t)
	if err := run(&out, filepath.Join(root, "examples", "cluster-ca"), testkit.Tool(t, "kustomize"), testkit.Carousel(t)); err != nil {
		t.Fatal(err)
	}
	sections := regexp.MustCompile(`(?m)^== \d+\. `).Split(out.String(), -1)[1:]
	want := []struct{ head, rolls string }{
		{"steady:", ""},
		{"trust-new, step 1 of 2 (objects)", "4 workloads"},
		{"trust-new, step 2 of 2 (in-cluster-config)", "2 workloads"},
		{"sign-new:", "2 workloads"},
		{"distrust-old, step 1 of 2 (objects)", "4 workloads"},
		{"distrust-old, step 2 of 2 (in-cluster-config)", "2 workloads"},
		{"cleanup:", "nothing"},
	}
	if len(sections) != len(want) {
		t.Fatalf("want %d commits, got %d:\n%s", len(want), len(sections), out.String())
	}
	addOns := []string{"DaemonSet kube-system/kube-proxy", "Deployment kube-system/coredns"}
	for i, w := range want {
		s := sections[i]
		if !strings.HasPrefix(s, w.head) || (w.rolls != "" && !strings.Contains(s, "rolls:   "+w.rolls)) {
			t.Errorf("commit %d: want %q rolling %q, got:\n%s", i+1, w.head, w.rolls, s)
		}
		inCluster := strings.Contains(w.head, "in-cluster-config")
		for _, a := range addOns {
			if strings.Contains(s, "- "+a) != inCluster {
				t.Errorf("commit %d (%s): %s must roll exactly at the in-cluster-config steps:\n%s", i+1, w.head, a, s)
			}
		}
	}
}
