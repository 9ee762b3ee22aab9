package status

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/apiserver"
	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// requestLog counts the API requests a client makes, by method and whether
// the path names one object or a collection.
type requestLog struct {
	mu    sync.Mutex
	gets  []string // GETs of one object
	lists int
	// collections are the collection paths listed, each once, in order.
	collections []string
}

func (l *requestLog) RoundTrip(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		l.mu.Lock()
		if req.Method == http.MethodGet {
			if isCollection(req.URL.Path) {
				l.lists++
				if !slices.Contains(l.collections, req.URL.Path) {
					l.collections = append(l.collections, req.URL.Path)
				}
			} else {
				l.gets = append(l.gets, req.URL.Path)
			}
		}
		l.mu.Unlock()
		return rt.RoundTrip(req)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// isCollection tells /api/v1/namespaces/x/pods (a list) from
// /api/v1/namespaces/x/pods/y (one object): a collection path ends in a
// resource name, so it has an even count of segments after the group
// version's prefix (api/v1 or apis/g/v).
func isCollection(path string) bool {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	rest := segs[2:] // api, v1
	if segs[0] == "apis" {
		rest = segs[3:] // apis, group, version
	}
	return len(rest)%2 == 1
}

// manyWorkloads renders the cluster-ca example's trust-new phase with
// perNS Deployments mounting the bundle in each of namespaces Namespaces.
func manyWorkloads(t *testing.T, namespaces, perNS int) (*spec.CARotation, gen.Output) {
	t.Helper()
	pkg := testkit.Load(t, filepath.Join(testkit.Root(t), "examples", "cluster-ca"))
	config := pkg.WithPhase(t, phases.TrustNew)
	rot, err := spec.Load(config)
	if err != nil {
		t.Fatal(err)
	}
	items := pkg.CopyItems()
	for i := range namespaces {
		ns := fmt.Sprintf("team-%02d", i)
		items = append(items, yaml.MustParse("apiVersion: v1\nkind: Namespace\nmetadata: {name: "+ns+"}\n"))
		for j := range perNS {
			name := fmt.Sprintf("app-%d", j)
			items = append(items, yaml.MustParse(`apiVersion: apps/v1
kind: Deployment
metadata: {name: `+name+`, namespace: `+ns+`}
spec:
  selector: {matchLabels: {app: `+name+`}}
  template:
    metadata: {labels: {app: `+name+`}}
    spec:
      containers: [{name: app, image: app, volumeMounts: [{name: ca, mountPath: /ca}]}]
      volumes: [{name: ca, configMap: {name: cluster-ca-bundle}}]
`))
		}
	}
	out := gen.Render(gen.Input{Rotation: rot, Config: config, Items: items, Now: testkit.Now})
	if out.Failed() {
		t.Fatalf("render failed: %v", out.Results)
	}
	if want := namespaces * perNS; len(out.Restarts) < want {
		t.Fatalf("the phase rolls %d workloads, want at least %d", len(out.Restarts), want)
	}
	return rot, out
}

// Status reads the cluster in paginated lists: it GETs no object one by
// one, and the number of requests does not grow with the number of
// workloads (a 10,000-workload gate costs what a 40-workload one does, plus
// pages; docs/performance.md has the figures).
func TestStatusListsTheClusterInsteadOfGettingEachObject(t *testing.T) {
	s := apiserver.Start(t)
	count := func(namespaces, perNS int) *requestLog {
		t.Helper()
		rot, out := manyWorkloads(t, namespaces, perNS)
		cfg, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		log := &requestLog{}
		cfg.Wrap(log.RoundTrip)
		client, err := dynamic.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		meta, err := metadata.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		// As the CLI runs it: pods listed as metadata only.
		if _, err := Evaluate(context.Background(), Clients{Interface: client, Metadata: meta}, rot, out, time.Now()); err != nil {
			t.Fatal(err)
		}
		return log
	}
	// More namespaces than perNamespaceMax (16): each kind is one
	// cluster-wide list.
	const namespaces = 20
	few, many := count(namespaces, 1), count(namespaces, 5)
	for _, l := range []*requestLog{few, many} {
		if len(l.gets) > 0 {
			t.Errorf("status GETs objects one by one: %s", strings.Join(l.gets, ", "))
		}
	}
	if many.lists != few.lists || few.lists == 0 {
		t.Errorf("list requests grow with the workloads: %d for %d workloads, %d for %d", few.lists, namespaces, many.lists, 5*namespaces)
	}
}

// toRNode builds the node tree from the decoded object directly; it must
// read the same as kyaml's conversion through a YAML encoder (what status
// used before), for every kind of JSON value a live object holds.
func TestAListedObjectReadsTheSameAsThroughAYAMLEncoder(t *testing.T) {
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON([]byte(`{"apiVersion":"apps/v1","kind":"Deployment",
	  "metadata":{"name":"web","namespace":"shop","generation":3,"annotations":{"carousel.dev/cluster-ca":"0000000000000000","yes":"true","n":"1.5"}},
	  "spec":{"replicas":2,"paused":false,"selector":{"matchLabels":{"app":"web"}},"progressDeadlineSeconds":600,
	    "template":{"metadata":{"creationTimestamp":null},"spec":{"containers":[{"name":"web","args":["--a","","multi\nline"]}]}}},
	  "data":{"ca.crt":"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"},
	  "status":{"observedGeneration":3,"ratio":0.25,"conditions":[{"type":"Progressing","reason":"NewReplicaSetAvailable"}]}}`)); err != nil {
		t.Fatal(err)
	}
	got, err := toRNode(u)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := u.MarshalJSON()
	want, err := yaml.ConvertJSONToYamlNode(string(b))
	if err != nil {
		t.Fatal(err)
	}
	gj, _ := got.MarshalJSON()
	wj, _ := want.MarshalJSON()
	if string(gj) != string(wj) {
		t.Fatalf("toRNode reads differently:\n got %s\nwant %s", gj, wj)
	}
	for _, path := range [][]string{{"metadata", "annotations", "carousel.dev/cluster-ca"}, {"status", "observedGeneration"}, {"spec", "paused"}} {
		g, _ := got.Pipe(yaml.Lookup(path...))
		w, _ := want.Pipe(yaml.Lookup(path...))
		if yaml.GetValue(g) != yaml.GetValue(w) || g.YNode().Tag != w.YNode().Tag {
			t.Errorf("%v: got %q (%s), want %q (%s)", path, yaml.GetValue(g), g.YNode().Tag, yaml.GetValue(w), w.YNode().Tag)
		}
	}
}
