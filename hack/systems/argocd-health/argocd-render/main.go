// Command argocd-render generates an Application's manifests with Argo CD's
// own repo-server code (reposerver/repository.GenerateManifests at v3.2.12,
// the code behind `argocd app manifests` and every sync), so carousel's
// tests see what a repo-server would hand the application controller.
//
// The kustomize settings come from the live argocd-cm through Argo CD's
// settings manager ($KUBECONFIG, -namespace), exactly as the API server and
// controller pass them to the repo-server: a source's
// `kustomize.version: carousel` is looked up in `kustomize.path.<name>` and
// `kustomize.buildOptions.<name>`, and Argo CD runs that binary as
// `<path> build <app path> <options>`.
//
// With -plugin DIR the plugin.yaml in DIR is read and validated by Argo CD's
// config management plugin code and served by Argo CD's own cmp-server in
// this process on a socket under $ARGOCD_PLUGINSOCKFILEPATH; the
// Application's source then names that plugin (spec.source.plugin), and
// GenerateManifests finds the socket, streams the repository to the server
// and gets its manifests back, as a repo-server with a CMP sidecar does.
//
// Usage:
//
//	argocd-render -app application.yaml -repo ROOT [-namespace argocd] [-plugin DIR]
//
// The manifests are written to stdout as a YAML stream, one document each,
// in the order Argo CD returns them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/argoproj/argo-cd/v3/cmpserver"
	"github.com/argoproj/argo-cd/v3/cmpserver/plugin"
	"github.com/argoproj/argo-cd/v3/common"
	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"github.com/argoproj/argo-cd/v3/reposerver/apiclient"
	"github.com/argoproj/argo-cd/v3/reposerver/repository"
	"github.com/argoproj/argo-cd/v3/util/git"
	utilio "github.com/argoproj/argo-cd/v3/util/io"
	"github.com/argoproj/argo-cd/v3/util/settings"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"
)

func main() {
	ns := flag.String("namespace", "argocd", "the namespace of argocd-cm")
	appFile := flag.String("app", "", "the Application manifest")
	repo := flag.String("repo", "", "the repository's checkout (spec.source.path is relative to it)")
	pluginDir := flag.String("plugin", "", "a directory holding a config management plugin's plugin.yaml to serve and render with")
	flag.Parse()
	if *appFile == "" || *repo == "" {
		fmt.Fprintln(os.Stderr, "argocd-render: -app and -repo are required")
		os.Exit(2)
	}
	if err := run(*ns, *appFile, *repo, *pluginDir, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "argocd-render:", err)
		os.Exit(1)
	}
}

func run(ns, appFile, repo, pluginDir string, out io.Writer) error {
	raw, err := os.ReadFile(appFile)
	if err != nil {
		return err
	}
	var app v1alpha1.Application
	if err := yaml.UnmarshalStrict(raw, &app); err != nil {
		return fmt.Errorf("%s: %w", appFile, err)
	}
	if app.Spec.Source == nil {
		return fmt.Errorf("%s: spec.source is empty (one source only)", appFile)
	}
	repo, err = filepath.Abs(repo)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(clientcmd.NewDefaultClientConfigLoadingRules(), nil).ClientConfig()
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	kustomizeOptions, err := settings.NewSettingsManager(ctx, client, ns).GetKustomizeSettings()
	if err != nil {
		return err
	}

	source := app.Spec.Source.DeepCopy()
	if pluginDir != "" {
		name, err := servePlugin(pluginDir)
		if err != nil {
			return err
		}
		source.Plugin = &v1alpha1.ApplicationSourcePlugin{Name: name}
		source.Kustomize = nil
	}
	q := &apiclient.ManifestRequest{
		Repo:              &v1alpha1.Repository{Repo: source.RepoURL},
		ApplicationSource: source,
		AppName:           app.Name,
		Namespace:         app.Spec.Destination.Namespace,
		KustomizeOptions:  kustomizeOptions,
		Revision:          source.TargetRevision,
		ProjectName:       app.Spec.Project,
	}
	appPath := filepath.Join(repo, source.Path)
	res, err := repository.GenerateManifests(ctx, appPath, repo, "0123456789abcdef0123456789abcdef01234567", q, false, git.NoopCredsStore{}, resource.MustParse("100M"), utilio.NewRandomizedTempPaths(os.TempDir()))
	if err != nil {
		return err
	}
	if len(res.Manifests) == 0 {
		return errors.New("Argo CD generated no manifests")
	}
	for _, m := range res.Manifests {
		y, err := yaml.JSONToYAML([]byte(m))
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(out, "---\n%s", y); err != nil {
			return err
		}
	}
	return nil
}

// servePlugin reads DIR/plugin.yaml with Argo CD's plugin code and serves
// it with Argo CD's cmp-server on its socket; it returns the name the
// repo-server asks for (<name> or <name>-<version>).
func servePlugin(dir string) (string, error) {
	if os.Getenv(common.EnvPluginSockFilePath) == "" {
		return "", fmt.Errorf("-plugin needs %s (a short directory: a socket path must fit in 108 bytes)", common.EnvPluginSockFilePath)
	}
	cfg, err := plugin.ReadPluginConfig(dir)
	if err != nil {
		return "", err
	}
	srv, err := cmpserver.NewServer(plugin.CMPServerInitConstants{PluginConfig: *cfg})
	if err != nil {
		return "", err
	}
	// A socket left by an earlier run answers nothing: remove it, then
	// wait until this server accepts on it (the repo-server dials it).
	_ = os.Remove(cfg.Address())
	go srv.Run()
	for i := 0; ; i++ {
		c, err := net.Dial("unix", cfg.Address())
		if err == nil {
			c.Close()
			break
		}
		if i == 400 {
			return "", fmt.Errorf("the cmp-server did not listen on %s: %w", cfg.Address(), err)
		}
		time.Sleep(25 * time.Millisecond)
	}
	name := cfg.Metadata.Name
	if cfg.Spec.Version != "" {
		name += "-" + cfg.Spec.Version
	}
	return name, nil
}
