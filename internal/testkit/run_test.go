package testkit

import (
	"slices"
	"strings"
	"testing"
)

func TestCmdEnvironAddsTheSwitchesThenEnvAndDropsUnset(t *testing.T) {
	t.Setenv("SOPS_AGE_KEY", "machine's")
	t.Setenv("KUBECONFIG", "machine's")
	env := Cmd{FixedClock: true, NoCluster: true, AgeKey: true, BinOnPath: true, Unset: []string{"SOPS_"}, Env: []string{"KUBECONFIG=mine"}}.Environ(t)
	last := map[string]string{} // as exec runs it: the last entry of a name wins
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		last[k] = v
	}
	if _, ok := last["SOPS_AGE_KEY"]; ok {
		t.Error("Unset SOPS_ kept SOPS_AGE_KEY")
	}
	if last["KUBECONFIG"] != "mine" {
		t.Errorf("KUBECONFIG=%q: Env must win over NoCluster", last["KUBECONFIG"])
	}
	if last["CAROUSEL_NOW"] != "2027-01-01T00:00:00Z" {
		t.Errorf("CAROUSEL_NOW=%q, want the suite's clock", last["CAROUSEL_NOW"])
	}
	if !strings.HasSuffix(last["SOPS_AGE_KEY_FILE"], AgeKeyFile) || last["HOME"] == "" || !strings.HasPrefix(last["PATH"], Root(t)+"/bin:") {
		t.Errorf("want the demo age key, a fresh HOME and bin/ first on PATH: %v", env)
	}
	if plain := (Cmd{}).Environ(t); !slices.ContainsFunc(plain, func(e string) bool { return strings.HasPrefix(e, "KUBECONFIG=machine's") }) {
		t.Error("the zero Cmd must run with the test's environment")
	}
}
