package status

import (
	"context"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/carousel-dev/carousel/pkg/consumers"
	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/spec"
	"github.com/carousel-dev/carousel/pkg/targets"
)

// selectionFinding is a workload the restart rules select differently with
// the live Namespaces than with the package's.
type selectionFinding struct {
	kind, namespace, name string
	state                 Verdict
	detail                string
}

// liveSelection asks the restart rules, through the matcher gen used, which
// workloads of the package the live Namespaces select, and reports each one
// where the answer differs from the package's (the input's Namespace
// objects, which decided what the phase rolls). A mesh injects by the live
// labels, so such a workload either runs a proxy the phase does not roll
// (it keeps the old material) or rolls for nothing. A Namespace the
// package holds but the cluster labels differently is progressing (applying
// the package's Namespace settles it); one the package lacks is blocked
// (waiting will not help: add it to the package). Only rules that read a
// Namespace can disagree, so without them no Namespace is read.
func liveSelection(get func(kind, ns, name string) (consumers.Namespace, bool, error), rot *spec.CARotation, out gen.Output) ([]selectionFinding, error) {
	if !slices.ContainsFunc(rot.Spec.Restarts, spec.Restart.NamespaceConditions) {
		return nil, nil
	}
	inPackage := consumers.InItems(out.Items)
	cache := map[string]consumers.Namespace{}
	missing := map[string]bool{}
	var fetchErr error
	live := func(name string) (consumers.Namespace, bool) {
		if ns, ok := cache[name]; ok {
			return ns, true
		}
		if missing[name] || fetchErr != nil {
			return consumers.Namespace{}, false
		}
		ns, ok, err := get(targets.Namespace, "", name)
		if err != nil {
			fetchErr = err
			return consumers.Namespace{}, false
		}
		if !ok {
			missing[name] = true
			return consumers.Namespace{}, false
		}
		cache[name] = ns
		return ns, true
	}
	var findings []selectionFinding
	for _, n := range out.Items {
		w, ok := consumers.WorkloadOf(rot.Spec.Kinds(), n)
		if !ok || !slices.Contains(rot.Spec.Kinds().RolledKinds(), w.Kind) {
			continue
		}
		pkg := consumers.Select(rot.Spec.Restarts, w, inPackage)
		now := consumers.Select(rot.Spec.Restarts, w, live)
		if fetchErr != nil {
			return nil, fetchErr
		}
		if len(now.Unseen) > 0 || slices.Equal(pkg.Consumes, now.Consumes) {
			continue // not in the cluster (nor is the workload), or the same answer
		}
		f := selectionFinding{kind: w.Kind, namespace: w.Namespace, name: w.Name, state: Progressing}
		if _, held := inPackage(w.Namespace); !held {
			f.state = Blocked
			f.detail = fmt.Sprintf("the live Namespace %s selects it (%s: consumes %s), but the package holds no Namespace %s, so the phase does not roll it and it keeps the old material: add the Namespace to the package",
				w.Namespace, rulePaths(now.Rules), orNothing(now.Consumes), w.Namespace)
		} else {
			f.detail = fmt.Sprintf("with the live Namespace %s its restart rules select %s (%s), with the package's %s (%s): the phase rolls it as the package says, the mesh injects by the live labels; apply the package's Namespace, or change it to match",
				w.Namespace, orNothing(now.Consumes), rulePaths(now.Rules), orNothing(pkg.Consumes), rulePaths(pkg.Rules))
		}
		findings = append(findings, f)
	}
	return findings, nil
}

func rulePaths(rules []int) string {
	s := make([]string, len(rules))
	for i, r := range rules {
		s[i] = fmt.Sprintf("spec.restarts[%d]", r)
	}
	return strings.Join(s, ", ")
}

func orNothing(consumes []string) string {
	if len(consumes) == 0 {
		return "nothing"
	}
	return strings.Join(consumes, ", ")
}

// liveNamespace reads the cluster's Namespaces: all of them in one
// paginated list, on the first call (a gate over many namespaces must not
// GET them one by one), or one by one where listing them is forbidden (a
// user with rights on some namespaces only). ok is false when a Namespace
// does not exist.
func liveNamespace(ctx context.Context, client dynamic.Interface) func(kind, ns, name string) (consumers.Namespace, bool, error) {
	nsKind, _ := targets.Builtin().Lookup(targets.Namespace)
	var all map[string]consumers.Namespace
	listed := false
	return func(kind, ns, name string) (consumers.Namespace, bool, error) {
		if !listed {
			listed = true
			all = map[string]consumers.Namespace{}
			err := listPages(ctx, dynamicPages(client, nsKind.Resource), targets.Namespace, "", func(o metav1.Object) error {
				u := o.(*unstructured.Unstructured)
				n, err := toRNode(u)
				if err != nil {
					return err
				}
				all[u.GetName()] = consumers.NamespaceOf(n)
				return nil
			})
			switch {
			case apierrors.IsForbidden(err):
				all = nil
			case err != nil:
				return consumers.Namespace{}, false, err
			}
		}
		if all != nil {
			n, ok := all[name]
			return n, ok, nil
		}
		u, err := client.Resource(nsKind.Resource).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return consumers.Namespace{}, false, nil
		}
		if err != nil {
			return consumers.Namespace{}, false, fmt.Errorf("reading Namespace %s: %w", name, err)
		}
		n, err := toRNode(u)
		if err != nil {
			return consumers.Namespace{}, false, err
		}
		return consumers.NamespaceOf(n), true, nil
	}
}
