package runbook_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/rotate"
	"github.com/carousel-dev/carousel/pkg/runbook"
	"github.com/carousel-dev/carousel/pkg/spec"
)

func TestTheClusterCARunbookEditsExactlyItsFilesInEveryMoveForwardAndBack(t *testing.T) {
	r := newRehearsal(t, example(t, "cluster-ca"))
	r.checkCluster(phases.Steady)
	r.walk(forwardAndBack, func(from, to phases.Phase, _ string) {
		r.checkCluster(to)
		calls := r.calls()
		a, _ := phases.Lookup(phases.ScopeCA, from)
		b, _ := phases.Lookup(phases.ScopeCA, to)
		var kubeadm []string
		for _, c := range calls {
			if strings.HasPrefix(c, "kubeadm ") {
				kubeadm = append(kubeadm, c)
			}
		}
		if a.Signer != b.Signer {
			// kubeadm re-issues only once ca.crt holds the new signer.
			want := "ca=" + sha(pemCerts(r.ca[b.Signer].cert))
			if len(kubeadm) < 5 {
				t.Errorf("%s -> %s: kubeadm renewed %d certificates, want apiserver, apiserver-kubelet-client and the kubeconfigs: %q", from, to, len(kubeadm), kubeadm)
			}
			for _, c := range kubeadm {
				if !strings.Contains(c, want) {
					t.Errorf("%s -> %s: %q ran before ca.crt held the %s CA", from, to, c, b.Signer)
				}
				if !strings.Contains(c, "--cert-dir "+filepath.Join(r.root, "etc/kubernetes/pki")) {
					t.Errorf("%s -> %s: %q ignores KUBE_ROOT", from, to, c)
				}
			}
		} else if len(kubeadm) > 0 {
			t.Errorf("%s -> %s: the signer does not change, but kubeadm ran: %q", from, to, kubeadm)
		}
		if !slices.Equal(a.Trusted, b.Trusted) && !slices.Contains(calls, "systemctl restart kubelet") {
			t.Errorf("%s -> %s: the trusted set changed and the kubelet was not restarted: %q", from, to, calls)
		}
	})
}

func TestTheFrontProxyRunbookNeverTouchesTheClusterCAsFiles(t *testing.T) {
	r := newRehearsal(t, example(t, "front-proxy-ca"))
	r.checkFrontProxy(phases.Steady)
	r.walk(forwardAndBack, func(from, to phases.Phase, _ string) {
		r.checkFrontProxy(to)
		for _, c := range r.calls() {
			if strings.HasPrefix(c, "kubeadm ") || strings.HasPrefix(c, "systemctl ") {
				t.Errorf("%s -> %s: the front-proxy runbook ran %q", from, to, c)
			}
		}
	})
}

// TestWithoutItsOwnClientLeafTheFrontProxyRunbookHasKubeadmReissueIt: a
// front-proxy rotation that does not list front-proxy-client in spec.leaves
// re-issues it with kubeadm, once front-proxy-ca.crt holds the new signer,
// and still never touches the cluster CA's files.
func TestWithoutItsOwnClientLeafTheFrontProxyRunbookHasKubeadmReissueIt(t *testing.T) {
	r := newRehearsal(t, example(t, "front-proxy-ca"))
	r.kubeadmIssues = true
	if err := r.pkg.Config.PipeE(yaml.Lookup("spec"), yaml.Clear("leaves")); err != nil {
		t.Fatal(err)
	}
	r.checkFrontProxy(phases.Steady)
	renewed := 0
	r.walk(forwardAndBack, func(from, to phases.Phase, _ string) {
		r.checkFrontProxy(to)
		b, _ := phases.Lookup(phases.ScopeCA, to)
		for _, c := range r.calls() {
			if !strings.HasPrefix(c, "kubeadm ") {
				continue
			}
			renewed++
			want := "kubeadm certs renew front-proxy-client --cert-dir " + filepath.Join(r.root, "etc/kubernetes/pki") + " "
			if !strings.HasPrefix(c, want) || !strings.HasSuffix(c, "front-proxy-ca="+sha(pemCerts(r.ca[b.Signer].cert))) {
				t.Errorf("%s -> %s: %q, want %q... while front-proxy-ca.crt holds the %s CA", from, to, c, want, b.Signer)
			}
		}
	})
	if renewed == 0 {
		t.Fatal("kubeadm never re-issued front-proxy-client")
	}
}

// TestARunbookCommandFailsLoudlyWhenWhatItEditsIsMissing breaks one thing
// of the node and runs the move: the command that needs it must fail (not
// exit 0 having changed nothing), name it, and leave its file as it was.
func TestARunbookCommandFailsLoudlyWhenWhatItEditsIsMissing(t *testing.T) {
	cluster, frontProxy := example(t, "cluster-ca"), example(t, "front-proxy-ca")
	dropLine := func(file, prefix string) func(*rehearsal) {
		return func(r *rehearsal) {
			p := filepath.Join(r.root, file)
			b := r.read(file)
			var kept []string
			for _, l := range strings.Split(string(b), "\n") {
				if !strings.HasPrefix(strings.TrimSpace(l), prefix) {
					kept = append(kept, l)
				}
			}
			if len(kept) == len(strings.Split(string(b), "\n")) {
				r.t.Fatalf("%s has no line %q to drop", file, prefix)
			}
			if err := os.WriteFile(p, []byte(strings.Join(kept, "\n")), 0o600); err != nil {
				r.t.Fatal(err)
			}
		}
	}
	remove := func(file string) func(*rehearsal) {
		return func(r *rehearsal) {
			if err := os.Remove(filepath.Join(r.root, file)); err != nil {
				r.t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		name     string
		pkg      string
		to       phases.Phase // reached from steady, forward
		brk      func(*rehearsal)
		file     string // the file the failing command edits
		mentions string
	}{
		{"trust-new fails when kube-controller-manager has no --root-ca-file", cluster, phases.TrustNew,
			dropLine("etc/kubernetes/manifests/kube-controller-manager.yaml", "- --root-ca-file="), "etc/kubernetes/manifests/kube-controller-manager.yaml", "--root-ca-file"},
		{"trust-new fails when kube-apiserver has no --client-ca-file", cluster, phases.TrustNew,
			dropLine("etc/kubernetes/manifests/kube-apiserver.yaml", "- --client-ca-file="), "etc/kubernetes/manifests/kube-apiserver.yaml", "--client-ca-file"},
		{"trust-new fails when the kube-apiserver manifest is missing", cluster, phases.TrustNew,
			remove("etc/kubernetes/manifests/kube-apiserver.yaml"), "", "kube-apiserver.yaml"},
		{"trust-new fails when the kube-scheduler manifest is missing", cluster, phases.TrustNew,
			remove("etc/kubernetes/manifests/kube-scheduler.yaml"), "", "kube-scheduler.yaml is missing"},
		{"trust-new fails when the kubelet configuration has no clientCAFile", cluster, phases.TrustNew,
			dropLine("var/lib/kubelet/config.yaml", "clientCAFile:"), "var/lib/kubelet/config.yaml", "clientCAFile"},
		{"trust-new fails when kubelet.conf is missing", cluster, phases.TrustNew,
			remove("etc/kubernetes/kubelet.conf"), "", "kubelet.conf"},
		{"trust-new fails when admin.conf is missing", cluster, phases.TrustNew,
			remove("etc/kubernetes/admin.conf"), "", "admin.conf"},
		{"trust-new fails when the pki directory is missing", cluster, phases.TrustNew,
			func(r *rehearsal) { _ = os.RemoveAll(filepath.Join(r.root, "etc/kubernetes/pki")) }, "", "ca-bundle.crt"},
		{"sign-new fails when kube-controller-manager has no --cluster-signing-key-file", cluster, phases.SignNew,
			dropLine("etc/kubernetes/manifests/kube-controller-manager.yaml", "- --cluster-signing-key-file="), "etc/kubernetes/manifests/kube-controller-manager.yaml", "--cluster-signing-key-file"},
		{"sign-new fails, and writes no key, when the material cannot be decrypted", cluster, phases.SignNew,
			func(r *rehearsal) {
				r.env = append(r.env, "SOPS_AGE_KEY_FILE="+filepath.Join(r.root, "no-such-key"))
			}, "etc/kubernetes/pki/ca-new.key", "sops"},
		{"front-proxy trust-new fails when kube-apiserver has no --requestheader-client-ca-file", frontProxy, phases.TrustNew,
			dropLine("etc/kubernetes/manifests/kube-apiserver.yaml", "- --requestheader-client-ca-file="), "etc/kubernetes/manifests/kube-apiserver.yaml", "--requestheader-client-ca-file"},
		{"front-proxy trust-new fails when kube-controller-manager has no --requestheader-client-ca-file", frontProxy, phases.TrustNew,
			dropLine("etc/kubernetes/manifests/kube-controller-manager.yaml", "- --requestheader-client-ca-file="), "etc/kubernetes/manifests/kube-controller-manager.yaml", "--requestheader-client-ca-file"},
		{"front-proxy sign-new fails, and writes no key, when the material cannot be decrypted", frontProxy, phases.SignNew,
			func(r *rehearsal) {
				r.env = append(r.env, "SOPS_AGE_KEY_FILE="+filepath.Join(r.root, "no-such-key"))
			}, "etc/kubernetes/pki/front-proxy-ca.key", "sops"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRehearsal(t, tc.pkg)
			seq := []phases.Phase{phases.Steady, phases.TrustNew, phases.SignNew}
			last := slices.Index(seq, tc.to)
			r.walk(seq[:last], nil)
			tc.brk(r)
			before := r.hashes()
			_, failed, stderr := r.move(seq[last-1], tc.to)
			if failed == "" {
				t.Fatalf("every command of %s -> %s succeeded on the broken node", seq[last-1], tc.to)
			}
			if !strings.Contains(stderr, tc.mentions) {
				t.Errorf("the failing command does not say what is missing (%q):\n%s\n%s", tc.mentions, failed, stderr)
			}
			if tc.file != "" && before[tc.file] != r.hashes()[tc.file] {
				t.Errorf("%s changed although the command failed", tc.file)
			}
			for f := range r.hashes() {
				if strings.HasSuffix(f, ".key") && before[f] == "" {
					t.Errorf("a failed move left a new key file %s", f)
				}
			}
		})
	}
}

// servingLeaves are the API server's certificates as leaves of the cluster
// CA rotation, shaped as kubeadm issues them.
const servingLeaves = `
  - name: apiserver
    secret: {name: apiserver-tls, namespace: kube-system}
    commonName: kube-apiserver
    dnsNames: [cp-1, kubernetes, kubernetes.default, kubernetes.default.svc, kubernetes.default.svc.cluster.local]
    ipAddresses: [10.96.0.1, 10.0.0.1]
    usages: [server]
    validity: 87600h
  - name: apiserver-kubelet-client
    secret: {name: apiserver-kubelet-client-tls, namespace: kube-system}
    commonName: kube-apiserver-kubelet-client
    organization: [kubeadm:cluster-admins]
    usages: [client]
    validity: 87600h
`

// servingPackage makes a cluster-CA package like examples/cluster-ca whose
// rotation also issues only (some of) the API server's certificates, named
// as in kubeadm: carousel init and start (the library calls) with the real
// sops, keys encrypted to the demo identity the rehearsal decrypts with.
func servingPackage(t *testing.T, leaves string) string {
	t.Helper()
	repo := testkit.Root(t)
	src := example(t, "cluster-ca")
	dir := filepath.Join(t.TempDir(), "cluster-ca")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue // the material: made anew below
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == "carousel.yaml" {
			b = bytes.Replace(b, []byte("\n  leaves:\n"), []byte("\n  leaves:"+leaves), 1)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	key, err := os.ReadFile(filepath.Join(repo, testkit.AgeKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	_, recipient, _ := strings.Cut(string(key), "# public key: ")
	recipient, _, _ = strings.Cut(recipient, "\n")
	t.Setenv("SOPS_AGE_KEY_FILE", filepath.Join(repo, testkit.AgeKeyFile))
	opts := rotate.Options{Age: []string{recipient}, SopsBinary: testkit.Tool(t, "sops"), Stderr: io.Discard}
	file := filepath.Join(dir, "carousel.yaml")
	for _, step := range []func(*rotate.Package) error{
		func(p *rotate.Package) error { _, err := rotate.Init(p, opts); return err },
		func(p *rotate.Package) error { _, err := rotate.Start(p, opts, rotate.StartRequest{}); return err },
	} {
		p, err := rotate.Load(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := step(p); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestTheAPIServersOwnCertificatesAreInstalledFromTheRotationsLeaves: a
// cluster-CA rotation that lists apiserver and apiserver-kubelet-client in
// spec.leaves has the runbook's signer step install them (sops -d of their
// keys from the material, like ca.key) instead of `kubeadm certs renew`: in
// every phase, forward and back, pki/<name>.crt is the phase's leaf, chains
// (crypto/x509) to the phase's signer, and pki/<name>.key is its key. With
// only one of them listed, kubeadm re-issues the other, once ca.crt holds
// the signer.
func TestTheAPIServersOwnCertificatesAreInstalledFromTheRotationsLeaves(t *testing.T) {
	apiserverOnly, _, _ := strings.Cut(servingLeaves, "  - name: apiserver-kubelet-client")
	for _, tc := range []struct {
		name   string
		leaves string
		renews []string // what kubeadm re-issues besides the kubeconfigs
	}{
		{"both listed: kubeadm re-issues neither", servingLeaves, nil},
		{"apiserver listed: kubeadm re-issues apiserver-kubelet-client", apiserverOnly, []string{"apiserver-kubelet-client"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRehearsal(t, servingPackage(t, tc.leaves))
			if len(r.served) == 0 {
				t.Fatal("the package issues no API server certificate")
			}
			r.checkCluster(phases.Steady)
			installs := 0
			r.walk(forwardAndBack, func(from, to phases.Phase, _ string) {
				r.checkCluster(to)
				a, _ := phases.Lookup(phases.ScopeCA, from)
				b, _ := phases.Lookup(phases.ScopeCA, to)
				var renewed []string
				for _, c := range r.calls() {
					if f := strings.Fields(c); len(f) > 3 && f[0] == "kubeadm" && !strings.HasSuffix(f[3], ".conf") {
						renewed = append(renewed, f[3])
						if !strings.Contains(c, "ca="+sha(pemCerts(r.ca[b.Signer].cert))) {
							t.Errorf("%s -> %s: %q ran before ca.crt held the %s CA", from, to, c, b.Signer)
						}
					}
				}
				want := tc.renews
				if a.Signer == b.Signer {
					want = nil
				} else {
					installs++
				}
				if !slices.Equal(renewed, want) {
					t.Errorf("%s -> %s: kubeadm re-issued %q, want %q", from, to, renewed, want)
				}
			})
			if installs == 0 {
				t.Fatal("the walk never changed the signer")
			}
		})
	}
}

// TestTheCloudControllerManagerStepIsSkippedWhereItDoesNotRun: the page's
// cloud-controller-manager step is optional ("if your cluster does not have
// a cloud-controller-manager, you can skip this step"): on a node without
// its manifest, or with a manifest that does not set --root-ca-file, the
// command says so, changes nothing and the move goes on; the node is still
// right in every phase (checkCluster checks the flag where it is set).
func TestTheCloudControllerManagerStepIsSkippedWhereItDoesNotRun(t *testing.T) {
	const ccm = "etc/kubernetes/manifests/cloud-controller-manager.yaml"
	cluster := example(t, "cluster-ca")
	for _, tc := range []struct {
		name, says string
		brk        func(r *rehearsal)
	}{
		{"a node without a cloud-controller-manager says so and goes on", "is not there (no cloud-controller-manager static pod on this node): nothing to change",
			func(r *rehearsal) { _ = os.Remove(filepath.Join(r.root, ccm)) }},
		{"a cloud-controller-manager without --root-ca-file is left as it is", "does not set --root-ca-file: nothing to change",
			func(r *rehearsal) {
				const flag = "    - --root-ca-file=/etc/kubernetes/pki/ca.crt\n"
				was := string(r.read(ccm))
				if !strings.Contains(was, flag) {
					t.Fatalf("%s has no line %q to drop", ccm, flag)
				}
				b := strings.Replace(was, flag, "", 1)
				if err := os.WriteFile(filepath.Join(r.root, ccm), []byte(b), 0o600); err != nil {
					t.Fatal(err)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRehearsal(t, cluster)
			tc.brk(r)
			r.snapshot()
			before := r.initial[ccm]
			r.walk(forwardAndBack, func(from, to phases.Phase, out string) {
				a, _ := phases.Lookup(phases.ScopeCA, from)
				b, _ := phases.Lookup(phases.ScopeCA, to)
				if trustChanged := !slices.Equal(a.Trusted, b.Trusted) || runbook.UsesBundle(a) != runbook.UsesBundle(b); trustChanged && !strings.Contains(out, tc.says) {
					t.Errorf("%s -> %s does not say %q:\n%s", from, to, tc.says, out)
				}
				r.checkCluster(to)
				if got := r.hashes()[ccm]; got != before {
					t.Errorf("%s -> %s changed %s", from, to, ccm)
				}
			})
		})
	}
}

// TestARollbackRunbookNamesTheCAItInstalls: rolling sign-new back installs
// the old CA, and every step must say so (the old runbook said "restart with
// the new signer" while installing the old CA).
func TestARollbackRunbookNamesTheCAItInstalls(t *testing.T) {
	r := newRehearsal(t, example(t, "cluster-ca"))
	for _, tc := range []struct {
		from, to   phases.Phase
		installs   phases.Generation
		neverNamed string
	}{
		{phases.TrustNew, phases.SignNew, phases.New, "old signer"},
		{phases.SignNew, phases.TrustNew, phases.Old, "new signer"},
	} {
		s := r.step(tc.from, tc.to)
		found := false
		for _, st := range s.Runbook {
			if strings.Contains(st.Title, tc.neverNamed) || strings.Contains(st.Why, tc.neverNamed) {
				t.Errorf("%s -> %s: %q says %q", tc.from, tc.to, st.Title, tc.neverNamed)
			}
			if strings.HasPrefix(st.Title, fmt.Sprintf("Install the %s CA as ca.crt and ca.key", tc.installs)) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s -> %s: no step installs the %s CA as ca.crt and ca.key", tc.from, tc.to, tc.installs)
		}
	}
}

// TestTheRunbookValueIsOneThatHasSteps: spec.runbook names a runbook plan
// knows, for each CA kind; anything else is refused at its field path, by the
// schema and by Validate (which Go callers use without the schema).
func TestTheRunbookValueIsOneThatHasSteps(t *testing.T) {
	pkg := testkit.Load(t, example(t, "front-proxy-ca"))
	for _, tc := range []struct {
		value spec.Runbook
		ok    bool
	}{
		{spec.RunbookNone, true}, {spec.RunbookKubernetes, true}, {spec.RunbookFrontProxy, true},
		{"kubernetes-frontproxy", false}, {"Kubernetes", false},
	} {
		cfg := pkg.Config.Copy()
		if err := cfg.PipeE(yaml.Lookup("spec"), yaml.SetField("runbook", yaml.NewStringRNode(string(tc.value)))); err != nil {
			t.Fatal(err)
		}
		_, err := spec.Load(cfg)
		if (err == nil) != tc.ok || (err != nil && !strings.Contains(err.Error(), "spec.runbook")) {
			t.Errorf("runbook %q: Load says %v", tc.value, err)
		}
		rot := &spec.CARotation{APIVersion: spec.APIVersion, Kind: spec.Kind, Metadata: spec.Metadata{Name: "r"}, Spec: spec.Spec{Runbook: tc.value}}
		if err := rot.Default(); err != nil {
			t.Fatal(err)
		}
		err = rot.Validate()
		if (err == nil) != tc.ok || (err != nil && !strings.Contains(err.Error(), "spec.runbook")) {
			t.Errorf("runbook %q: Validate says %v", tc.value, err)
		}
	}
}

// A CA held externally (a KeyPair with a certificate and no key) cannot be
// installed by the runbook, which writes the signer's key as ca.key: the
// runbook is refused when it is built, naming the way out, instead of a
// node step that fails half-way when it runs.
func TestARunbookRefusesASignerWhoseKeyIsHeldExternally(t *testing.T) {
	pkg := testkit.Load(t, example(t, "cluster-ca"))
	rot := pkg.Rotation(t)
	var items []*yaml.RNode
	for _, n := range pkg.CopyItems() {
		if material.IsKeyPair(n) && n.GetAnnotations()[material.AnnotationRole] == material.RoleCA && n.GetAnnotations()[material.AnnotationGeneration] == string(phases.Old) {
			_ = n.PipeE(yaml.Clear("data"))
			_ = n.PipeE(yaml.Clear("sops"))
		}
		items = append(items, n)
	}
	if _, err := runbook.Steps(rot, items, phases.Steady, phases.TrustNew); err == nil || !strings.Contains(err.Error(), "the old CA is held externally") {
		t.Fatalf("want a refusal naming the externally held old CA, got %v", err)
	}
	if _, err := runbook.Steps(rot, pkg.CopyItems(), phases.Steady, phases.TrustNew); err != nil {
		t.Fatalf("with its key the runbook builds: %v", err)
	}
}

// TestARollbackRunbookRunTwiceChangesNothingMore: rolling back out of a
// phase with an in-cluster-config step lists the rollback's node steps
// twice (before the in-cluster-config step's rollback, and again after the
// objects' rollback, in case they ran without that step being merged), so
// a second run must succeed and leave every file as the first left it.
func TestARollbackRunbookRunTwiceChangesNothingMore(t *testing.T) {
	for _, tc := range []struct {
		walk     []phases.Phase
		from, to phases.Phase
	}{
		{[]phases.Phase{phases.Steady, phases.TrustNew}, phases.TrustNew, phases.Steady},
		{[]phases.Phase{phases.Steady, phases.TrustNew, phases.SignNew, phases.DistrustOld}, phases.DistrustOld, phases.SignNew},
	} {
		t.Run(string(tc.from)+" to "+string(tc.to), func(t *testing.T) {
			r := newRehearsal(t, example(t, "cluster-ca"))
			r.walk(tc.walk, nil)
			if _, failed, stderr := r.move(tc.from, tc.to); failed != "" {
				t.Fatalf("the rollback failed: %s\n%s", failed, stderr)
			}
			once := r.hashes()
			if _, failed, stderr := r.move(tc.from, tc.to); failed != "" {
				t.Fatalf("the rollback's node steps fail when run again: %s\n%s", failed, stderr)
			}
			for f, h := range r.hashes() {
				if once[f] != h {
					t.Errorf("running the rollback again changed %s", f)
				}
			}
			for f := range once {
				if _, ok := r.hashes()[f]; !ok {
					t.Errorf("running the rollback again removed %s", f)
				}
			}
		})
	}
}
