// cert-manager-runner: cert-manager's own certificate controllers and its CA
// and self-signed issuers, run out of cluster against an API server given by
// a kubeconfig. cert-manager's controller main is a module the Go proxy here
// does not serve, so this small main wires the library's registered
// controllers the way cert-manager's controller binary does (one context
// factory, each controller constructed from it, the shared informers started
// after every controller registered its informers) and nothing else: no
// leader election, no metrics or health servers, no ACME, Vault or Venafi.
//
// The tests of carousel's cert-manager backend start it next to the suite's
// kube-apiserver and trust-manager, apply carousel's renders and watch the
// real controllers issue, re-issue and keep keys.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sync/errgroup"
	"k8s.io/klog/v2"

	controllerpkg "github.com/cert-manager/cert-manager/pkg/controller"
	logf "github.com/cert-manager/cert-manager/pkg/logs"

	// Each package registers its controller (or issuer) in init.
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	_ "github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	_ "github.com/cert-manager/cert-manager/pkg/controller/issuers"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the API server to run against (required)")
	clusterNS := flag.String("cluster-resource-namespace", "cert-manager", "namespace of the Secrets behind ClusterIssuers (cert-manager's flag of the same name)")
	ownerRef := flag.Bool("enable-certificate-owner-ref", false, "make each Certificate the owner of its Secret, so deleting it deletes the Secret (cert-manager's flag of the same name)")
	workers := flag.Int("workers", 2, "workers per controller")
	verbosity := flag.Int("v", 1, "log verbosity")
	list := flag.Bool("list", false, "print the controllers this runner runs and exit")
	flag.Parse()

	if *list {
		fmt.Println(strings.Join(names(), "\n"))
		return
	}
	if *kubeconfig == "" {
		fmt.Fprintln(os.Stderr, "cert-manager-runner: -kubeconfig is required")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("klog", flag.ExitOnError)
	klog.InitFlags(fs)
	_ = fs.Set("v", fmt.Sprint(*verbosity))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *kubeconfig, *clusterNS, *ownerRef, *workers); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "cert-manager-runner:", err)
		os.Exit(1)
	}
}

// names lists the registered controllers in a stable order.
func names() []string {
	var out []string
	for n := range controllerpkg.Known() {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func run(ctx context.Context, kubeconfig, clusterNS string, ownerRef bool, workers int) error {
	log := klog.Background().WithName("cert-manager-runner")
	ctx = logf.NewContext(ctx, log)
	g, ctx := errgroup.WithContext(ctx)

	factory, err := controllerpkg.NewContextFactory(ctx, controllerpkg.ContextOptions{
		Kubeconfig:         kubeconfig,
		KubernetesAPIQPS:   50,
		KubernetesAPIBurst: 100,
		IssuerOptions:      controllerpkg.IssuerOptions{ClusterResourceNamespace: clusterNS},
		CertificateOptions: controllerpkg.CertificateOptions{EnableOwnerRef: ownerRef},
	})
	if err != nil {
		return err
	}
	base, err := factory.Build()
	if err != nil {
		return err
	}
	// Every controller registers its informers while it is constructed; the
	// shared factories start only afterwards, as in cert-manager's main.
	for _, n := range names() {
		c, err := controllerpkg.Known()[n](factory)
		if err != nil {
			return fmt.Errorf("constructing %s: %w", n, err)
		}
		log.Info("starting controller", "controller", n)
		g.Go(func() error { return c.Run(workers, ctx) })
	}
	base.SharedInformerFactory.Start(ctx.Done())
	base.KubeSharedInformerFactory.Start(ctx.Done())
	base.HTTP01ResourceMetadataInformersFactory.Start(ctx.Done())
	// The harness waits for this line: every controller is running.
	log.Info("all controllers started", "count", len(names()))
	return g.Wait()
}
