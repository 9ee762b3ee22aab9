package gen

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/pki"
)

// TestCertManagerClusterInfoLetsJoiningNodesVerifyEveryAdjacentServer: for
// backend cert-manager, kube-public/cluster-info carries the trusted
// generations' pulled certificates, so a joining node whose discovery reads
// it (parsed here with client-go's clientcmd, as kubeadm does) completes a
// real TLS handshake with an API server serving a certificate from the
// phase's signer or from either neighbouring phase's, and, two phases apart,
// fails. Before the CA in use is pulled cluster-info is not rendered, with a
// warning naming `carousel pull`.
func TestCertManagerClusterInfoLetsJoiningNodesVerifyEveryAdjacentServer(t *testing.T) {
	pulled, cas := cmPulledWithKeys(t)
	servers := map[int]*httptest.Server{}
	for g, ca := range cas {
		leaf, err := pki.Issue(ca, pki.LeafRequest{CommonName: "kube-apiserver", DNSNames: []string{"api.mesh"}, IPAddresses: []string{"127.0.0.1"},
			Usages: []string{"server"}, Validity: time.Hour, Algorithm: "ecdsa-p256"})
		if err != nil {
			t.Fatal(err)
		}
		pair, err := tls.X509KeyPair(leaf.CertPEM, leaf.KeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") }))
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
		srv.StartTLS()
		defer srv.Close()
		servers[g] = srv
	}
	// Which generations' servers a node joining at the step must reach.
	reach := map[string][]int{"start": {1}, "trust-new": {1, 2}, "sign-new": {1, 2}, "distrust-old": {2}, "cleanup": {2}, "finished": {2}}
	for _, step := range cmRotationSteps {
		t.Run(step.name, func(t *testing.T) {
			rot, cfg := cmRotation(t, "  clusterInfo: {server: 'https://api.mesh:6443'}\n", step.phase, step.old, step.new)
			out := Render(Input{Rotation: rot, Config: cfg, Items: append([]*yaml.RNode{}, pulled[:step.pulled]...), Now: time.Unix(0, 0)})
			if out.Failed() {
				t.Fatalf("render failed: %v", out.Results)
			}
			var info *yaml.RNode
			for _, n := range out.Items {
				if n.GetKind() == "ConfigMap" && n.GetNamespace() == "kube-public" && n.GetName() == "cluster-info" {
					info = n
				}
			}
			if reach[step.name] == nil {
				if info != nil {
					t.Fatal("cluster-info rendered before the CA in use was pulled")
				}
				warned := false
				for _, r := range out.Results {
					warned = warned || (r.Field != nil && r.Field.Path == "spec.clusterInfo" && strings.Contains(r.Message, "carousel pull"))
				}
				if !warned {
					t.Fatalf("no warning at spec.clusterInfo: %v", out.Results)
				}
				return
			}
			if info == nil {
				t.Fatal("no kube-public/cluster-info rendered")
			}
			if !managesClusterInfo(out) {
				t.Fatalf("cluster-info is not managed (status would not compare it): %v", out.Managed)
			}
			kc, err := clientcmd.Load([]byte(info.GetDataMap()["kubeconfig"]))
			if err != nil {
				t.Fatalf("clientcmd cannot load the kubeconfig: %v", err)
			}
			var c *x509.CertPool
			for _, cl := range kc.Clusters {
				if cl.Server != "https://api.mesh:6443" {
					t.Errorf("server %q", cl.Server)
				}
				c = x509.NewCertPool()
				if !c.AppendCertsFromPEM(cl.CertificateAuthorityData) {
					t.Fatal("certificate-authority-data holds no certificate")
				}
			}
			for g, srv := range servers {
				client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: c, ServerName: "api.mesh"}}}
				resp, err := client.Get(srv.URL)
				if err == nil {
					resp.Body.Close()
				}
				want := false
				for _, r := range reach[step.name] {
					want = want || r == g
				}
				if want && err != nil {
					t.Errorf("a node joining at %s cannot reach an API server of generation %d: %v", step.name, g, err)
				}
				if !want && err == nil {
					t.Errorf("a node joining at %s trusts an API server of generation %d, which the phase does not trust", step.name, g)
				}
			}
		})
	}
}

func managesClusterInfo(out Output) bool {
	for _, m := range out.Managed {
		if m.Kind == "ConfigMap" && m.Namespace == "kube-public" && m.Name == "cluster-info" {
			return true
		}
	}
	return false
}
