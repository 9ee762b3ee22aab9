package kbuild

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/carousel-dev/carousel/internal/testkit"
)

// TestTheLibraryIsThePinnedKustomizes: carousel build claims kustomize
// KustomizeVersion's output; that is the kustomize the tests compare with
// (hack/tools.sh), and carousel links the sigs.k8s.io/kustomize/api that
// release is built from.
func TestTheLibraryIsThePinnedKustomizes(t *testing.T) {
	root := testkit.Root(t)
	tools, err := os.ReadFile(filepath.Join(root, "hack", "tools.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^\s*"kustomize ` + regexp.QuoteMeta(KustomizeVersion) + ` kustomize"$`).Match(tools) {
		t.Fatalf("hack/tools.sh does not pin kustomize %s", KustomizeVersion)
	}
	api := regexp.MustCompile(`(?m)^\s*sigs\.k8s\.io/kustomize/api (v\S+)`)
	ours, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "mod", "download", "-json", "sigs.k8s.io/kustomize/kustomize/v5@"+KustomizeVersion)
	cmd.Dir, cmd.Env = root, append(os.Environ(), "GOFLAGS=-mod=mod")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod download kustomize %s: %v", KustomizeVersion, err)
	}
	var mod struct{ GoMod string }
	if err := json.Unmarshal(out, &mod); err != nil {
		t.Fatal(err)
	}
	theirs, err := os.ReadFile(mod.GoMod)
	if err != nil {
		t.Fatal(err)
	}
	o, th := api.FindSubmatch(ours), api.FindSubmatch(theirs)
	if o == nil || th == nil {
		t.Fatalf("no sigs.k8s.io/kustomize/api requirement in go.mod (%v) or in kustomize %s's (%v)", o != nil, KustomizeVersion, th != nil)
	}
	if string(o[1]) != string(th[1]) {
		t.Fatalf("go.mod requires sigs.k8s.io/kustomize/api %s; kustomize %s is built from %s", o[1], KustomizeVersion, th[1])
	}
}
