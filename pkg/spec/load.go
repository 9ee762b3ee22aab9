package spec

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	openapierrors "k8s.io/kube-openapi/pkg/validation/errors"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/resid"
	"sigs.k8s.io/kustomize/kyaml/yaml"
	k8syaml "sigs.k8s.io/yaml"

	"github.com/carousel-dev/carousel/pkg/krmio"
)

// CRD is the CARotation CustomResourceDefinition, the schema of record.
//
//go:embed carousel.dev_carotations.yaml
var CRD string

var schema = sync.OnceValues(func() (*spec.Schema, error) {
	// YAML anchors keep the CRD short; expand them before kyaml reads it.
	var doc any
	if err := k8syaml.Unmarshal([]byte(CRD), &doc); err != nil {
		return nil, err
	}
	b, err := k8syaml.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return framework.SchemaFromFunctionDefinition(resid.NewGvk(Group, Version, Kind), string(b))
})

// Load reads, schema-checks, defaults and validates a CARotation. Every
// problem comes back at once as FieldErrors with field paths: schema errors
// (unknown fields, wrong types, enums) and the cross-field rules of Validate
// together, so a user fixes a spec in one pass. It never panics, whatever
// the YAML: a node that is not a mapping, keys that are not strings, or
// aliases that expand without bound are field errors too.
func Load(node *yaml.RNode) (*CARotation, error) {
	if node == nil || node.YNode() == nil {
		return nil, FieldErrors{{Path: "functionConfig", Message: "no CARotation was given as the function config"}}
	}
	y := node.YNode()
	if y.Kind == yaml.DocumentNode && len(y.Content) == 1 {
		y = y.Content[0]
	}
	if y.Kind != yaml.MappingNode {
		return nil, FieldErrors{{Path: "functionConfig", Message: fmt.Sprintf("must be a %s resource (a YAML mapping), not a %s", Kind, krmio.KindOf(y))}}
	}
	data, convErrs := toData(y)
	obj, _ := data.(map[string]any)
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	if apiVersion != APIVersion || kind != Kind {
		return nil, FieldErrors{{Path: "apiVersion", Message: fmt.Sprintf("want %s %s, got %s %s", APIVersion, Kind, apiVersion, kind)}}
	}
	sch, err := schema()
	if err != nil {
		return nil, fmt.Errorf("loading the CARotation schema: %w", err)
	}
	// Schema errors, and what the schema cannot say about the object's own
	// fields (a CRD schema may not close its root or metadata).
	found := append(convErrs, objectErrors(obj)...)
	if specSchema, ok := sch.Properties["spec"]; ok {
		found = append(found, closed(&specSchema, obj["spec"], "spec")...)
	}
	if err := validate.AgainstSchema(sch, obj, strfmt.Default); err != nil {
		for _, e := range schemaErrors(err) {
			// A value the conversion refused was left out: the schema
			// would only add "is required" or "must be of type" to it.
			if !covered(convErrs, e.Path) {
				found = append(found, e)
			}
		}
	}
	// Decode what can be decoded (encoding/json skips values of the wrong
	// type and goes on) so the cross-field rules run in the same pass.
	var r CARotation
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, FieldErrors{{Path: "spec", Message: err.Error()}}
	}
	if err := json.Unmarshal(b, &r); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			// The schema names most type errors already, and better.
			// encoding/json names fields without list indices.
			if p := fieldPath(te.Field); !related(withoutIndices(found), p) {
				found = append(found, FieldError{Path: p, Message: fmt.Sprintf("must be a %s, not a %s", te.Type, te.Value)})
			}
		default:
			found = append(found, FieldError{Path: "spec", Message: err.Error()})
		}
	}
	if err := r.Default(); err != nil {
		return nil, err
	}
	if err := r.Validate(); err != nil {
		var fe FieldErrors
		if !errors.As(err, &fe) {
			return nil, err
		}
		// A field the schema already refused needs one message, not two.
		for _, e := range fe {
			if !covered(found, e.Path) {
				found = append(found, e)
			}
		}
	}
	if len(found) > 0 {
		sort.SliceStable(found, func(i, j int) bool { return found[i].Path < found[j].Path })
		return nil, found
	}
	return &r, nil
}

// covered reports whether path, or a field containing it, already has an error.
func covered(errs FieldErrors, path string) bool {
	for _, e := range errs {
		if e.Path == path || strings.HasPrefix(path, e.Path+".") || strings.HasPrefix(path, e.Path+"[") {
			return true
		}
	}
	return false
}

// related reports whether path, a field containing it or a field inside it
// already has an error.
func related(errs FieldErrors, path string) bool {
	for _, e := range errs {
		if covered(FieldErrors{{Path: path}}, e.Path) {
			return true
		}
	}
	return covered(errs, path)
}

var index = regexp.MustCompile(`\[[0-9]+\]`)

func withoutIndices(errs FieldErrors) FieldErrors {
	out := make(FieldErrors, len(errs))
	for i, e := range errs {
		out[i] = FieldError{Path: index.ReplaceAllString(e.Path, ""), Message: e.Message}
	}
	return out
}

// objectMetaFields are the fields of Kubernetes' ObjectMeta: known, so not
// refused, though the function reads only name, namespace, labels and
// annotations.
var objectMetaFields = map[string]bool{
	"name": true, "generateName": true, "namespace": true, "selfLink": true, "uid": true,
	"resourceVersion": true, "generation": true, "creationTimestamp": true, "deletionTimestamp": true,
	"deletionGracePeriodSeconds": true, "labels": true, "annotations": true, "ownerReferences": true,
	"finalizers": true, "managedFields": true,
}

// objectErrors checks the resource's own fields, which a CRD schema leaves
// open (the API server forbids additionalProperties at the root and lets
// metadata be ObjectMeta): a CARotation has apiVersion, kind, metadata and
// spec only (no status: the state of a rotation is spec.phase, in git), and
// its labels and annotations are strings.
func objectErrors(obj map[string]any) FieldErrors {
	var errs FieldErrors
	for _, k := range sortedKeys(obj) {
		switch k {
		case "apiVersion", "kind", "metadata", "spec":
		case "status":
			errs.add(k, "is not a field of %s %s: a rotation's state is spec.phase, committed in git", Kind, APIVersion)
		default:
			errs.add(k, "is not a field of %s %s (misspelled?)", Kind, APIVersion)
		}
	}
	meta, ok := obj["metadata"].(map[string]any)
	if !ok {
		return errs // the schema reports a missing or mistyped metadata
	}
	for _, k := range sortedKeys(meta) {
		if !objectMetaFields[k] {
			errs.add("metadata."+k, "is not a field of metadata (misspelled?)")
		}
	}
	for _, f := range []string{"labels", "annotations"} {
		v, set := meta[f]
		if !set || v == nil {
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			errs.add("metadata."+f, "must be a mapping of strings")
			continue
		}
		for _, k := range sortedKeys(m) {
			if _, ok := m[k].(string); !ok {
				errs.add("metadata."+f+"."+k, "must be a string (quote it)")
			}
		}
	}
	for _, f := range []string{"name", "namespace"} {
		if v, set := meta[f]; set && v != nil {
			if _, ok := v.(string); !ok {
				errs.add("metadata."+f, "must be a string")
			}
		}
	}
	return errs
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// schemaErrors turns kube-openapi's validation errors into FieldErrors whose
// paths use the results convention (spec.leaves[0].name, not spec.leaves.0.name).
func schemaErrors(err error) FieldErrors {
	var out FieldErrors
	var walk func(error)
	walk = func(err error) {
		var comp *openapierrors.CompositeError
		var v *openapierrors.Validation
		switch {
		case errors.As(err, &comp):
			for _, e := range comp.Errors {
				walk(e)
			}
		case errors.As(err, &v):
			if v.Code() == openapierrors.UnallowedPropertyCode {
				key, _ := v.Value.(string)
				out = append(out, FieldError{Path: fieldPath(v.Name + "." + key), Message: "is not a field of " + Kind + " " + APIVersion + " (misspelled?)"})
				return
			}
			msg := v.Error()
			// kube-openapi says "spec.x in body should be ...": keep the verdict only.
			if i := strings.Index(msg, " in body "); i >= 0 {
				msg = msg[i+len(" in body "):]
			} else if v.Name != "" {
				msg = strings.TrimPrefix(msg, v.Name+" ")
			}
			out = append(out, FieldError{Path: fieldPath(v.Name), Message: msg})
		default:
			out = append(out, FieldError{Path: "spec", Message: err.Error()})
		}
	}
	walk(err)
	return out
}

func fieldPath(name string) string {
	if name == "" || name == "." {
		return "spec"
	}
	parts := strings.Split(name, ".")
	var b strings.Builder
	for i, p := range parts {
		if p != "" && strings.Trim(p, "0123456789") == "" {
			b.WriteString("[" + p + "]")
			continue
		}
		if i > 0 {
			b.WriteString(".")
		}
		b.WriteString(p)
	}
	return b.String()
}

// LocalConfigAnnotation marks a resource as configuration for tools, never
// applied: kpt passes its function configs (carousel.yaml) among the
// resources with it, and kustomize drops such resources from its output.
const LocalConfigAnnotation = "config.kubernetes.io/local-config"

// ItemResults reports CARotations among a function's items. One there
// without the local-config annotation was listed as a resource (under
// `resources:` instead of `transformers:`, most likely): it would be applied
// to the cluster, and its rotation not rendered unless it is also a
// transformer. kpt's own config file (marked local-config) passes.
func ItemResults(items []*yaml.RNode) framework.Results {
	var out framework.Results
	for _, n := range items {
		id := krmio.Identity(n)
		if id.Kind != Kind || id.APIVersion != APIVersion {
			continue
		}
		if krmio.StringMap(n, yaml.AnnotationsField)[LocalConfigAnnotation] == "true" {
			continue
		}
		out = append(out, krmio.ResultAt(framework.Error, n, "",
			fmt.Sprintf("%s %s is among the resources, so it would be applied to the cluster: list its file under `transformers:` in the kustomization, not `resources:` (with kpt, annotate it %s: \"true\")", Kind, id.Name, LocalConfigAnnotation)))
	}
	return out
}

// ErrorResults turns a Load error into error results on the config, one
// per field. Safe on any config node, even one that is not a mapping.
func ErrorResults(config *yaml.RNode, err error) framework.Results {
	var fe FieldErrors
	if !errors.As(err, &fe) {
		return framework.Results{krmio.ResultAt(framework.Error, config, "", err.Error())}
	}
	out := make(framework.Results, 0, len(fe))
	for _, e := range fe {
		out = append(out, krmio.ResultAt(framework.Error, config, e.Path, e.Message))
	}
	return out
}

// closed reports fields the schema does not list, in every object under
// spec. The schema's objects are closed by intent: a misspelled field must
// fail, not be ignored. The CRD cannot say so itself (the API server
// refuses additionalProperties beside properties; structural CRDs prune
// unknown fields silently instead), so this walk over the same schema does.
func closed(s *spec.Schema, v any, path string) FieldErrors {
	if s == nil {
		return nil
	}
	var errs FieldErrors
	switch v := v.(type) {
	case map[string]any:
		if len(s.Properties) == 0 {
			// A map (additionalProperties: {type: string}): its values.
			if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
				for _, k := range sortedKeys(v) {
					errs = append(errs, closed(s.AdditionalProperties.Schema, v[k], path+"."+k)...)
				}
			}
			return errs
		}
		for _, k := range sortedKeys(v) {
			p, ok := s.Properties[k]
			if !ok {
				errs.add(path+"."+k, "is not a field of %s %s (misspelled?)", Kind, APIVersion)
				continue
			}
			errs = append(errs, closed(&p, v[k], path+"."+k)...)
		}
	case []any:
		if s.Items != nil && s.Items.Schema != nil {
			for i, e := range v {
				errs = append(errs, closed(s.Items.Schema, e, fmt.Sprintf("%s[%d]", path, i))...)
			}
		}
	}
	return errs
}
