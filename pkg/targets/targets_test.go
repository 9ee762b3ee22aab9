package targets_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/kustomize/kyaml/yaml"
	k8syaml "sigs.k8s.io/yaml"

	"github.com/carousel-dev/carousel/internal/apiserver"
	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/spec"
	"github.com/carousel-dev/carousel/pkg/targets"
)

// TestMain stops the test API server the served-resources test starts.
func TestMain(m *testing.M) {
	code := m.Run()
	apiserver.Stop()
	os.Exit(code)
}

// A new kind is a new row here and an entry in the registry.
func TestTheRegistrySaysWhereEachKindKeepsWhatCarouselTouches(t *testing.T) {
	type want struct {
		resource    schema.GroupVersionResource
		podSpec     []string // nil: not a workload
		annotations []string
		roll        targets.Roll
		caBundle    [][]string // paths on the object below; nil: none
	}
	apps := func(r string) schema.GroupVersionResource {
		return schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: r}
	}
	tmpl := []string{"spec", "template", "spec"}
	tmplAnn := []string{"spec", "template", "metadata", "annotations"}
	webhooks := [][]string{{"webhooks", "[name=a.example.dev]", "clientConfig"}, {"webhooks", "[name=b.example.dev]", "clientConfig"}}
	tests := []struct {
		name string
		kind string
		want want
	}{
		{"a Secret carries material and is served by core v1 secrets", "Secret",
			want{resource: schema.GroupVersionResource{Version: "v1", Resource: "secrets"}}},
		{"a ConfigMap carries bundles and is served by core v1 configmaps", "ConfigMap",
			want{resource: schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}}},
		{"a Namespace is served by core v1 namespaces", "Namespace",
			want{resource: schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}}},
		{"a Deployment rolls through spec.template", "Deployment",
			want{resource: apps("deployments"), podSpec: tmpl, annotations: tmplAnn, roll: targets.Rolled}},
		{"a DaemonSet rolls through spec.template", "DaemonSet",
			want{resource: apps("daemonsets"), podSpec: tmpl, annotations: tmplAnn, roll: targets.Rolled}},
		{"a StatefulSet rolls through spec.template", "StatefulSet",
			want{resource: apps("statefulsets"), podSpec: tmpl, annotations: tmplAnn, roll: targets.Rolled}},
		{"a ReplicaSet rolls through spec.template", "ReplicaSet",
			want{resource: apps("replicasets"), podSpec: tmpl, annotations: tmplAnn, roll: targets.Rolled}},
		{"an Argo Rollouts Rollout rolls through spec.template and is served by argoproj.io v1alpha1 rollouts", "Rollout",
			want{resource: schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "rollouts"}, podSpec: tmpl, annotations: tmplAnn, roll: targets.Rolled}},
		{"a CronJob rolls on its next run through spec.jobTemplate.spec.template", "CronJob",
			want{resource: schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "cronjobs"},
				podSpec:     []string{"spec", "jobTemplate", "spec", "template", "spec"},
				annotations: []string{"spec", "jobTemplate", "spec", "template", "metadata", "annotations"}, roll: targets.NextRun}},
		{"a Job runs pods from spec.template but cannot be rolled", "Job",
			want{resource: schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}, podSpec: tmpl, annotations: tmplAnn, roll: targets.NotRolled}},
		{"a Pod is its own pod spec and cannot be rolled", "Pod",
			want{resource: schema.GroupVersionResource{Version: "v1", Resource: "pods"}, podSpec: []string{"spec"}, roll: targets.NotRolled}},
		{"a ValidatingWebhookConfiguration holds a caBundle in each webhook's clientConfig", "ValidatingWebhookConfiguration",
			want{resource: schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingwebhookconfigurations"}, caBundle: webhooks}},
		{"a MutatingWebhookConfiguration holds a caBundle in each webhook's clientConfig", "MutatingWebhookConfiguration",
			want{resource: schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "mutatingwebhookconfigurations"}, caBundle: webhooks}},
		{"an APIService holds its caBundle in spec", "APIService",
			want{resource: schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}, caBundle: [][]string{{"spec"}}}},
		{"a MeshRootCertificate is served by OSM's config.openservicemesh.io v1alpha2 and carries no caBundle", "MeshRootCertificate",
			want{resource: schema.GroupVersionResource{Group: "config.openservicemesh.io", Version: "v1alpha2", Resource: "meshrootcertificates"}}},
		{"a CustomResourceDefinition holds its caBundle in spec.conversion.webhook.clientConfig", "CustomResourceDefinition",
			want{resource: schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"},
				caBundle: [][]string{{"spec", "conversion", "webhook", "clientConfig"}}}},
	}
	obj := yaml.MustParse("webhooks:\n- name: a.example.dev\n- name: b.example.dev\n")
	var seen []string
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, ok := targets.Builtin().Lookup(tc.kind)
			if !ok {
				t.Fatalf("%s is not registered", tc.kind)
			}
			if k.Resource != tc.want.resource {
				t.Errorf("resource %v, want %v", k.Resource, tc.want.resource)
			}
			if (k.Workload != nil) != (tc.want.podSpec != nil) {
				t.Fatalf("workload %v, want a pod spec at %v", k.Workload, tc.want.podSpec)
			}
			if k.Workload != nil {
				if got := k.Workload.PodSpec(); !slices.Equal(got, tc.want.podSpec) {
					t.Errorf("pod spec at %v, want %v", got, tc.want.podSpec)
				}
				if got := k.Workload.Annotations(); !slices.Equal(got, tc.want.annotations) {
					t.Errorf("restart annotation at %v, want %v", got, tc.want.annotations)
				}
				if k.Workload.Roll != tc.want.roll {
					t.Errorf("roll %v, want %v", k.Workload.Roll, tc.want.roll)
				}
			}
			if (k.CABundle != nil) != (tc.want.caBundle != nil) {
				t.Fatalf("caBundle %v, want %v", k.CABundle, tc.want.caBundle)
			}
			if k.CABundle != nil {
				got := k.CABundle.Paths(obj, nil)
				if !slices.EqualFunc(got, tc.want.caBundle, slices.Equal) {
					t.Errorf("caBundle paths %v, want %v", got, tc.want.caBundle)
				}
			}
		})
		seen = append(seen, tc.kind)
	}
	for _, k := range targets.Builtin().All() {
		if !slices.Contains(seen, k.Name) {
			t.Errorf("%s is registered but this table does not say where it keeps anything: add a row", k.Name)
		}
	}
}

func TestAnObjectIsARegisteredKindOnlyInItsAPIGroup(t *testing.T) {
	tests := []struct {
		name       string
		apiVersion string
		kind       string
		want       bool
	}{
		{"an apps/v1 Deployment is a Deployment", "apps/v1", "Deployment", true},
		{"an older version of the group is still the kind", "apps/v1beta2", "Deployment", true},
		{"a Deployment of another API group is someone else's resource", "example.dev/v1", "Deployment", false},
		{"a core v1 Pod is a Pod", "v1", "Pod", true},
		{"a batch/v1beta1 CronJob is a CronJob", "batch/v1beta1", "CronJob", true},
		{"a core-group kind under a named group is not it", "apps/v1", "Pod", false},
		{"an unregistered kind is not known", "v1", "Service", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := yaml.MustParse(fmt.Sprintf("apiVersion: %s\nkind: %s\nmetadata: {name: x}\n", tc.apiVersion, tc.kind))
			k, ok := targets.Builtin().Of(n)
			if ok != tc.want || ok && k.Name != tc.kind {
				t.Fatalf("Of(%s %s) = %v %v, want %v", tc.apiVersion, tc.kind, k.Name, ok, tc.want)
			}
		})
	}
}

func TestWebhookCABundlePathsFollowTheNamesAsked(t *testing.T) {
	k, _ := targets.Builtin().Lookup("ValidatingWebhookConfiguration")
	obj := yaml.MustParse("webhooks:\n- name: a.example.dev\n- clientConfig: {}\n- name: b.example.dev\n")
	tests := []struct {
		name string
		only []string
		want [][]string
	}{
		{"no names ask for every named webhook, skipping one without a name", nil,
			[][]string{{"webhooks", "[name=a.example.dev]", "clientConfig"}, {"webhooks", "[name=b.example.dev]", "clientConfig"}}},
		{"names ask for those webhooks only", []string{"b.example.dev"},
			[][]string{{"webhooks", "[name=b.example.dev]", "clientConfig"}}},
		{"a name no webhook has asks for nothing", []string{"c.example.dev"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := k.CABundle.Paths(obj, tc.only); !slices.EqualFunc(got, tc.want, slices.Equal) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	if got := k.CABundle.Paths(yaml.MustParse("metadata: {name: x}\n"), nil); got != nil {
		t.Errorf("a configuration without webhooks has no caBundle: got %v", got)
	}
}

// The published schemas list kinds too (an editor validates a CARotation
// and a status report without carousel); they must agree with the registry.
func TestThePublishedSchemasListTheRegisteredKinds(t *testing.T) {
	var crd struct {
		Spec struct {
			Versions []struct {
				Schema struct {
					OpenAPIV3Schema struct {
						Properties map[string]struct {
							Properties map[string]struct {
								Items struct {
									Properties map[string]struct {
										Enum []string `json:"enum"`
									} `json:"properties"`
								} `json:"items"`
							} `json:"properties"`
						} `json:"properties"`
					} `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := k8syaml.Unmarshal([]byte(spec.CRD), &crd); err != nil {
		t.Fatal(err)
	}
	for _, v := range crd.Spec.Versions {
		got := v.Schema.OpenAPIV3Schema.Properties["spec"].Properties["caBundles"].Items.Properties["kind"].Enum
		if !slices.Equal(got, targets.Builtin().CABundleKinds()) {
			t.Errorf("pkg/spec/carousel.dev_carotations.yaml lists caBundles kinds %v, the registry %v", got, targets.Builtin().CABundleKinds())
		}
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "status.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Properties map[string]struct {
			Items struct {
				Properties map[string]struct {
					// The built-in kinds, or one spec.workloadKinds declares.
					AnyOf []struct {
						Enum []string `json:"enum"`
					} `json:"anyOf"`
				} `json:"properties"`
			} `json:"items"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	kind := st.Properties["workloads"].Items.Properties["kind"]
	if len(kind.AnyOf) == 0 {
		t.Fatal("docs/status.schema.json: workloads[].kind has no anyOf")
	}
	if got := kind.AnyOf[0].Enum; !slices.Equal(got, targets.Builtin().RolledKinds()) {
		t.Errorf("docs/status.schema.json lists workload kinds %v, the registry rolls %v", got, targets.Builtin().RolledKinds())
	}
}

// The registry's resources are what a real API server serves: status reads
// live objects through them.
func TestEveryRegisteredResourceIsServedByTheAPIServer(t *testing.T) {
	s := apiserver.Start(t)
	// Kinds of custom resources are served once their CRD is installed, as
	// in a cluster running the system.
	for _, crd := range []string{
		filepath.Join("..", "..", "examples", "osm-mrc", "crds", "meshrootcertificates.yaml"),
		testkit.Tool(t, "rollout-crd.yaml"), // Argo Rollouts' own, from its pinned module
	} {
		s.Kubectl(t, "apply", "--server-side", "-f", crd)
		s.WaitEstablished(t, "-f", crd)
	}
	lists := map[string]map[string]string{} // group/version -> resource -> kind
	for _, k := range targets.Builtin().All() {
		gv := k.Resource.GroupVersion()
		path := "/apis/" + gv.String()
		if gv.Group == "" {
			path = "/api/" + gv.Version
		}
		if lists[path] == nil {
			var list struct {
				Resources []struct {
					Name string `json:"name"`
					Kind string `json:"kind"`
				} `json:"resources"`
			}
			if err := json.Unmarshal(s.Kubectl(t, "get", "--raw", path), &list); err != nil {
				t.Fatal(err)
			}
			lists[path] = map[string]string{}
			for _, r := range list.Resources {
				if !strings.Contains(r.Name, "/") {
					lists[path][r.Name] = r.Kind
				}
			}
		}
		if got := lists[path][k.Resource.Resource]; got != k.Name {
			t.Errorf("%s: %s serves %q as kind %q", k.Name, path, k.Resource.Resource, got)
		}
	}
}

// Example shows how a consumer of the registry finds where an object keeps
// what carousel touches.
func Example() {
	k, _ := targets.Builtin().Lookup("CronJob")
	fmt.Println(k.Resource.Group, k.Resource.Resource)
	fmt.Println(strings.Join(k.Workload.PodSpec(), "."))
	fmt.Println(k.Workload.Roll == targets.NextRun)

	hook, _ := targets.Builtin().Lookup("MutatingWebhookConfiguration")
	obj := yaml.MustParse("webhooks:\n- name: inject.example.dev\n")
	for _, p := range hook.CABundle.Paths(obj, nil) {
		fmt.Println(strings.Join(p, "."))
	}
	fmt.Println(targets.Builtin().CABundleKinds())
	// Output:
	// batch cronjobs
	// spec.jobTemplate.spec.template.spec
	// true
	// webhooks.[name=inject.example.dev].clientConfig
	// [ValidatingWebhookConfiguration MutatingWebhookConfiguration APIService CustomResourceDefinition]
}
