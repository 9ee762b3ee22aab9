package gen

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/material"
)

// emit hands one object the rotation renders (a CA or leaf Secret, a
// bundle) to the phase.
//
// Without an input object of the same kind, namespace and name, fresh is
// new: it is written after the input items. With one, the rotation takes
// it over: charts and operators render these objects themselves (Linkerd's
// linkerd-identity-trust-roots, Istio's istio-ca-root-cert, a Secret an
// operator's manifest creates), and a user cannot delete what Helm renders.
// See takeOver for what changes on the input object and what stays.
//
// The digest is fresh's, whatever happens to the object: a consumer reads
// the keys the rotation manages, so it rolls on those only, and a change to
// a key the rotation leaves alone never changes a restart hash.
func (r *renderer) emit(p *part, fresh *yaml.RNode, carries, digest string) {
	in := r.inputObject(idOf(fresh))
	if in == nil {
		p.render(fresh, carries, digest)
		return
	}
	if r.takeOver(in, fresh) {
		p.manage(in, carries, digest)
	}
}

// inputObject returns the input object with this id (the first, should the
// input hold two), or nil.
func (r *renderer) inputObject(id objID) *yaml.RNode {
	if r.byID == nil {
		r.byID = map[objID]*yaml.RNode{}
		for _, n := range r.items {
			if _, dup := r.byID[idOf(n)]; !dup {
				r.byID[idOf(n)] = n
			}
		}
	}
	return r.byID[id]
}

// dataFields are the fields of a ConfigMap or Secret that hold its keys.
// The API server refuses a ConfigMap key in both data and binaryData, and
// writes a Secret's stringData over its data, so a key the rotation manages
// must be in data alone.
var dataFields = []string{"data", "stringData", "binaryData"}

// takeOver edits the input object in, in place, into the object the
// rotation renders, fresh. It keeps the object's position in the input,
// every data key the rotation does not render, and every label and
// annotation; it writes the keys fresh holds (into data, removing them from
// stringData and binaryData), the rotation's label and the annotations
// fresh carries (renderedAnnotations, and trustedAnnotations on a CA
// generation Secret), and fresh's sops metadata when it carries a private
// key. An info result says which keys it kept and which it manages.
//
// It refuses, naming both sides:
//   - a Secret whose type is not the one the rotation renders (an empty
//     type is Opaque, as the API server defaults it): a kubernetes.io/tls
//     Secret validates keys an Opaque one does not, so neither side may win
//     silently;
//     a service-account token gets its own message, pointing at
//     spec.serviceAccountTokens, the field that updates it;
//   - an input object with its own sops metadata: a SOPS MAC covers every
//     value (unless only encrypted ones), so writing into the object breaks
//     its encryption, and an object carries one sops section, so two
//     encryptions (the object's and the KeyPair's) cannot share it;
//   - a key another rotation manages (see claimedByAnother).
//
// The original is kept in r.before, so the baseline (steady rendered over
// the same input) takes over the object as the input holds it, not as this
// phase left it.
func (r *renderer) takeOver(in, fresh *yaml.RNode) bool {
	what := fmt.Sprintf("%s %s/%s", in.GetKind(), in.GetNamespace(), in.GetName())
	name := r.rot.Metadata.Name
	if in.GetKind() == "Secret" {
		had, want := stringField(in, "type"), stringField(fresh, "type")
		if had == "" {
			had = "Opaque"
		}
		if had == ServiceAccountTokenType {
			r.errorAt(in, "type", serviceAccountTokenTakeover(what, name))
			return false
		}
		if had != want {
			r.errorAt(in, "type", fmt.Errorf("%s in the input has type %q, but rotation %q renders it with type %q: make the two agree (the input's manifest, or the rotation's secret.type)", what, had, name, want))
			return false
		}
	}
	if in.Field(material.SopsField) != nil {
		if fresh.Field(material.SopsField) != nil {
			r.errorAt(in, material.SopsField, fmt.Errorf("%s in the input is SOPS-encrypted, and rotation %q writes a SOPS-encrypted private key into it: two encryptions cannot share one object; leave the key out of the input object (or the object out of the input)", what, name))
		} else {
			r.errorAt(in, material.SopsField, fmt.Errorf("%s in the input is SOPS-encrypted: rotation %q cannot write its keys into it without breaking its MAC; keep the object unencrypted in the input (carousel renders no private key into it)", what, name))
		}
		return false
	}
	managed := dataKeys(fresh)
	if !r.claimedByAnother(in, managed, what) {
		return false
	}
	if v, _ := in.Pipe(yaml.Lookup("immutable")); v != nil && yaml.GetValue(v) == "true" {
		if changed := changedKeys(in, fresh, managed); len(changed) > 0 {
			r.errorAt(in, "immutable", fmt.Errorf("%s in the input is immutable (immutable: true), and phase %s of rotation %q changes its %s: the API server refuses any change to an immutable object's data; remove immutable: true from the input's manifest (carousel changes the object only in the phases that change these keys), or leave the object out of the input so the rotation renders it", what, r.rot.Spec.Phase, name, strings.Join(changed, ", ")))
			return false
		}
	}

	if r.before == nil {
		r.before = map[*yaml.RNode]*yaml.RNode{}
	}
	r.before[in] = in.Copy()
	kept := slices.DeleteFunc(dataKeys(in), func(k string) bool { return slices.Contains(managed, k) })
	for _, k := range managed {
		for _, f := range dataFields[1:] {
			if m := in.Field(f); m != nil && m.Value.YNode().Kind == yaml.MappingNode {
				_ = m.Value.PipeE(yaml.Clear(k))
				if len(m.Value.Content()) == 0 {
					_ = in.PipeE(yaml.Clear(f))
				}
			}
		}
		data, err := in.Pipe(yaml.LookupCreate(yaml.MappingNode, "data"))
		if err != nil {
			r.errorAt(in, "data", err)
			return false
		}
		data.YNode().Style = 0 // block: a PEM bundle stays a readable literal
		_ = data.PipeE(yaml.SetField(k, fresh.Field("data").Value.Field(k).Value))
	}
	for _, f := range []string{"labels", "annotations"} {
		for _, kv := range metadataPairs(fresh, f) {
			_ = in.PipeE(yaml.LookupCreate(yaml.MappingNode, "metadata", f), yaml.SetField(kv[0], yaml.NewStringRNode(kv[1])))
		}
	}
	if s := fresh.Field(material.SopsField); s != nil {
		_ = in.PipeE(yaml.SetField(material.SopsField, s.Value))
	}
	keeps := "keeps no other key"
	if len(kept) > 0 {
		keeps = "keeps keys " + strings.Join(kept, ", ")
	}
	r.results = append(r.results, result(framework.Info, in, "data", fmt.Sprintf("%s is in the input, and rotation %q renders it: taken over: %s; manages %s", what, name, keeps, strings.Join(managed, ", "))))
	return true
}

// claimedByAnother refuses to manage a key of an object another rotation
// already rendered, and reports whether the takeover may go on.
//
// Rotations run one after another (one function each in a kustomize or kpt
// pipeline), so a second rotation sees the first's output: an object
// carrying another rotation's carousel.dev/rotation label is one that
// rotation renders. Two rotations writing one key would each overwrite
// the other's trusted set in every render, and a consumer would roll on
// whichever ran last; that is always an error.
//
// Two rotations writing different keys of one object are allowed: one
// trust bundle ConfigMap with a key per CA (the cluster CA's and the
// front-proxy CA's, say) is a real layout, and neither rotation's key
// changes what the other's consumers read (restart digests are per
// rotation and per managed content). The later rotation takes the object
// over like any input object: the earlier one's keys are kept as they are,
// and its label names the later rotation.
//
// The label says which rotation rendered the object, not which of its keys
// that rotation manages, so every key the object holds counts as claimed:
// the rule is strict rather than exact. It refuses one layout it could
// allow (a later rotation taking a key of a chart object that an earlier
// rotation took over but left alone), and never lets two rotations write
// one key.
func (r *renderer) claimedByAnother(in *yaml.RNode, managed []string, what string) bool {
	other := material.RotationOf(in)
	if other == "" || other == r.rot.Metadata.Name {
		return true
	}
	held := dataKeys(in)
	ok := true
	for _, k := range managed {
		if slices.Contains(held, k) {
			r.errorAt(in, "data."+k, fmt.Errorf("%s: rotation %q and rotation %q both manage key %q (the object carries rotation %q's label and holds the key): two rotations cannot write one key; give one of them another key or object", what, other, r.rot.Metadata.Name, k, other))
			ok = false
		}
	}
	return ok
}

// dataKeys lists the keys of a ConfigMap or Secret, sorted.
func dataKeys(n *yaml.RNode) []string {
	var out []string
	for _, f := range dataFields {
		if m := n.Field(f); m != nil && m.Value.YNode().Kind == yaml.MappingNode {
			fields, _ := m.Value.Fields()
			out = append(out, fields...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// metadataPairs lists the entries of metadata.<field> (labels or
// annotations) in the order the object holds them.
func metadataPairs(n *yaml.RNode, field string) [][2]string {
	m, _ := n.Pipe(yaml.Lookup("metadata", field))
	if m == nil || m.YNode().Kind != yaml.MappingNode {
		return nil
	}
	var out [][2]string
	c := m.YNode().Content
	for i := 0; i+1 < len(c); i += 2 {
		out = append(out, [2]string{c[i].Value, c[i+1].Value})
	}
	return out
}

// stringField is the value of a top-level scalar field, or "".
func stringField(n *yaml.RNode, field string) string {
	if f := n.Field(field); f != nil {
		return yaml.GetValue(f.Value)
	}
	return ""
}

// changedKeys lists the keys of managed whose value in fresh is not the one
// the input object holds (in data, or in stringData as the API server would
// merge it).
func changedKeys(in, fresh *yaml.RNode, managed []string) []string {
	var out []string
	for _, k := range managed {
		want := yaml.GetValue(fresh.Field("data").Value.Field(k).Value)
		had := ""
		if v, _ := in.Pipe(yaml.Lookup("data", k)); v != nil {
			had = yaml.GetValue(v)
		} else if v, _ := in.Pipe(yaml.Lookup("stringData", k)); v != nil && in.GetKind() == "Secret" {
			had = base64.StdEncoding.EncodeToString([]byte(yaml.GetValue(v)))
		}
		if had != want {
			out = append(out, k)
		}
	}
	return out
}
