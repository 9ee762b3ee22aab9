package cmbackend

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/spec"
)

var (
	secrets      = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	configMaps   = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	certificates = schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "certificates"}
	bundles      = schema.GroupVersionResource{Group: "trust.cert-manager.io", Version: "v1alpha1", Resource: "bundles"}
)

// secretCert reads the first certificate of a Secret's tls.crt (nil, nil
// when the Secret does not exist or has none yet). Only tls.crt is decoded:
// the key in the same Secret is never read.
func secretCert(ctx context.Context, c dynamic.Interface, ns, name string) (*x509.Certificate, error) {
	u, err := c.Resource(secrets).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	v, _, _ := unstructured.NestedString(u.Object, "data", "tls.crt")
	if v == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("secret %s/%s: tls.crt is not base64: %w", ns, name, err)
	}
	certs, err := parsePEM(b)
	if err != nil || len(certs) == 0 {
		return nil, fmt.Errorf("secret %s/%s: tls.crt holds no certificate: %v", ns, name, err)
	}
	return certs[0], nil
}

func parsePEM(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return out, nil
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
}

// Pull reads the public certificate of each of the rotation's CA
// generations (old, and new when set) from the Secret cert-manager wrote,
// for `carousel pull` to commit. A generation whose Secret does not exist
// yet (cert-manager has not issued it) is left out; a Secret that holds
// something other than this rotation's CA is an error.
func Pull(ctx context.Context, c dynamic.Interface, rot *spec.CARotation) (map[int]*x509.Certificate, error) {
	out := map[int]*x509.Certificate{}
	for _, g := range phases.Generations {
		n := Number(rot, g)
		if n == 0 {
			continue
		}
		name := GenerationName(rot.Metadata.Name, n)
		cert, err := secretCert(ctx, c, Namespace(rot), name)
		if err != nil {
			return nil, err
		}
		if cert == nil {
			continue
		}
		if !cert.IsCA || cert.Subject.CommonName != rot.Spec.CA.CommonName {
			return nil, fmt.Errorf("secret %s/%s holds %q (CA: %v), not the rotation's CA %q", Namespace(rot), name, cert.Subject.CommonName, cert.IsCA, rot.Spec.CA.CommonName)
		}
		out[n] = cert
	}
	return out, nil
}

// Verdicts of Check, as carousel status names them.
const (
	Converged   = "converged"
	Progressing = "progressing"
	Blocked     = "blocked"
)

// Finding is one object Check looked at.
type Finding struct {
	Kind, Namespace, Name string
	State                 string
	Detail                string
}

// Check is the live gate of a cert-manager phase: every present CA
// generation's Secret holds exactly the certificate in git (a CA that
// changed behind its name blocks: cert-manager made a new key where the
// rotation reviewed another); every leaf Certificate is Ready and its
// Secret's certificate is signed by the phase's signer (cert-manager has
// re-issued after the issuerRef flip); every Bundle target holds exactly
// the trusted generations' certificates. It also reports the Secrets of CA
// generations the phase no longer has (cert-manager keeps them unless
// --enable-certificate-owner-ref): a key left behind, to delete by hand.
func Check(ctx context.Context, c dynamic.Interface, rot *spec.CARotation, st phases.State, pulled map[int]*x509.Certificate) (verdict string, findings []Finding, notes []string, err error) {
	ns := Namespace(rot)
	add := func(kind, ns, name, state, format string, args ...any) {
		findings = append(findings, Finding{Kind: kind, Namespace: ns, Name: name, State: state, Detail: fmt.Sprintf(format, args...)})
	}
	for _, g := range Present(rot, st) {
		n := Number(rot, g)
		name := GenerationName(rot.Metadata.Name, n)
		live, err := secretCert(ctx, c, ns, name)
		if err != nil {
			return "", nil, nil, err
		}
		want, inGit := pulled[n]
		switch {
		case live == nil:
			add("Secret", ns, name, Progressing, "cert-manager has not issued CA generation %d yet", n)
		case !inGit:
			state := Converged
			if slices.Contains(st.Trusted, g) {
				state = Progressing
			}
			add("Secret", ns, name, state, "CA generation %d is issued but its certificate is not in git: run `carousel pull`", n)
		case !live.Equal(want):
			add("Secret", ns, name, Blocked, "CA generation %d in the cluster is not the certificate in git (%s, git has %s): the CA behind the name changed", n, Fingerprint(live)[:16], Fingerprint(want)[:16])
		default:
			add("Secret", ns, name, Converged, "CA generation %d as in git", n)
		}
	}
	signerCert := pulled[Number(rot, st.Signer)]
	for _, l := range rot.Spec.Leaves {
		u, err := c.Resource(certificates).Namespace(l.Secret.Namespace).Get(ctx, l.Secret.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			add("Certificate", l.Secret.Namespace, l.Secret.Name, Progressing, "not applied yet")
			continue
		} else if err != nil {
			return "", nil, nil, err
		}
		wantIssuer := GenerationName(rot.Metadata.Name, Number(rot, st.Signer))
		if got, _, _ := unstructured.NestedString(u.Object, "spec", "issuerRef", "name"); got != wantIssuer {
			add("Certificate", l.Secret.Namespace, l.Secret.Name, Progressing, "issuerRef is %s, the phase's is %s: the phase is not applied yet", got, wantIssuer)
			continue
		}
		leaf, err := secretCert(ctx, c, l.Secret.Namespace, l.Secret.Name)
		if err != nil {
			return "", nil, nil, err
		}
		switch {
		case leaf == nil:
			add("Certificate", l.Secret.Namespace, l.Secret.Name, Progressing, "cert-manager has not issued it yet")
		case signerCert == nil:
			add("Certificate", l.Secret.Namespace, l.Secret.Name, Progressing, "the signer's certificate (generation %d) is not in git: run `carousel pull`", Number(rot, st.Signer))
		case leaf.CheckSignatureFrom(signerCert) != nil:
			add("Certificate", l.Secret.Namespace, l.Secret.Name, Progressing, "its certificate is still signed by %q, not by generation %d: cert-manager has not re-issued it yet", leaf.Issuer.CommonName, Number(rot, st.Signer))
		default:
			add("Certificate", l.Secret.Namespace, l.Secret.Name, Converged, "issued by CA generation %d", Number(rot, st.Signer))
		}
	}
	var want []string
	for _, g := range st.Trusted {
		if cert, ok := pulled[Number(rot, g)]; ok {
			want = append(want, Fingerprint(cert))
		}
	}
	sort.Strings(want)
	for _, b := range rot.Spec.Bundles {
		if _, err := c.Resource(bundles).Get(ctx, b.Name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			add("Bundle", "", b.Name, Progressing, "not applied yet")
			continue
		} else if err != nil {
			return "", nil, nil, err
		}
		for _, tns := range b.Namespaces {
			got, err := bundleTarget(ctx, c, b, tns)
			if err != nil {
				return "", nil, nil, err
			}
			if slices.Equal(got, want) {
				add(b.Kind, tns, b.Name, Converged, "holds the phase's %d trusted CA(s)", len(want))
			} else {
				add(b.Kind, tns, b.Name, Progressing, "holds %d CA(s), not the phase's %d: trust-manager has not caught up", len(got), len(want))
			}
		}
	}
	// Secrets of generations the phase no longer has.
	list, err := c.Resource(secrets).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: LabelRotation + "=" + rot.Metadata.Name})
	if err != nil {
		return "", nil, nil, err
	}
	present := map[int]bool{}
	for _, g := range Present(rot, st) {
		present[Number(rot, g)] = true
	}
	for _, s := range list.Items {
		n, err := strconv.Atoi(s.GetLabels()[LabelGeneration])
		if err == nil && !present[n] {
			notes = append(notes, fmt.Sprintf("Secret %s/%s still holds the key of CA generation %d, which no phase needs any more: cert-manager keeps a Certificate's Secret unless it runs with --enable-certificate-owner-ref; delete it once a rollback is out of question", ns, s.GetName(), n))
		}
	}
	verdict = Converged
	for _, f := range findings {
		switch {
		case f.State == Blocked:
			verdict = Blocked
		case f.State == Progressing && verdict == Converged:
			verdict = Progressing
		}
	}
	return verdict, findings, notes, nil
}

// bundleTarget returns the sorted fingerprints of the certificates in a
// Bundle's target in one namespace.
func bundleTarget(ctx context.Context, c dynamic.Interface, b spec.Bundle, ns string) ([]string, error) {
	res := configMaps
	if b.Kind == "Secret" {
		res = secrets
	}
	u, err := c.Resource(res).Namespace(ns).Get(ctx, b.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	v, _, _ := unstructured.NestedString(u.Object, "data", b.Key)
	raw := []byte(v)
	if b.Kind == "Secret" {
		if raw, err = base64.StdEncoding.DecodeString(v); err != nil {
			return nil, err
		}
	}
	certs, err := parsePEM(raw)
	if err != nil {
		return nil, fmt.Errorf("%s %s/%s: %w", b.Kind, ns, b.Name, err)
	}
	var out []string
	for _, c := range certs {
		out = append(out, Fingerprint(c))
	}
	sort.Strings(out)
	return slices.Compact(out), nil
}

// Summary is one line per finding that is not converged.
func Summary(findings []Finding) []string {
	var out []string
	for _, f := range findings {
		if f.State != Converged {
			out = append(out, strings.TrimSpace(fmt.Sprintf("%s %s/%s: %s", f.Kind, f.Namespace, f.Name, f.Detail)))
		}
	}
	return out
}
