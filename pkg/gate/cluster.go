package gate

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/carousel-dev/carousel/pkg/status"
)

// Cluster is where the live gate looks: a kubeconfig (empty: $KUBECONFIG,
// ~/.kube/config, or in-cluster config, as kubectl loads it), its context,
// and the namespace a report is narrowed to (empty: all).
type Cluster struct {
	Kubeconfig, Context, Namespace string
}

// Configured reports whether any cluster configuration exists at all. It
// is not whether the cluster answers: a configuration that exists but does
// not load or reach its server makes Client or the gate fail, and the gate
// then refuses.
func (c Cluster) Configured() bool {
	if c.Kubeconfig != "" || os.Getenv("KUBECONFIG") != "" || os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
		return true
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return false
	}
	_, err = os.Stat(filepath.Join(home, ".kube", "config"))
	return err == nil
}

// Client connects to the cluster: a dynamic client for objects and a
// metadata client for pods (status.Clients lists pods as metadata only).
func (c Cluster) Client() (dynamic.Interface, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = c.Kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: c.Context}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading the kubeconfig: %w", err)
	}
	cfg.Timeout = 15 * time.Second
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	meta, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return status.Clients{Interface: dyn, Metadata: meta}, nil
}
