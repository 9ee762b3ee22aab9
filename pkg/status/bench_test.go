//go:build bench

package status

// The status benchmark of `make bench` (hack/bench.sh runs it with
// `-tags bench`; `go test ./...` does not build it): a real API server
// holding a generated package's workloads (hack/genpkg: realistic
// Deployments across namespaces), one pod each, and `Evaluate` over the
// rendered phase. It prints wall time, peak heap, allocations and the
// requests made. The workloads' status and pods are written directly: this
// measures what status reads, not a rollout (fn/status_test.go runs real
// ones).

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/apiserver"
	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/gen"
	"github.com/carousel-dev/carousel/pkg/spec"
)

var (
	nsGVR     = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	saGVR     = schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}
	cmGVR     = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	deployGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
)

func TestBenchStatusOnALargeCluster(t *testing.T) {
	path := os.Getenv("BENCH_STATUS_RESOURCELIST")
	if path == "" {
		t.Skip("BENCH_STATUS_RESOURCELIST (a hack/genpkg resourcelist.yaml) is not set")
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	r := &kio.ByteReader{Reader: f, OmitReaderAnnotations: true}
	items, err := r.Read()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	rot, err := spec.Load(r.FunctionConfig)
	if err != nil {
		t.Fatal(err)
	}
	out := gen.Render(gen.Input{Rotation: rot, Config: r.FunctionConfig, Items: items, Now: testkit.Now})
	if out.Failed() {
		t.Fatalf("render failed: %v", out.Results)
	}

	s := apiserver.Start(t)
	cfg, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 2000, 4000
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// The cluster: every Namespace (with its default ServiceAccount, which
	// pod admission needs), every rendered bundle ConfigMap, every
	// Deployment with a converged status and one pod of its template.
	start := time.Now()
	var namespaces, configMaps, deployments []*yaml.RNode
	for _, n := range out.Items {
		switch n.GetKind() {
		case "Namespace":
			namespaces = append(namespaces, n)
		case "ConfigMap":
			configMaps = append(configMaps, n)
		case "Deployment":
			deployments = append(deployments, n)
		}
	}
	// Namespaces the items hold, and those the example's workloads use
	// without holding them (kube-system).
	held := map[string]bool{}
	for _, n := range namespaces {
		held[n.GetName()] = true
	}
	for _, d := range deployments {
		if !held[d.GetNamespace()] {
			held[d.GetNamespace()] = true
			namespaces = append(namespaces, yaml.MustParse("apiVersion: v1\nkind: Namespace\nmetadata: {name: "+d.GetNamespace()+"}\n"))
		}
	}
	parallel(t, namespaces, func(n *yaml.RNode) error {
		if _, err := client.Resource(nsGVR).Create(ctx, object(t, n), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
		sa := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": map[string]any{"name": "default", "namespace": n.GetName()}}}
		_, err := client.Resource(saGVR).Namespace(n.GetName()).Create(ctx, sa, metav1.CreateOptions{})
		return err
	})
	parallel(t, configMaps, func(n *yaml.RNode) error {
		_, err := client.Resource(cmGVR).Namespace(n.GetNamespace()).Create(ctx, object(t, n), metav1.CreateOptions{})
		return err
	})
	parallel(t, deployments, func(n *yaml.RNode) error {
		d, err := client.Resource(deployGVR).Namespace(n.GetNamespace()).Create(ctx, object(t, n), metav1.CreateOptions{})
		if err != nil {
			return err
		}
		replicas, _, _ := unstructured.NestedInt64(d.Object, "spec", "replicas")
		_ = unstructured.SetNestedField(d.Object, map[string]any{
			"observedGeneration": d.GetGeneration(), "replicas": replicas, "updatedReplicas": replicas,
			"readyReplicas": replicas, "availableReplicas": replicas,
		}, "status")
		if _, err := client.Resource(deployGVR).Namespace(n.GetNamespace()).UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
			return err
		}
		tmpl, _, _ := unstructured.NestedMap(d.Object, "spec", "template")
		pod := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": tmpl["metadata"], "spec": tmpl["spec"]}}
		pod.SetName(d.GetName() + "-0")
		pod.SetNamespace(d.GetNamespace())
		_ = unstructured.SetNestedField(pod.Object, "default", "spec", "serviceAccountName")
		_, err = client.Resource(podResource).Namespace(n.GetNamespace()).Create(ctx, pod, metav1.CreateOptions{})
		return err
	})
	setup := time.Since(start)

	// The measured run: a fresh client counting requests, heap sampled.
	log := &requestLog{}
	cfg.Wrap(log.RoundTrip)
	measured, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	meta, err := metadata.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	peak := before.HeapAlloc
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				runtime.ReadMemStats(&m)
				peak = max(peak, m.HeapAlloc)
			}
		}
	}()
	t0 := time.Now()
	report, err := Evaluate(ctx, Clients{Interface: measured, Metadata: meta}, rot, out, time.Now())
	wall := time.Since(t0)
	close(stop)
	<-sampled
	if err != nil {
		t.Fatal(err)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	peak = max(peak, after.HeapAlloc)
	// Only Deployments are in this cluster: every one the phase rolls must
	// be converged, or the run measured an error path.
	rolled, converged := 0, 0
	for _, w := range report.Workloads {
		if w.Kind == "Deployment" {
			rolled++
			if w.State == Converged {
				converged++
			}
		}
	}
	if converged != rolled || len(log.gets) > 0 {
		t.Fatalf("the benchmark's cluster must be converged and read without GETs: %d/%d Deployments converged, %d GETs; reasons: %s",
			converged, rolled, len(log.gets), strings.Join(report.Reasons[:min(5, len(report.Reasons))], "; "))
	}
	// The floor: the same collections status listed, read bare (pages of
	// 500 decoded as JSON, nothing evaluated), after status so the API
	// server's watch cache is equally warm for both.
	bare := rest.CopyConfig(cfg)
	bare.WrapTransport = nil // not counted with status's requests
	floor := bareList(t, bare, log.collections)
	// The heap before the call holds the rendered phase: with Go's default
	// GOGC the peak may run up to about that much above it before a cycle
	// collects, so the baseline is printed beside the peak.
	fmt.Printf("status-bench\t%d deployments (%d rolled by the phase), %d pods, %d namespaces\t%.2f\t%.2f\t%.1fx\t%.0f\t%.0f\t%.0f\t%d\t%.0f\n",
		len(deployments), rolled, len(deployments), len(namespaces),
		wall.Seconds(), floor.Seconds(), wall.Seconds()/floor.Seconds(), float64(peak-before.HeapAlloc)/(1<<20), float64(before.HeapAlloc)/(1<<20), float64(after.TotalAlloc-before.TotalAlloc)/(1<<20), log.lists, setup.Seconds())
}

// bareList reads every collection path in pages of 500, each page's JSON
// decoded into maps and dropped: what any client pays to see the objects
// status looks at, and so status's floor. Best of three.
func bareList(t *testing.T, cfg *rest.Config, paths []string) time.Duration {
	t.Helper()
	if len(paths) == 0 {
		t.Fatal("status listed nothing: no floor to measure")
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	best := time.Duration(math.MaxInt64)
	for range 3 {
		t0 := time.Now()
		objects := 0
		for _, p := range paths {
			cont := ""
			for {
				u := strings.TrimRight(cfg.Host, "/") + p + "?limit=500"
				if cont != "" {
					u += "&continue=" + url.QueryEscape(cont)
				}
				resp, err := hc.Get(u)
				if err != nil {
					t.Fatal(err)
				}
				var page struct {
					Metadata struct {
						Continue string `json:"continue"`
					} `json:"metadata"`
					Items []map[string]any `json:"items"`
				}
				err = json.NewDecoder(resp.Body).Decode(&page)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					t.Fatalf("GET %s: %d %v", u, resp.StatusCode, err)
				}
				objects += len(page.Items)
				if cont = page.Metadata.Continue; cont == "" {
					break
				}
			}
		}
		if objects == 0 {
			t.Fatalf("the bare list of %v read no objects", paths)
		}
		best = min(best, time.Since(t0))
	}
	return best
}

func object(t *testing.T, n *yaml.RNode) *unstructured.Unstructured {
	t.Helper()
	m, err := n.Map()
	if err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

// parallel runs fn over nodes with a few workers and fails on the first error.
func parallel(t *testing.T, nodes []*yaml.RNode, fn func(*yaml.RNode) error) {
	t.Helper()
	work := make(chan *yaml.RNode)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range work {
				if err := fn(n); err != nil {
					if apierrors.IsAlreadyExists(err) {
						continue // the example's kube-system, default
					}
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("%s %s/%s: %w", n.GetKind(), n.GetNamespace(), n.GetName(), err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, n := range nodes {
		work <- n
	}
	close(work)
	wg.Wait()
	if first != nil {
		t.Fatal(first)
	}
}
