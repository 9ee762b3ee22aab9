// Command argocd-health computes the health of live objects exactly as the
// Argo CD application controller does between sync waves: gitops-engine's
// health.GetResourceHealth with the resource health overrides Argo CD's
// settings manager reads from the live argocd-cm (the built-in Lua health
// checks of resource_customizations, replaced by any
// resource.customizations.health.<group>_<kind> key). It is carousel's
// test harness over Argo CD v3.2.12's own packages: the examples' tests feed
// it the objects the real cert-manager and trust-manager left in the
// suite's API server, so a sync wave's wait is judged by Argo CD's code on
// the controllers' real status.
//
// Usage:
//
//	kubectl get certificates -A -o json | argocd-health -namespace argocd
//
// It reads argocd-cm (labelled app.kubernetes.io/part-of: argocd) from the
// namespace through $KUBECONFIG. Each object of the input (one object or a
// List, JSON or YAML) gets one line: `<status> <Kind> <namespace>/<name>
// <message>`, where status is Healthy, Progressing, Degraded, ... or
// "none" when Argo CD has no health check for it (a sync wave then treats
// it as done at once).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/argoproj/argo-cd/v3/util/lua"
	"github.com/argoproj/argo-cd/v3/util/settings"
	"github.com/argoproj/gitops-engine/pkg/health"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"
)

func main() {
	ns := flag.String("namespace", "argocd", "the namespace of argocd-cm")
	flag.Parse()
	if err := run(*ns, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "argocd-health:", err)
		os.Exit(1)
	}
}

func run(ns string, in io.Reader, out io.Writer) error {
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(clientcmd.NewDefaultClientConfigLoadingRules(), nil).ClientConfig()
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	overrides, err := settings.NewSettingsManager(ctx, client, ns).GetResourceOverrides()
	if err != nil {
		return err
	}
	objs, err := decode(in)
	if err != nil {
		return err
	}
	for i := range objs {
		u := &objs[i]
		hs, err := health.GetResourceHealth(u, lua.ResourceHealthOverrides(overrides))
		if err != nil {
			return fmt.Errorf("%s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
		st, msg := "none", ""
		if hs != nil {
			st, msg = string(hs.Status), hs.Message
		}
		fmt.Fprintf(out, "%s %s %s/%s %s\n", st, u.GetKind(), u.GetNamespace(), u.GetName(), msg)
	}
	return nil
}

// decode reads one object or a List, JSON or YAML, through the API
// machinery's unstructured JSON scheme (integers stay int64).
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
