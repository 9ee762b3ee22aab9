package testkit

import "strings"

// CloneSet is an OpenKruise CloneSet (a workload kind carousel does not
// know unless spec.workloadKinds declares it) named storefront-clones in
// namespace, mounting the cluster-ca example's trust bundle: the renderer's
// and the live gate's tests of declared kinds use the same object.
func CloneSet(namespace string) string {
	return strings.ReplaceAll(cloneSet, "NAMESPACE", namespace)
}

const cloneSet = `apiVersion: apps.kruise.io/v1alpha1
kind: CloneSet
metadata: {name: storefront-clones, namespace: NAMESPACE}
spec:
  replicas: 3
  selector: {matchLabels: {app: storefront-clones}}
  template:
    metadata: {labels: {app: storefront-clones}}
    spec:
      containers:
      - name: web
        image: registry.example.dev/storefront:2.4.1
        volumeMounts: [{name: trust, mountPath: /etc/trust}]
      volumes:
      - name: trust
        configMap: {name: cluster-ca-bundle}
`
