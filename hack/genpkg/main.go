// Command genpkg writes a large, realistic package for benchmarks: N
// Deployments across M namespaces (every other one mounting the rotation's
// bundle), the bundled example's rotation and material, as a kustomize
// package and as a ResourceList for whole-process runs of a function.
//
//	go run ./hack/genpkg -workloads 10000 -namespaces 1000 -phase trust-new -out /tmp/pkg
//
// With -apps N it writes the same workloads as a fleet instead (docs/fleet.md):
// an owner package (the rotation, its material and the example's own
// resources, publishing to state/), and N consumer packages under apps/,
// each with workloads/N Deployments in its own namespaces and a
// CARotationConsumer rendering the bundle into them; `carousel publish
// owner/carousel.yaml` then writes the state they read.
//
//	go run ./hack/genpkg -apps 100 -workloads 10000 -namespaces 1000 -phase trust-new -out /tmp/fleet
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-%[1]d
  namespace: %[2]s
  labels:
    app.kubernetes.io/name: app-%[1]d
    app.kubernetes.io/part-of: shop
    team: team-%[3]d
  annotations:
    example.dev/owner: team-%[3]d@example.dev
    example.dev/runbook: https://runbooks.example.dev/app-%[1]d
spec:
  replicas: 3
  revisionHistoryLimit: 5
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  selector:
    matchLabels:
      app.kubernetes.io/name: app-%[1]d
  template:
    metadata:
      labels:
        app.kubernetes.io/name: app-%[1]d
        app.kubernetes.io/part-of: shop
      annotations:
        prometheus.io/scrape: "true"
        prometheus.io/port: "9090"
    spec:
      serviceAccountName: app-%[1]d
      securityContext: {runAsNonRoot: true, runAsUser: 10001, fsGroup: 10001, seccompProfile: {type: RuntimeDefault}}
      containers:
      - name: app
        image: registry.example.dev/shop/app-%[1]d:1.%[3]d.0
        imagePullPolicy: IfNotPresent
        args: [--listen=:8080, --metrics=:9090, --log-format=json, --tls-ca=/etc/ssl/cluster/ca.crt]
        ports:
        - {name: http, containerPort: 8080, protocol: TCP}
        - {name: metrics, containerPort: 9090, protocol: TCP}
        env:
        - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
        - {name: POD_NAMESPACE, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
        - {name: LOG_LEVEL, value: info}
        - {name: FEATURE_FLAGS, value: "checkout-v2,search-ranking,recommendations"}
        envFrom:
        - configMapRef: {name: app-%[1]d-settings}
        resources:
          requests: {cpu: 100m, memory: 128Mi}
          limits: {cpu: "1", memory: 512Mi}
        readinessProbe:
          httpGet: {path: /healthz/ready, port: http}
          initialDelaySeconds: 5
          periodSeconds: 10
        livenessProbe:
          httpGet: {path: /healthz/live, port: http}
          initialDelaySeconds: 15
          periodSeconds: 20
        securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
        volumeMounts:
        - {name: tmp, mountPath: /tmp}
%[4]s      - name: sidecar
        image: registry.example.dev/shop/proxy:2.4.1
        args: [--upstream=127.0.0.1:8080, --listen=:8443]
        ports:
        - {name: https, containerPort: 8443}
        resources:
          requests: {cpu: 50m, memory: 64Mi}
          limits: {cpu: 500m, memory: 128Mi}
      volumes:
      - {name: tmp, emptyDir: {}}
%[5]s      affinity:
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
          - weight: 100
            podAffinityTerm:
              topologyKey: kubernetes.io/hostname
              labelSelector:
                matchLabels: {app.kubernetes.io/name: app-%[1]d}
      topologySpreadConstraints:
      - maxSkew: 1
        topologyKey: topology.kubernetes.io/zone
        whenUnsatisfiable: ScheduleAnyway
        labelSelector:
          matchLabels: {app.kubernetes.io/name: app-%[1]d}
`

func main() {
	workloads := flag.Int("workloads", 1000, "number of Deployments")
	namespaces := flag.Int("namespaces", 100, "number of namespaces")
	phase := flag.String("phase", "trust-new", "phase to set in the CARotation")
	example := flag.String("example", "examples/cluster-ca", "the example whose rotation and material to reuse")
	out := flag.String("out", "", "output directory")
	carousel := flag.String("carousel", "bin/carousel", "the carousel binary the kustomization's exec function runs")
	apps := flag.Int("apps", 0, "write a fleet: an owner package and this many consumer packages sharing the workloads")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "genpkg: -out is required")
		os.Exit(2)
	}
	bin, err := filepath.Abs(*carousel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "genpkg:", err)
		os.Exit(1)
	}
	if *apps > 0 {
		err = runFleet(*apps, *workloads, *namespaces, *phase, *example, bin, *out)
	} else {
		err = run(*workloads, *namespaces, *phase, *example, bin, *out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "genpkg:", err)
		os.Exit(1)
	}
}

var phaseLine = regexp.MustCompile(`(?m)^(\s*phase:\s*)\S+`)

var execPath = regexp.MustCompile(`(?m)^(\s*path:\s*)\S*carousel(\s*#.*)?$`)

func run(workloads, namespaces int, phase, example, carousel, out string) error {
	if err := os.MkdirAll(filepath.Join(out, "material"), 0o755); err != nil {
		return err
	}
	// The rotation and its committed material, as in the example.
	cfg, err := os.ReadFile(filepath.Join(example, "carousel.yaml"))
	if err != nil {
		return err
	}
	cfg = phaseLine.ReplaceAll(cfg, []byte("${1}"+phase))
	cfg = execPath.ReplaceAll(cfg, []byte("${1}"+carousel))
	if err := os.WriteFile(filepath.Join(out, "carousel.yaml"), cfg, 0o644); err != nil {
		return err
	}
	mats, _ := filepath.Glob(filepath.Join(example, "material", "*.yaml"))
	var material bytes.Buffer
	for _, m := range mats {
		b, err := os.ReadFile(m)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, "material", filepath.Base(m)), b, 0o644); err != nil {
			return err
		}
		if !strings.HasSuffix(m, "kustomization.yaml") {
			material.WriteString("---\n")
			material.Write(b)
		}
	}
	// The example's own resources give the rotation its targets.
	var base bytes.Buffer
	for _, f := range []string{"namespaces.yaml", "kube-system.yaml", "policy-webhook.yaml", "monitoring.yaml", "admin-kubeconfig.yaml"} {
		b, err := os.ReadFile(filepath.Join(example, f))
		if err != nil {
			return err
		}
		base.WriteString("---\n")
		base.Write(b)
	}
	var gen bytes.Buffer
	for i := 0; i < namespaces; i++ {
		fmt.Fprintf(&gen, "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns-%d\n", i)
	}
	for i := 0; i < workloads; i++ {
		mount, volume := "", ""
		if i%2 == 0 {
			mount = "        - {name: cluster-ca, mountPath: /etc/ssl/cluster, readOnly: true}\n"
			volume = "      - name: cluster-ca\n        configMap: {name: cluster-ca-bundle}\n"
		}
		gen.WriteString("---\n")
		fmt.Fprintf(&gen, deployment, i, fmt.Sprintf("ns-%d", i%namespaces), i%50, mount, volume)
	}
	files := map[string][]byte{
		"base.yaml":      base.Bytes(),
		"workloads.yaml": gen.Bytes(),
		"kustomization.yaml": []byte("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" +
			"resources:\n- base.yaml\n- workloads.yaml\n- material\ntransformers:\n- carousel.yaml\n"),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(out, name), b, 0o644); err != nil {
			return err
		}
	}
	// The same input as one ResourceList, as kustomize hands it to a function.
	all := base.String() + gen.String() + material.String()
	items, err := (&kio.ByteReader{Reader: strings.NewReader(all), OmitReaderAnnotations: true}).Read()
	if err != nil {
		return err
	}
	fc, err := yaml.Parse(string(cfg))
	if err != nil {
		return err
	}
	var rl bytes.Buffer
	w := kio.ByteWriter{Writer: &rl, FunctionConfig: fc, WrappingKind: kio.ResourceListKind, WrappingAPIVersion: kio.ResourceListAPIVersion}
	if err := w.Write(items); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "resourcelist.yaml"), rl.Bytes(), 0o644)
}

// consumer is the CARotationConsumer of each generated app: the example's
// bundle, in every namespace of the app, as the owner renders it into every
// namespace of a single package.
const consumer = `apiVersion: carousel.dev/v1alpha1
kind: CARotationConsumer
metadata:
  name: %s
  annotations:
    config.kubernetes.io/function: |
      exec:
        path: %s
spec:
  state: cluster-ca
  bundles:
  - name: cluster-ca-bundle
    allNamespaces: true
`

func runFleet(apps, workloads, namespaces int, phase, example, carousel, out string) error {
	owner := filepath.Join(out, "owner")
	if err := os.MkdirAll(filepath.Join(owner, "material"), 0o755); err != nil {
		return err
	}
	cfg, err := os.ReadFile(filepath.Join(example, "carousel.yaml"))
	if err != nil {
		return err
	}
	cfg = phaseLine.ReplaceAll(cfg, []byte("${1}"+phase+"\n  publish: ../state/cluster-ca.yaml"))
	cfg = execPath.ReplaceAll(cfg, []byte("${1}"+carousel))
	if err := os.WriteFile(filepath.Join(owner, "carousel.yaml"), cfg, 0o644); err != nil {
		return err
	}
	mats, _ := filepath.Glob(filepath.Join(example, "material", "*.yaml"))
	for _, m := range mats {
		b, err := os.ReadFile(m)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(owner, "material", filepath.Base(m)), b, 0o644); err != nil {
			return err
		}
	}
	var base bytes.Buffer
	for _, f := range []string{"namespaces.yaml", "kube-system.yaml", "policy-webhook.yaml", "monitoring.yaml", "admin-kubeconfig.yaml"} {
		b, err := os.ReadFile(filepath.Join(example, f))
		if err != nil {
			return err
		}
		base.WriteString("---\n")
		base.Write(b)
	}
	files := map[string][]byte{
		filepath.Join(owner, "base.yaml"): base.Bytes(),
		filepath.Join(owner, "kustomization.yaml"): []byte("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" +
			"resources:\n- base.yaml\n- material\ntransformers:\n- carousel.yaml\n"),
		filepath.Join(out, "state", "kustomization.yaml"): []byte("resources:\n- cluster-ca.yaml\n"),
	}
	perApp, nsPerApp := workloads/apps, max(namespaces/apps, 1)
	for a := 0; a < apps; a++ {
		dir := filepath.Join(out, "apps", fmt.Sprintf("app-%d", a))
		var gen bytes.Buffer
		for j := 0; j < nsPerApp; j++ {
			fmt.Fprintf(&gen, "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns-%d\n", a*nsPerApp+j)
		}
		for j := 0; j < perApp; j++ {
			i := a*perApp + j
			mount, volume := "", ""
			if i%2 == 0 {
				mount = "        - {name: cluster-ca, mountPath: /etc/ssl/cluster, readOnly: true}\n"
				volume = "      - name: cluster-ca\n        configMap: {name: cluster-ca-bundle}\n"
			}
			gen.WriteString("---\n")
			fmt.Fprintf(&gen, deployment, i, fmt.Sprintf("ns-%d", a*nsPerApp+j%nsPerApp), i%50, mount, volume)
		}
		files[filepath.Join(dir, "workloads.yaml")] = gen.Bytes()
		files[filepath.Join(dir, "consumer.yaml")] = []byte(fmt.Sprintf(consumer, fmt.Sprintf("app-%d", a), carousel))
		files[filepath.Join(dir, "kustomization.yaml")] = []byte("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" +
			"resources:\n- ../../state\n- workloads.yaml\ntransformers:\n- consumer.yaml\n")
	}
	for name, b := range files {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(name, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
