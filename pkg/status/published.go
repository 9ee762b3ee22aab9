package status

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/targets"
)

// KubeRootCA is the ConfigMap kube-controller-manager writes into every
// namespace from --root-ca-file; pods using in-cluster config read it.
const KubeRootCA = "kube-root-ca.crt"

// CheckPublished says whether the live kube-root-ca.crt in namespace holds
// exactly want: the set the runbook's node steps must have put on
// --root-ca-file before an in-cluster-config step is merged (its pods
// restart reading it). The error names what the cluster holds and what
// the step needs.
func CheckPublished(ctx context.Context, client dynamic.Interface, namespace string, want []*x509.Certificate) error {
	live, err := get(ctx, client, targets.ConfigMap, namespace, KubeRootCA)
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("ConfigMap %s/%s does not exist: kube-controller-manager has not published --root-ca-file there", namespace, KubeRootCA)
	}
	if err != nil {
		return fmt.Errorf("reading ConfigMap %s/%s: %w", namespace, KubeRootCA, err)
	}
	v, _ := live.Pipe(yaml.Lookup("data", "ca.crt"))
	certs, err := pki.ParseCerts([]byte(yaml.GetValue(v)))
	if err != nil {
		return fmt.Errorf("ConfigMap %s/%s: ca.crt: %w", namespace, KubeRootCA, err)
	}
	fps := func(cs []*x509.Certificate) []string {
		var out []string
		for _, c := range cs {
			out = append(out, pki.Fingerprint(c))
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	if have, need := fps(certs), fps(want); !slices.Equal(have, need) {
		return fmt.Errorf("ConfigMap %s/%s holds %s, the step needs %s: run the node steps first (kube-controller-manager --root-ca-file; `carousel plan` lists them)",
			namespace, KubeRootCA, subjects(certs), subjects(want))
	}
	return nil
}

func subjects(cs []*x509.Certificate) string {
	var s []string
	for _, c := range cs {
		s = append(s, fmt.Sprintf("%q (sha256 %s)", c.Subject.CommonName, pki.Fingerprint(c)[:12]))
	}
	if len(s) == 0 {
		return "no certificate"
	}
	return strings.Join(s, ", ")
}

// get reads one object: CheckPublished reads a single ConfigMap, so a GET
// (status itself reads everything else in paginated lists, pkg/status/live.go).
func get(ctx context.Context, client dynamic.Interface, kind, ns, name string) (*yaml.RNode, error) {
	k, ok := targets.Builtin().Lookup(kind)
	if !ok {
		return nil, fmt.Errorf("status does not know the kind %s: add it to pkg/targets", kind)
	}
	u, err := client.Resource(k.Resource).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(u.Object)
	if err != nil {
		return nil, err
	}
	return yaml.ConvertJSONToYamlNode(string(b))
}
