package rotate

import (
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cloudflare/cfssl/csr"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/atomicfile"
	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// PendingKind is a key whose certificate an external CA has yet to sign.
const PendingKind = "PendingKey"

// PendingDir holds pending keys and CSRs, below the material directory and
// outside its kustomization, so nothing pending is ever rendered.
func (p *Package) PendingDir() string { return filepath.Join(p.MaterialDir(), "pending") }

// CSRRequest says what `carousel csr` requests.
type CSRRequest struct {
	// CA requests the next rotation's CA (an intermediate under an external root).
	CA bool
	// Leaves requests these leaves of spec.leaves.
	Leaves []string
	// Force replaces requests that are pending already. Without it they are
	// refused: the certificate an external CA signs for a replaced CSR no
	// longer matches any pending key.
	Force bool
}

// CSR writes a key (encrypted like all keys) and a certificate signing
// request for the next rotation's CA (an intermediate under an external
// root) and/or the named leaves, for an external CA to sign.
//
// Every request is checked and made (keys, CSRs, encryption) before the
// first write. Each request is then committed by its pending key file
// (which holds the CSR too), written after its .csr; a replaced request's
// pending key is removed first, so a pending key and its .csr always
// match. A kill leaves each request either pending or not, and a rerun
// makes those that are not (or says which are, and that --force replaces
// them). Nothing pending is rendered.
func CSR(p *Package, o Options, req CSRRequest) (Report, error) {
	var rep Report
	if p.Rotation.Spec.Phase != phases.Steady {
		return rep, fmt.Errorf("a rotation is in flight (phase %s): make CSRs at steady", p.Rotation.Spec.Phase)
	}
	if !req.CA && len(req.Leaves) == 0 {
		return rep, errors.New("name what to request: --ca and/or --leaf NAME")
	}
	rot := p.Rotation
	type request struct {
		k        material.KeyPair
		keyField string
		key      spec.Key
		csr      *csr.CertificateRequest
	}
	var reqs []request
	st, err := p.materialState()
	if err != nil {
		return rep, err
	}
	if req.CA {
		// The requested CA's ID is chosen now: its objects' names are
		// known before the external root signs it.
		reqs = append(reqs, request{
			material.KeyPair{Rotation: rot.Metadata.Name, Role: material.RoleCA, Generation: phases.New, CAID: material.NextCAID(st.set)}, caKeyField(rot), rot.Spec.CA.Key,
			&csr.CertificateRequest{CN: rot.Spec.CA.CommonName, Names: csrNames(rot.Spec.CA.Organization), CA: &csr.CAConfig{}}})
	}
	leaves, err := resolveLeaves(rot, req.Leaves)
	if err != nil {
		return rep, err
	}
	for _, name := range leaves {
		l, _ := rot.Spec.LeafByName(name)
		// A leaf without a current (old) generation is requested as one: the
		// current CA signs it, completing `init` (a CA held externally, whose
		// leaves carousel cannot issue). Otherwise the next rotation's.
		g := phases.New
		if _, ok := st.set.Leaves[l.Name][phases.Old]; !ok {
			g = phases.Old
		}
		reqs = append(reqs, request{
			material.KeyPair{Rotation: rot.Metadata.Name, Role: material.RoleLeaf, Leaf: l.Name, Generation: g}, l.Secret.Keys.Key, l.Key,
			&csr.CertificateRequest{CN: l.CommonName, Names: csrNames(l.Organization), Hosts: append(slices.Clone(l.DNSNames), l.IPAddresses...)}})
	}
	var pendingAlready []string
	for _, r := range reqs {
		if _, err := os.Stat(p.pendingPath(r.k, ".yaml")); err == nil {
			pendingAlready = append(pendingAlready, p.pendingPath(r.k, ".yaml"))
		}
	}
	if len(pendingAlready) > 0 && !req.Force {
		return rep, fmt.Errorf("%s: pending already (an earlier `carousel csr`): import the certificate the external CA signs for it (`carousel import`), or pass --force to replace it, after which a certificate signed for the earlier CSR is refused",
			strings.Join(pendingAlready, ", "))
	}
	w, err := o.encoder(p)
	if err != nil {
		return rep, err
	}
	var files [][2]staged // per request: the .csr, then the pending key
	for _, r := range reqs {
		f, err := p.pendingFiles(w, r.k, r.keyField, r.key, r.csr)
		if err != nil {
			return rep, err
		}
		files = append(files, f)
	}

	// Everything is made: the writes begin.
	if err := p.cleanTemps(&rep); err != nil {
		return rep, err
	}
	for _, f := range files {
		if err := atomicfile.Remove(f[1].path); err != nil { // a replaced request
			return rep, err
		}
		if err := f[0].write(&rep); err != nil {
			return rep, err
		}
		if err := f[1].write(&rep); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

func (p *Package) pendingPath(k material.KeyPair, ext string) string {
	return filepath.Join(p.PendingDir(), strings.TrimSuffix(k.FileName(), ".yaml")+ext)
}

func csrNames(orgs []string) []csr.Name {
	var out []csr.Name
	for _, o := range orgs {
		out = append(out, csr.Name{O: o})
	}
	return out
}

// pendingFiles makes a pending request: its .csr file and its pending key
// file (the key, encrypted, and the CSR).
func (p *Package) pendingFiles(w keyEncoder, k material.KeyPair, keyField string, key spec.Key, req *csr.CertificateRequest) ([2]staged, error) {
	var out [2]staged
	kr, err := pki.KeyRequest(key.Algorithm)
	if err != nil {
		return out, err
	}
	req.KeyRequest = kr
	csrPEM, keyPEM, err := csr.ParseRequest(req)
	if err != nil {
		return out, fmt.Errorf("%s: %w", k.Name(), err)
	}
	if keyPEM, err = pki.EncodeKey(keyPEM, key.Encoding); err != nil {
		return out, fmt.Errorf("%s: %w", k.Name(), err)
	}
	n, err := yaml.Parse(fmt.Sprintf("apiVersion: %s\nkind: %s\nmetadata:\n  name: %s\n", spec.APIVersion, PendingKind, k.Name()))
	if err != nil {
		return out, err
	}
	if err := n.SetLabels(map[string]string{material.LabelRotation: k.Rotation}); err != nil {
		return out, err
	}
	anns := map[string]string{material.AnnotationRole: k.Role, material.AnnotationGeneration: string(k.Generation)}
	if k.Leaf != "" {
		anns[material.AnnotationLeaf] = k.Leaf
	}
	if k.CAID != "" {
		anns[material.AnnotationCAID] = k.CAID
	}
	if err := n.SetAnnotations(anns); err != nil {
		return out, err
	}
	if err := n.PipeE(yaml.LookupCreate(yaml.MappingNode, "data"), yaml.SetField(keyField, yaml.NewStringRNode(base64.StdEncoding.EncodeToString(keyPEM)))); err != nil {
		return out, err
	}
	v := yaml.NewStringRNode(string(csrPEM))
	v.YNode().Style = yaml.LiteralStyle
	if err := n.PipeE(yaml.SetField("csr", v)); err != nil {
		return out, err
	}
	keyPath := p.pendingPath(k, ".yaml")
	keyFile, err := w.encode(keyPath, n)
	if err != nil {
		return out, fmt.Errorf("writing %s: %w", keyPath, err)
	}
	return [2]staged{{p.pendingPath(k, ".csr"), csrPEM, 0o644}, keyFile}, nil
}

// Import takes certificates signed by an external CA, matches each to a
// pending key by its public key, checks it against the CSR (subject and
// names) and the policy, and writes the KeyPair. The encrypted key moves
// from the pending file unchanged: it is never decrypted.
//
// Every certificate is checked before the first write. The KeyPair files
// are written (unlisted), the material kustomization then lists them (the
// commit), and the pending files go last. A certificate whose KeyPair is
// listed already was imported by an interrupted run: a rerun with the same
// certificates only removes what is still pending for it.
func Import(p *Package, o Options, certPEMs [][]byte, chainPEM []byte) (Report, error) {
	var rep Report
	pending, err := p.pending()
	if err != nil {
		return rep, err
	}
	var chain []*x509.Certificate
	if len(chainPEM) > 0 {
		if chain, err = pki.ParseCerts(chainPEM); err != nil {
			return rep, fmt.Errorf("--chain: %w", err)
		}
	}
	st, err := p.materialState()
	if err != nil {
		return rep, err
	}
	set := st.set
	imported := func(c *x509.Certificate) bool {
		fp := pki.Fingerprint(c)
		for _, k := range st.files {
			if pki.Fingerprint(k.Cert()) == fp {
				return true
			}
		}
		return false
	}
	var files []staged
	var done []pendingKey // pending requests this import completes
	for i, b := range certPEMs {
		cert, err := pki.ParseCert(b)
		if err != nil {
			return rep, fmt.Errorf("certificate %d: %w", i+1, err)
		}
		var match *pendingKey
		for j := range pending {
			if pending[j].matches(cert) {
				match = &pending[j]
			}
		}
		if imported(cert) {
			if match != nil {
				done = append(done, *match)
			}
			continue
		}
		if match == nil {
			if len(pending) == 0 {
				return rep, fmt.Errorf("nothing is pending in %s: run `carousel csr` first", p.PendingDir())
			}
			return rep, fmt.Errorf("certificate %q (certificate %d) is for a key no pending CSR holds: it was not signed for this rotation's request (wrong key)", cert.Subject.CommonName, i+1)
		}
		if err := match.checkNames(cert); err != nil {
			return rep, fmt.Errorf("certificate %q does not match its CSR %s: %w", cert.Subject.CommonName, match.name, err)
		}
		k := match.pair
		k.Certs = []*x509.Certificate{cert}
		if k.Role == material.RoleCA {
			if errs := pki.CAPolicy(cert, p.Rotation.Spec.CA.PathLength); len(errs) > 0 {
				return rep, fmt.Errorf("the signed CA: %w", errors.Join(errs...))
			}
			k.Certs = append(k.Certs, chain...)
		} else {
			issuer, ok := set.CA[k.Generation]
			if !ok {
				return rep, fmt.Errorf("import the %s CA before its leaves", k.Generation)
			}
			if err := pki.CheckSignedBy(cert, issuer.Cert()); err != nil {
				return rep, fmt.Errorf("leaf %q: %w", k.Leaf, notSignedBy(k.Generation, issuer, err))
			}
			l, _ := p.Rotation.Spec.LeafByName(k.Leaf)
			want := pki.LeafWant{DNSNames: l.DNSNames, IPAddresses: l.IPAddresses, Usages: l.Usages, IsCA: l.IsCA}
			if errs := append(pki.CommonPolicy(cert), pki.LeafPolicy(cert, issuer.Cert(), want)...); len(errs) > 0 {
				return rep, fmt.Errorf("leaf %q: %w", k.Leaf, errors.Join(errs...))
			}
		}
		n := match.node.Copy()
		n.SetKind(material.Kind)
		_ = n.PipeE(yaml.Clear("csr"))
		anns := n.GetAnnotations()
		if k.Role == material.RoleCA && anns[material.AnnotationCAID] == "" {
			// Requested before carousel recorded CA IDs: the ID is chosen
			// here, before anything renders the CA.
			anns[material.AnnotationCAID] = material.NextCAID(set)
		}
		anns[material.AnnotationSHA256] = pki.Fingerprint(cert)
		anns[material.AnnotationNotAfter] = cert.NotAfter.UTC().Format("2006-01-02T15:04:05Z")
		_ = n.SetAnnotations(anns)
		certNode := yaml.NewStringRNode(string(pki.EncodeCerts(k.Certs...)))
		certNode.YNode().Style = yaml.LiteralStyle
		if err := n.PipeE(yaml.SetField("certificate", certNode)); err != nil {
			return rep, err
		}
		made, err := material.Parse(n)
		if err != nil {
			return rep, fmt.Errorf("pending key %s: %w", match.name, err)
		}
		if err := o.verifyImported(made, pending); err != nil {
			return rep, err
		}
		files = append(files, nodeFile(filepath.Join(p.MaterialDir(), k.FileName()), n, k.Encrypted()))
		done = append(done, *match)
		if k.Role == material.RoleCA {
			set.CA[k.Generation] = made
		}
	}

	// Everything is checked: the writes begin.
	if err := p.cleanTemps(&rep); err != nil {
		return rep, err
	}
	if len(files) > 0 {
		if err := writeAll(&rep, files); err != nil {
			return rep, err
		}
		listed := sortedKeys(st.files)
		for _, f := range files {
			listed = append(listed, filepath.Base(f.path))
		}
		if err := p.commit(&rep, st, listed); err != nil {
			return rep, err
		}
	}
	for _, m := range done {
		// The .csr first: while the pending key remains, a rerun finds the
		// request and finishes removing it.
		for _, f := range []string{strings.TrimSuffix(m.file, ".yaml") + ".csr", m.file} {
			if _, err := os.Stat(f); err != nil {
				continue
			}
			if err := atomicfile.Remove(f); err != nil {
				return rep, err
			}
			rep.Removed = append(rep.Removed, f)
		}
	}
	return rep, p.cleanLeftovers(&rep)
}

// notSignedBy says what to do with a leaf its generation's CA did not sign.
// Every phase serves the leaves of one generation, each verified against
// that generation's CA (the phase's signer), so a leaf the external root
// signed directly, past the imported intermediate, cannot be served.
func notSignedBy(g phases.Generation, issuer material.KeyPair, err error) error {
	if g == phases.New && len(issuer.Certs) > 1 {
		return fmt.Errorf("it is not signed by the new CA %q, the intermediate imported from `carousel csr --ca` (%w). Each phase serves leaves signed by its own CA, so a leaf the external root signs directly cannot be served: have the intermediate sign the leaf's CSR, or run `carousel start`, which issues every leaf not yet imported with the intermediate",
			issuer.Cert().Subject.CommonName, err)
	}
	return fmt.Errorf("it is not signed by the %s CA %q: %w", g, issuer.Cert().Subject.CommonName, err)
}

type pendingKey struct {
	file, name string
	node       *yaml.RNode
	pair       material.KeyPair
	csr        *x509.CertificateRequest
}

// matches reports whether c certifies the pending key (the CSR's public key).
func (k pendingKey) matches(c *x509.Certificate) bool {
	e, ok := k.csr.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(c.PublicKey)
}

// checkNames refuses a certificate whose subject or names are not the ones
// the CSR asked for: the external CA signed another request for this key.
func (k pendingKey) checkNames(c *x509.Certificate) error {
	if c.Subject.CommonName != k.csr.Subject.CommonName {
		return fmt.Errorf("common name %q, the CSR asked for %q", c.Subject.CommonName, k.csr.Subject.CommonName)
	}
	if !sameStrings(c.DNSNames, k.csr.DNSNames) {
		return fmt.Errorf("DNS names %v, the CSR asked for %v", c.DNSNames, k.csr.DNSNames)
	}
	var a, b []string
	for _, ip := range c.IPAddresses {
		a = append(a, ip.String())
	}
	for _, ip := range k.csr.IPAddresses {
		b = append(b, ip.String())
	}
	if !sameStrings(a, b) {
		return fmt.Errorf("IP addresses %v, the CSR asked for %v", a, b)
	}
	return nil
}

func sameStrings(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func (p *Package) pending() ([]pendingKey, error) {
	entries, err := os.ReadDir(p.PendingDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []pendingKey
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		path := filepath.Join(p.PendingDir(), e.Name())
		n, err := yaml.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if n.GetKind() != PendingKind {
			continue
		}
		block, _ := pem.Decode([]byte(yaml.GetValue(n.Field("csr").Value)))
		if block == nil {
			return nil, fmt.Errorf("%s: no CSR", path)
		}
		req, err := x509.ParseCertificateRequest(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if err := req.CheckSignature(); err != nil {
			return nil, fmt.Errorf("%s: the CSR's self-signature does not verify: %w", path, err)
		}
		anns := n.GetAnnotations()
		pair := material.KeyPair{Rotation: material.RotationOf(n), Role: anns[material.AnnotationRole], Leaf: anns[material.AnnotationLeaf],
			Generation: phases.Generation(anns[material.AnnotationGeneration])}
		out = append(out, pendingKey{file: path, name: e.Name(), node: n, pair: pair, csr: req})
	}
	return out, nil
}
