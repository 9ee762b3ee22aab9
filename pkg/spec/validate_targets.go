package spec

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/carousel-dev/carousel/pkg/targets"
)

// validateBundles checks the trust bundles: their names, kinds, keys and
// namespaces, and that no two render one object.
func (s *Spec) validateBundles(errs *FieldErrors, claims *secretClaims) {
	bundles := map[string]string{}
	for i, b := range s.Bundles {
		p := fmt.Sprintf("spec.bundles[%d]", i)
		if !dnsSubdomain.MatchString(b.Name) {
			errs.add(p+".name", "%q must be a DNS subdomain (a-z, 0-9, \"-\" and \".\", at most 253 characters)", b.Name)
		}
		if b.Kind != "ConfigMap" && b.Kind != "Secret" {
			errs.add(p+".kind", "%q must be ConfigMap or Secret", b.Kind)
		}
		if !dataKey.MatchString(b.Key) {
			errs.add(p+".key", "%q is not a valid data key", b.Key)
		}
		if len(b.Namespaces) == 0 && !b.AllNamespaces {
			errs.add(p+".namespaces", "list namespaces or set allNamespaces: true")
		}
		for j, ns := range b.Namespaces {
			if !dnsLabel.MatchString(ns) {
				errs.add(fmt.Sprintf("%s.namespaces[%d]", p, j), "%q is not a namespace name (a DNS label: a-z, 0-9 and \"-\", at most 63 characters)", ns)
			}
			k := b.Kind + "/" + ns + "/" + b.Name
			if prev, ok := bundles[k]; ok {
				errs.add(fmt.Sprintf("%s.namespaces[%d]", p, j), "%s is already rendered by %s", k, prev)
			}
			bundles[k] = p
			if b.Kind == "Secret" {
				claims.claim(fmt.Sprintf("%s.namespaces[%d]", p, j), ns, b.Name)
			}
		}
	}
}

// validateTargets checks the other places trust is written: cluster-info,
// service-account tokens, caBundle fields and kubeconfigs.
func (s *Spec) validateTargets(errs *FieldErrors) {
	if ci := s.ClusterInfo; ci != nil {
		u, err := url.Parse(ci.Server)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			errs.add("spec.clusterInfo.server", "%q must be an https:// URL of the API server", ci.Server)
		}
	}
	if s.ServiceAccountTokens && s.Runbook == RunbookFrontProxy {
		errs.add("spec.serviceAccountTokens", "a service-account token's ca.crt is the cluster CA (kube-controller-manager --root-ca-file), not the front-proxy CA: set it on the cluster CA's rotation (runbook: kubernetes)")
	}
	for i, t := range s.CABundles {
		p := fmt.Sprintf("spec.caBundles[%d]", i)
		k, _ := targets.Builtin().Lookup(t.Kind)
		if k.CABundle == nil {
			errs.add(p+".kind", "%q cannot carry a caBundle (want one of %s)", t.Kind, strings.Join(targets.Builtin().CABundleKinds(), ", "))
		}
		if t.Name == "" {
			errs.add(p+".name", "is required")
		}
		if len(t.Webhooks) > 0 && (k.CABundle == nil || k.CABundle.Each == "") {
			errs.add(p+".webhooks", "only webhook configurations have webhooks")
		}
	}
	for i, k := range s.Kubeconfigs {
		p := fmt.Sprintf("spec.kubeconfigs[%d]", i)
		if k.Name == "" || k.Namespace == "" {
			errs.add(p, "name and namespace are required")
		}
		if !dataKey.MatchString(k.Key) {
			errs.add(p+".key", "%q is not a valid data key", k.Key)
		}
	}
}
