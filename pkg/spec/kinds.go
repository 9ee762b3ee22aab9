package spec

import (
	"fmt"
	"regexp"
	"strings"

	k8sschema "k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/carousel-dev/carousel/pkg/targets"
)

// DefaultWorkloadTemplate is where a declared workload kind keeps its pod
// template unless spec.workloadKinds[].template says otherwise.
const DefaultWorkloadTemplate = "spec.template"

// Kinds is the registry of kinds this rotation knows: the built-in ones
// and those spec.workloadKinds declares. Every package that asks what a
// kind is (gen, status, plan) asks it here.
func (s *Spec) Kinds() targets.Registry {
	var extra []targets.Kind
	for _, w := range s.WorkloadKinds {
		extra = append(extra, w.kind())
	}
	return targets.Builtin().With(extra...)
}

func (w WorkloadKind) kind() targets.Kind {
	gv, _ := k8sschema.ParseGroupVersion(w.APIVersion)
	template := w.Template
	if template == "" {
		template = DefaultWorkloadTemplate
	}
	return targets.Kind{
		Name:     w.Kind,
		Resource: gv.WithResource(w.Resource),
		Workload: &targets.Workload{Template: strings.Split(template, "."), Roll: targets.Rolled, RolloutRule: targets.DeclaredRollout},
	}
}

var (
	kindName     = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*$`)
	templatePath = regexp.MustCompile(`^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$`)
)

// validateWorkloadKinds checks the declared kinds: each names a custom
// resource (a group, a resource name) and a template path, and none is a
// kind carousel already knows, whose rules it would silently replace.
func (s *Spec) validateWorkloadKinds(errs *FieldErrors) {
	seen := map[string]bool{}
	for i, w := range s.WorkloadKinds {
		p := fmt.Sprintf("spec.workloadKinds[%d]", i)
		switch {
		case !kindName.MatchString(w.Kind):
			errs.add(p+".kind", "%q is not a kind name (CamelCase, as in an object's kind field)", w.Kind)
		case seen[w.Kind]:
			errs.add(p+".kind", "%q is declared twice", w.Kind)
		default:
			if k, ok := targets.Builtin().Lookup(w.Kind); ok {
				errs.add(p+".kind", "%q is built in (%s): carousel already knows where it keeps its pods and how it rolls out", w.Kind, k.Resource.GroupResource())
			}
		}
		seen[w.Kind] = true
		gv, err := k8sschema.ParseGroupVersion(w.APIVersion)
		switch {
		case err != nil || gv.Version == "":
			errs.add(p+".apiVersion", "%q is not <group>/<version>", w.APIVersion)
		case gv.Group == "" || !dnsSubdomain.MatchString(gv.Group) || !strings.Contains(gv.Group, "."):
			errs.add(p+".apiVersion", "%q: a declared kind is a custom resource, whose group is a DNS name with a dot (apps.kruise.io/v1alpha1)", w.APIVersion)
		}
		if !dnsLabel.MatchString(w.Resource) {
			errs.add(p+".resource", "%q must be the plural resource name the API serves the kind under (lowercase, as in kubectl api-resources)", w.Resource)
		}
		if w.Template != "" && !templatePath.MatchString(w.Template) {
			errs.add(p+".template", "%q must be a dot-separated path of field names (spec.template)", w.Template)
		}
	}
}
