package testkit

import (
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// SwapKey returns a copy of dst (a KeyPair or a rendered Secret) holding
// src's encrypted private key: src's data.<key> value and src's sops
// metadata, with everything else (certificates, names) dst's. With
// mac_only_encrypted that is all a swap takes: the result decrypts, to a
// key that is not its certificate's. This is the mistake (or the attack)
// the key checks exist for.
func SwapKey(t testing.TB, dst, src *yaml.RNode, key string) *yaml.RNode {
	t.Helper()
	out := dst.Copy()
	v, err := src.Pipe(yaml.Lookup("data", key))
	if err != nil || v == nil {
		t.Fatalf("%s %s has no data.%s", src.GetKind(), src.GetName(), key)
	}
	if err := out.PipeE(yaml.Lookup("data"), yaml.SetField(key, v.Copy())); err != nil {
		t.Fatal(err)
	}
	s := src.Field("sops")
	if s == nil {
		t.Fatalf("%s %s carries no sops metadata", src.GetKind(), src.GetName())
	}
	if err := out.PipeE(yaml.SetField("sops", s.Value.Copy())); err != nil {
		t.Fatal(err)
	}
	return out
}
