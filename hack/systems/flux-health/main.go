// Command flux-health computes the health of live objects exactly as Flux's
// kustomize-controller does when a Kustomization has `wait: true`: kstatus
// (github.com/fluxcd/cli-utils) for every kind, replaced for the kinds the
// Kustomization lists in spec.healthCheckExprs by Flux's own CEL status
// evaluator (github.com/fluxcd/pkg/runtime/cel). It is carousel's test
// harness over those libraries, at the versions kustomize-controller v1.9.5
// (flux v2.9.5) builds with: the examples' tests feed it the objects the
// real cert-manager and trust-manager left in the suite's API server, so a
// Flux Kustomization's health checks are checked against the controllers'
// real status, not against what we believe it to be.
//
// Usage:
//
//	kubectl get certificates,bundles -A -o json |
//	  flux-health -kustomization clusters/x/carousel.yaml -name carousel-material
//
// Each object of the input (one object or a List, JSON or YAML) gets
// one line: `<status> <Kind> <namespace>/<name> <message>`, where status is
// kstatus's Current, InProgress, Failed, ... With -name "" no health check
// expressions are used: the plain kstatus Flux applies without them.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"github.com/fluxcd/pkg/apis/kustomize"
	"github.com/fluxcd/pkg/runtime/cel"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

func main() {
	file := flag.String("kustomization", "", "file holding Flux Kustomizations (multi-document YAML)")
	name := flag.String("name", "", "the Kustomization whose spec.healthCheckExprs apply; empty: none")
	flag.Parse()
	if err := run(*file, *name, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "flux-health:", err)
		os.Exit(1)
	}
}

// kustomization is the part of a Flux Kustomization this program reads.
type kustomization struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		HealthCheckExprs []kustomize.CustomHealthCheck `json:"healthCheckExprs"`
	} `json:"spec"`
}

func exprsOf(file, name string) ([]kustomize.CustomHealthCheck, error) {
	if name == "" {
		return nil, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	for _, doc := range strings.Split(string(b), "\n---") {
		var k kustomization
		if err := yaml.Unmarshal([]byte(doc), &k); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if k.Kind == "Kustomization" && k.Metadata.Name == name {
			return k.Spec.HealthCheckExprs, nil
		}
	}
	return nil, fmt.Errorf("%s: no Kustomization %q", file, name)
}

func run(file, name string, in io.Reader, out io.Writer) error {
	checks, err := exprsOf(file, name)
	if err != nil {
		return err
	}
	// Keyed as Flux keys them (cel.NewStatusReader): by group and kind,
	// any version; an entry without a kind covers its whole group.
	evaluators := map[schema.GroupKind]*cel.StatusEvaluator{}
	for i, c := range checks {
		e, err := cel.NewStatusEvaluator(&c.HealthCheckExpressions)
		if err != nil {
			return fmt.Errorf("healthCheckExprs[%d] (%s %s): %w", i, c.APIVersion, c.Kind, err)
		}
		evaluators[schema.FromAPIVersionAndKind(c.APIVersion, c.Kind).GroupKind()] = e
	}
	objs, err := decode(in)
	if err != nil {
		return err
	}
	for i := range objs {
		u := &objs[i]
		var res *status.Result
		gk := u.GroupVersionKind().GroupKind()
		e, ok := evaluators[gk]
		if !ok {
			e, ok = evaluators[schema.GroupKind{Group: gk.Group}]
		}
		if ok {
			res, err = e.Evaluate(context.Background(), u)
		} else {
			res, err = status.Compute(u)
		}
		if err != nil {
			return fmt.Errorf("%s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
		fmt.Fprintf(out, "%s %s %s/%s %s\n", res.Status, u.GetKind(), u.GetNamespace(), u.GetName(), res.Message)
	}
	return nil
}

// decode reads one object or a List, JSON or YAML, through the API
// machinery's unstructured JSON scheme: integers stay int64, as kstatus
// reads metadata.generation from objects a client got from the server.
func decode(in io.Reader) ([]unstructured.Unstructured, error) {
	b, err := io.ReadAll(in)
	if err != nil {
		return nil, err
	}
	if b, err = yaml.YAMLToJSON(b); err != nil {
		return nil, err
	}
	obj, _, err := unstructured.UnstructuredJSONScheme.Decode(b, nil, nil)
	if err != nil {
		return nil, err
	}
	switch o := obj.(type) {
	case *unstructured.UnstructuredList:
		return o.Items, nil
	case *unstructured.Unstructured:
		return []unstructured.Unstructured{*o}, nil
	}
	return nil, fmt.Errorf("input is a %T, not an object or a List", obj)
}
