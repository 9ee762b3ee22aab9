package spec

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/krmio"
	"github.com/carousel-dev/carousel/pkg/phases"
)

// The kinds of a rotation shared across packages: the owner publishes a
// CARotationState (`carousel publish`), and a package owned by another team
// or repository holds a CARotationConsumer as its function config, with the
// state among its resources (docs/fleet.md).
const (
	StateKind    = "CARotationState"
	ConsumerKind = "CARotationConsumer"
)

// CARotationState is the public state of a rotation in one phase: what a
// consumer package needs to render its bundles and caBundles and to roll
// its workloads exactly as the owner's package would. It holds no key
// material, and readers refuse one that does.
type CARotationState struct {
	APIVersion string    `json:"apiVersion"`
	Kind       string    `json:"kind"`
	Metadata   Metadata  `json:"metadata"`
	Spec       StateSpec `json:"spec"`
}

type StateSpec struct {
	Scope phases.Scope `json:"scope"`
	Phase phases.Phase `json:"phase"`
	// Signer is the CA generation signing the phase's leaves.
	Signer phases.Generation `json:"signer"`
	// SignerFingerprint is the SHA-256 fingerprint of that CA.
	SignerFingerprint string `json:"signerFingerprint"`
	// Leaves maps each leaf to the fingerprint of the certificate it serves.
	Leaves map[string]string `json:"leaves,omitempty"`
	// Trusted is the phase's trusted set, PEM, sorted as bundles hold it.
	Trusted string `json:"trusted"`
	// Digests: one per kind of consumption ("trust", "ca", "leaf:<name>"),
	// exactly those the owner's restart annotations are hashed from.
	Digests map[string]string `json:"digests"`
	// Baseline is the steady phase over the same material (absent: the
	// owner has none and annotates every consumer).
	Baseline *StateBaseline `json:"baseline,omitempty"`
	// Roots is, in a shared root's state (spec.clusters), every root
	// certificate its owner holds at the phase, PEM: the old one, and the
	// new one once `carousel start` made it, until cleanup prunes the
	// old. A cluster trusts no root outside it.
	Roots string `json:"roots,omitempty"`
}

// StateBaseline is what consumers read before the rotation began; a
// workload whose consumption equals it carries no annotation (adoption
// rolls nothing, docs/phases.md).
type StateBaseline struct {
	Trusted  string            `json:"trusted"`
	Digests  map[string]string `json:"digests"`
	Promoted []string          `json:"promoted,omitempty"`
}

// CARotationConsumer is the function config of a consumer package.
type CARotationConsumer struct {
	APIVersion string       `json:"apiVersion"`
	Kind       string       `json:"kind"`
	Metadata   Metadata     `json:"metadata"`
	Spec       ConsumerSpec `json:"spec"`
}

type ConsumerSpec struct {
	// State is the metadata.name of the CARotationState among the
	// package's resources (the owner's state directory, as a path in the
	// same repository or a kustomize remote resource pinned to a commit).
	State string `json:"state"`
	// RenderedAnnotations, Bundles, CABundles and Restarts are the fields
	// of a CARotation spec, with the same meaning and checks.
	RenderedAnnotations map[string]string `json:"renderedAnnotations,omitempty"`
	Bundles             []Bundle          `json:"bundles,omitempty"`
	CABundles           []CABundleTarget  `json:"caBundles,omitempty"`
	Restarts            []Restart         `json:"restarts,omitempty"`
}

// ConsumerFields are the fields of a CARotationConsumer's spec besides
// state: each is the CARotation field of the same name.
var ConsumerFields = []string{"renderedAnnotations", "bundles", "caBundles", "restarts"}

// LoadConsumer reads and checks a CARotationConsumer. Key material
// anywhere in it is refused with its path. The CARotation fields it shares
// are checked by Load itself, on a CARotation holding just them, so their
// rules and messages are the CARotation's.
func LoadConsumer(node *yaml.RNode) (*CARotationConsumer, error) {
	obj, errs := mapping(node, ConsumerKind)
	if obj == nil {
		return nil, errs
	}
	errs = append(errs, KeyMaterial(node, "")...)
	errs = append(errs, onlyFields(obj, "", "apiVersion", "kind", "metadata", "spec")...)
	sp, _ := obj["spec"].(map[string]any)
	if sp == nil {
		errs.add("spec", "is required")
	} else {
		errs = append(errs, onlyFields(sp, "spec", append([]string{"state"}, ConsumerFields...)...)...)
		if s, _ := sp["state"].(string); s == "" {
			errs.add("spec.state", "name the CARotationState among the package's resources (its metadata.name)")
		}
		errs = append(errs, asRotation(sp)...)
	}
	var c CARotationConsumer
	if b, err := json.Marshal(obj); err == nil {
		if err := json.Unmarshal(b, &c); err != nil && len(errs) == 0 {
			errs.add("spec", "%v", err)
		}
	}
	if !dnsLabel.MatchString(c.Metadata.Name) {
		errs.add("metadata.name", "%q must be a DNS label", c.Metadata.Name)
	}
	if len(errs) > 0 {
		return nil, sorted(errs)
	}
	for i := range c.Spec.Bundles {
		r := CARotation{Spec: Spec{Bundles: c.Spec.Bundles[i : i+1]}}
		_ = r.Default()
		c.Spec.Bundles[i] = r.Spec.Bundles[0]
	}
	for i := range c.Spec.Restarts {
		if len(c.Spec.Restarts[i].Consumes) == 0 {
			c.Spec.Restarts[i].Consumes = []string{Trust}
		}
	}
	return &c, nil
}

// asRotation checks the shared fields as a CARotation would: through Load,
// on a rotation holding them and one stand-in leaf per leaf a restart rule
// names (which leaves exist is the state's to say, at render).
func asRotation(sp map[string]any) FieldErrors {
	rs := map[string]any{"ca": map[string]any{"commonName": "consumer"}}
	for _, f := range ConsumerFields {
		if v, ok := sp[f]; ok {
			rs[f] = v
		}
	}
	var leaves []any
	seen := map[string]bool{}
	restarts, _ := sp["restarts"].([]any)
	for _, r := range restarts {
		rm, _ := r.(map[string]any)
		cs, _ := rm["consumes"].([]any)
		for _, c := range cs {
			s, _ := c.(string)
			name, ok := strings.CutPrefix(s, LeafPrefix)
			if !ok || seen[name] || !dnsLabel.MatchString(name) {
				continue
			}
			seen[name] = true
			leaves = append(leaves, map[string]any{"name": name, "commonName": name,
				"secret": map[string]any{"name": "carousel-stand-in-" + name, "namespace": "carousel-stand-in"}})
		}
	}
	if leaves != nil {
		rs["leaves"] = leaves
	}
	b, err := json.Marshal(map[string]any{"apiVersion": APIVersion, "kind": Kind, "metadata": map[string]any{"name": "consumer"}, "spec": rs})
	if err != nil {
		return FieldErrors{{Path: "spec", Message: err.Error()}}
	}
	n, err := yaml.ConvertJSONToYamlNode(string(b))
	if err != nil {
		return FieldErrors{{Path: "spec", Message: err.Error()}}
	}
	_, err = Load(n)
	var fe FieldErrors
	if err == nil || !errors.As(err, &fe) {
		if err != nil {
			return FieldErrors{{Path: "spec", Message: err.Error()}}
		}
		return nil
	}
	var out FieldErrors
	for _, e := range fe {
		if strings.HasPrefix(e.Path, "spec.leaves") || strings.HasPrefix(e.Path, "spec.ca") && !strings.HasPrefix(e.Path, "spec.caBundles") {
			continue // the stand-ins'
		}
		out = append(out, FieldError{Path: e.Path, Message: strings.ReplaceAll(e.Message, Kind+" ", ConsumerKind+" ")})
	}
	return out
}

// LoadState reads and checks a CARotationState: closed fields, a phase of
// its scope, and no key material.
func LoadState(node *yaml.RNode) (*CARotationState, error) {
	obj, errs := mapping(node, StateKind)
	if obj == nil {
		return nil, errs
	}
	errs = append(errs, KeyMaterial(node, "")...)
	errs = append(errs, onlyFields(obj, "", "apiVersion", "kind", "metadata", "spec")...)
	sp, _ := obj["spec"].(map[string]any)
	if sp == nil {
		errs.add("spec", "is required")
	} else {
		errs = append(errs, onlyFields(sp, "spec", "scope", "phase", "signer", "signerFingerprint", "leaves", "trusted", "digests", "baseline", "roots")...)
		if b, ok := sp["baseline"].(map[string]any); ok {
			errs = append(errs, onlyFields(b, "spec.baseline", "trusted", "digests", "promoted")...)
		}
	}
	var s CARotationState
	if b, err := json.Marshal(obj); err == nil {
		if err := json.Unmarshal(b, &s); err != nil && len(errs) == 0 {
			errs.add("spec", "%v", err)
		}
	}
	if _, err := phases.Lookup(s.Spec.Scope, s.Spec.Phase); err != nil {
		errs.add("spec.phase", "%v", err)
	}
	if s.Spec.Trusted == "" {
		errs.add("spec.trusted", "is required")
	}
	if s.Spec.Digests[Trust] == "" {
		errs.add("spec.digests.trust", "is required")
	}
	if len(errs) > 0 {
		return nil, sorted(errs)
	}
	return &s, nil
}

// mapping converts a node of the given kind to plain data.
func mapping(node *yaml.RNode, kind string) (map[string]any, FieldErrors) {
	if node == nil || node.YNode() == nil {
		return nil, FieldErrors{{Path: "functionConfig", Message: "no " + kind + " was given"}}
	}
	y := node.YNode()
	if y.Kind == yaml.DocumentNode && len(y.Content) == 1 {
		y = y.Content[0]
	}
	if y.Kind != yaml.MappingNode {
		return nil, FieldErrors{{Path: "functionConfig", Message: fmt.Sprintf("must be a %s resource (a YAML mapping), not a %s", kind, krmio.KindOf(y))}}
	}
	data, errs := toData(y)
	obj, _ := data.(map[string]any)
	if obj == nil {
		return nil, append(errs, FieldError{Path: "functionConfig", Message: "must be a mapping"})
	}
	if a, k := obj["apiVersion"], obj["kind"]; a != APIVersion || k != kind {
		return nil, FieldErrors{{Path: "apiVersion", Message: fmt.Sprintf("want %s %s, got %v %v", APIVersion, kind, a, k)}}
	}
	return obj, errs
}

func onlyFields(obj map[string]any, path string, fields ...string) FieldErrors {
	var errs FieldErrors
	for _, k := range sortedKeys(obj) {
		if !slices.Contains(fields, k) {
			p := k
			if path != "" {
				p = path + "." + k
			}
			errs.add(p, "is not a field here (want one of %s)", strings.Join(fields, ", "))
		}
	}
	return errs
}

func sorted(errs FieldErrors) FieldErrors {
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Path < errs[j].Path })
	return errs
}

// KeyMaterial finds private keys anywhere under a node: a PEM private key
// (plain or base64-encoded, as a Secret holds it), a SOPS-encrypted value
// or SOPS metadata. A state or consumer config carries certificates and
// digests only; a key there is a leak waiting to be applied, so it is
// refused, at its path, rather than passed on.
func KeyMaterial(node *yaml.RNode, path string) FieldErrors {
	var errs FieldErrors
	var walk func(y *yaml.Node, p string)
	walk = func(y *yaml.Node, p string) {
		switch y.Kind {
		case yaml.DocumentNode:
			for _, c := range y.Content {
				walk(c, p)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(y.Content); i += 2 {
				k := y.Content[i].Value
				kp := k
				if p != "" {
					kp = p + "." + k
				}
				if k == "sops" {
					errs.add(kp, "SOPS metadata: an encrypted private key has no place here; it holds public data only")
					continue
				}
				walk(y.Content[i+1], kp)
			}
		case yaml.SequenceNode:
			for i, c := range y.Content {
				walk(c, fmt.Sprintf("%s[%d]", p, i))
			}
		case yaml.ScalarNode:
			if why := keyIn(y.Value); why != "" {
				errs.add(p, "holds %s: it holds public data only (certificates and digests); remove the key and rotate it, it has been exposed", why)
			}
		}
	}
	if node != nil && node.YNode() != nil {
		walk(node.YNode(), path)
	}
	return errs
}

func keyIn(v string) string {
	switch {
	case strings.Contains(v, "PRIVATE KEY-----"):
		return "a PEM private key"
	case strings.HasPrefix(strings.TrimSpace(v), "ENC["):
		return "a SOPS-encrypted value"
	}
	if len(v) >= 40 && !strings.ContainsAny(v, " \n:") {
		if b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v)); err == nil && strings.Contains(string(b), "PRIVATE KEY-----") {
			return "a base64-encoded PEM private key"
		}
	}
	return ""
}
