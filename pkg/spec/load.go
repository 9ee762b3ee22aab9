package spec

import (
	_ "embed"
	"errors"
	"fmt"
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
// problem comes back at once as FieldErrors with field paths.
func Load(node *yaml.RNode) (*CARotation, error) {
	if node == nil {
		return nil, FieldErrors{{Path: "functionConfig", Message: "no CARotation was given as the function config"}}
	}
	if node.GetApiVersion() != APIVersion || node.GetKind() != Kind {
		return nil, FieldErrors{{Path: "apiVersion", Message: fmt.Sprintf("want %s %s, got %s %s", APIVersion, Kind, node.GetApiVersion(), node.GetKind())}}
	}
	sch, err := schema()
	if err != nil {
		return nil, fmt.Errorf("loading the CARotation schema: %w", err)
	}
	var errs FieldErrors
	if err := validate.AgainstSchema(sch, node, strfmt.Default); err != nil {
		errs = append(errs, schemaErrors(err)...)
	}
	var r CARotation
	if len(errs) == 0 {
		if err := k8syaml.Unmarshal([]byte(node.MustString()), &r); err != nil {
			return nil, FieldErrors{{Path: "spec", Message: err.Error()}}
		}
		if err := r.Default(); err != nil {
			return nil, err
		}
		if err := r.Validate(); err != nil {
			var fe FieldErrors
			if errors.As(err, &fe) {
				errs = append(errs, fe...)
			} else {
				return nil, err
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return &r, nil
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
	sort.SliceStable(out, func(i, j int) bool { return out[i].Path < out[j].Path })
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
