// Package rotate makes a rotation's material: `init` records the current CA
// and its leaves, `start` makes the next CA and every leaf for it. These are
// the only commands that draw randomness (keys and serial numbers); their
// output is committed, so rendering a phase only selects material.
package rotate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	goyaml "go.yaml.in/yaml/v3"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/sops"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// Package is a CARotation file and the material directory beside it.
type Package struct {
	// File is the path of the file holding the CARotation.
	File     string
	Node     *yaml.RNode
	Rotation *spec.CARotation
}

// MaterialDir is the absolute material directory.
func (p *Package) MaterialDir() string {
	return filepath.Join(filepath.Dir(p.File), p.Rotation.Spec.MaterialDir)
}

// Load reads and validates the CARotation in file.
func Load(file string) (*Package, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	nodes, err := (&kio.ByteReader{Reader: bytes.NewReader(b), OmitReaderAnnotations: true}).Read()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var found *yaml.RNode
	for _, n := range nodes {
		if n.GetKind() == spec.Kind && n.GetApiVersion() == spec.APIVersion {
			if found != nil {
				return nil, fmt.Errorf("%s holds more than one CARotation", file)
			}
			found = n
		}
	}
	if found == nil {
		return nil, fmt.Errorf("%s holds no %s %s", file, spec.APIVersion, spec.Kind)
	}
	rot, err := spec.Load(found)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return &Package{File: file, Node: found, Rotation: rot}, nil
}

// Material reads every KeyPair of the rotation from the material directory.
func (p *Package) Material() (*material.Set, error) {
	entries, err := os.ReadDir(p.MaterialDir())
	if errors.Is(err, os.ErrNotExist) {
		return material.NewSet(nil)
	}
	if err != nil {
		return nil, err
	}
	var pairs []material.KeyPair
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".yaml") || e.Name() == "kustomization.yaml" {
			continue
		}
		path := filepath.Join(p.MaterialDir(), e.Name())
		n, err := yaml.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if !material.IsKeyPair(n) || material.RotationOf(n) != p.Rotation.Metadata.Name {
			continue
		}
		k, err := material.Parse(n)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		pairs = append(pairs, k)
	}
	return material.NewSet(pairs)
}

// Options for the commands that make keys.
type Options struct {
	// Plaintext writes private keys unencrypted. Only for tests and demos.
	Plaintext bool
	// Stderr receives warnings.
	Stderr io.Writer
	// CACertPEM and CAKeyPEM adopt an existing CA in Init instead of making one.
	CACertPEM, CAKeyPEM []byte
	// Age recipients to encrypt keys to; empty: the nearest .sops.yaml decides.
	Age []string
	// SopsBinary overrides the sops binary (default: sops.Binary()).
	SopsBinary string
}

// Report says what a command wrote.
type Report struct {
	Written []string
	Removed []string
}

func (o Options) writer(p *Package) (keyWriter, error) {
	if o.Plaintext {
		fmt.Fprintln(o.stderr(), "carousel: WARNING: writing private keys in PLAINTEXT (--plaintext-keys); never commit them to a shared repository")
		return plaintextWriter{}, nil
	}
	bin := o.SopsBinary
	if bin == "" {
		var err error
		if bin, err = sops.Binary(); err != nil {
			return nil, err
		}
	}
	if len(o.Age) == 0 && sops.ConfigFile(p.MaterialDir()) == "" {
		return nil, fmt.Errorf("private keys are written SOPS-encrypted and no age recipient is configured: pass --age RECIPIENT or add a .sops.yaml creation rule above %s (docs/secrets.md); --plaintext-keys writes them unencrypted for throwaway demos", p.MaterialDir())
	}
	return sopsWriter{sops.Encrypter{Bin: bin, Age: o.Age}}, nil
}

// sopsWriter encrypts the private key of each KeyPair it writes.
type sopsWriter struct{ enc sops.Encrypter }

func (w sopsWriter) Write(path string, n *yaml.RNode) error {
	data, err := n.Pipe(yaml.Lookup("data"))
	if err != nil || data == nil {
		return fmt.Errorf("%s: a KeyPair without data", path)
	}
	fields, _ := data.Fields()
	if len(fields) != 1 {
		return fmt.Errorf("%s: a KeyPair holds exactly one key", path)
	}
	out, err := w.enc.Encrypt([]byte(n.MustString()), fields[0], path)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o644)
}

// decrypter reads the private key of a committed KeyPair, decrypting it
// with sops when it is encrypted (the CLI needs the CA key to issue leaves).
func (o Options) keyPEM(k material.KeyPair) ([]byte, error) {
	if !k.Encrypted() {
		return k.KeyPEM()
	}
	bin := o.SopsBinary
	if bin == "" {
		var err error
		if bin, err = sops.Binary(); err != nil {
			return nil, err
		}
	}
	doc, err := sops.Decrypt(bin, []byte(k.Source.MustString()))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", k.Name(), err)
	}
	n, err := yaml.Parse(string(doc))
	if err != nil {
		return nil, err
	}
	plain, err := material.Parse(n)
	if err != nil {
		return nil, err
	}
	return plain.KeyPEM()
}

func (o Options) stderr() io.Writer {
	if o.Stderr == nil {
		return os.Stderr
	}
	return o.Stderr
}

// keyWriter writes a KeyPair file, encrypting its private key if it should.
type keyWriter interface {
	Write(path string, n *yaml.RNode) error
}

type plaintextWriter struct{}

func (plaintextWriter) Write(path string, n *yaml.RNode) error {
	return writeNode(path, n)
}

func writeNode(path string, n *yaml.RNode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(n.MustString()), 0o600)
}

// Init records the current ("old") CA and issues every leaf with it.
func Init(p *Package, o Options) (Report, error) {
	set, err := p.Material()
	if err != nil {
		return Report{}, err
	}
	if _, ok := set.CA[phases.Old]; ok {
		return Report{}, fmt.Errorf("%s already holds the current CA: use `carousel start` to rotate it", p.MaterialDir())
	}
	w, err := o.writer(p)
	if err != nil {
		return Report{}, err
	}
	var ca pki.Pair
	if o.CACertPEM != nil {
		ca = pki.Pair{CertPEM: o.CACertPEM, KeyPEM: o.CAKeyPEM}
		if err := checkPair(ca, true); err != nil {
			return Report{}, fmt.Errorf("adopting the CA: %w", err)
		}
	} else if ca, err = newCA(p.Rotation); err != nil {
		return Report{}, err
	}
	var rep Report
	if err := p.write(w, &rep, material.KeyPair{Rotation: p.Rotation.Metadata.Name, Role: material.RoleCA, Generation: phases.Old}, ca, caKeyField(p.Rotation)); err != nil {
		return rep, err
	}
	for _, l := range p.Rotation.Spec.Leaves {
		if err := p.issue(w, &rep, ca, l, phases.Old); err != nil {
			return rep, err
		}
	}
	return rep, p.writeKustomization(&rep)
}

// Start makes the material of the next rotation: for scope ca a new CA and
// every leaf signed by it; for scope leaf new leaves (all, or only those
// named) from the current CA. A rotation that finished (cleanup, reissue) is
// first promoted: its new material becomes the current one.
func Start(p *Package, o Options, only []string) (Report, error) {
	var rep Report
	rot := p.Rotation
	for _, name := range only {
		if _, ok := rot.Spec.LeafByName(name); !ok {
			return rep, fmt.Errorf("leaf %q is not in spec.leaves", name)
		}
	}
	if len(only) > 0 && rot.Spec.Scope != phases.ScopeLeaf {
		return rep, errors.New("naming leaves re-issues them under the same CA: set spec.scope: leaf")
	}
	switch rot.Spec.Phase {
	case phases.Steady:
	case phases.Cleanup, phases.Reissue:
		if err := p.promote(&rep); err != nil {
			return rep, err
		}
	default:
		return rep, fmt.Errorf("a rotation is in flight (phase %s): finish it (or roll it back to steady) before starting another", rot.Spec.Phase)
	}
	set, err := p.Material()
	if err != nil {
		return rep, err
	}
	started := false
	if _, ok := set.CA[phases.New]; ok {
		started = true
	}
	for _, gens := range set.Leaves {
		if _, ok := gens[phases.New]; ok {
			started = true
		}
	}
	if started {
		return rep, fmt.Errorf("%s already holds new material: the rotation was started; advance it, or delete the new material to start over", p.MaterialDir())
	}
	w, err := o.writer(p)
	if err != nil {
		return rep, err
	}
	oldCA, ok := set.CA[phases.Old]
	if !ok {
		return rep, errors.New("there is no current CA: run `carousel init` first")
	}
	oldPair, err := o.readablePair(oldCA)
	needOld := func() error {
		if err != nil {
			return fmt.Errorf("issuing with the current CA needs its key: %w", err)
		}
		return nil
	}
	// Every leaf needs an old generation to fall back to.
	for _, l := range rot.Spec.Leaves {
		if _, ok := set.Leaves[l.Name][phases.Old]; ok {
			continue
		}
		if err := needOld(); err != nil {
			return rep, err
		}
		if err := p.issue(w, &rep, oldPair, l, phases.Old); err != nil {
			return rep, err
		}
	}
	switch rot.Spec.Scope {
	case phases.ScopeCA:
		ca, err := newCA(rot)
		if err != nil {
			return rep, err
		}
		if err := p.write(w, &rep, material.KeyPair{Rotation: rot.Metadata.Name, Role: material.RoleCA, Generation: phases.New}, ca, caKeyField(rot)); err != nil {
			return rep, err
		}
		for _, l := range rot.Spec.Leaves {
			if err := p.issue(w, &rep, ca, l, phases.New); err != nil {
				return rep, err
			}
		}
	case phases.ScopeLeaf:
		if err := needOld(); err != nil {
			return rep, err
		}
		for _, l := range rot.Spec.Leaves {
			if len(only) > 0 && !slices.Contains(only, l.Name) {
				// Leaves not re-issued carry their current certificate
				// forward, so the reissue phase changes only the named ones.
				if err := p.copyForward(&rep, set.Leaves[l.Name][phases.Old]); err != nil {
					return rep, err
				}
				continue
			}
			if err := p.issue(w, &rep, oldPair, l, phases.New); err != nil {
				return rep, err
			}
		}
	}
	return rep, p.writeKustomization(&rep)
}

// copyForward writes an old leaf again as the new generation, unchanged.
func (p *Package) copyForward(rep *Report, k material.KeyPair) error {
	n := k.Source.Copy()
	moved := k
	moved.Generation = phases.New
	n.SetName(moved.Name())
	anns := n.GetAnnotations()
	anns[material.AnnotationGeneration] = string(phases.New)
	if err := n.SetAnnotations(anns); err != nil {
		return err
	}
	path := filepath.Join(p.MaterialDir(), moved.FileName())
	rep.Written = append(rep.Written, path)
	return writeNode(path, n)
}

// Promote finishes a completed rotation (at its last phase): its new
// material becomes the current one and the phase returns to steady.
func (p *Package) Promote() (Report, error) {
	var rep Report
	seq, err := phases.Sequence(p.Rotation.Spec.Scope)
	if err != nil {
		return rep, err
	}
	if p.Rotation.Spec.Phase != seq[len(seq)-1] {
		return rep, fmt.Errorf("the rotation is at %s, not finished at %s", p.Rotation.Spec.Phase, seq[len(seq)-1])
	}
	return rep, p.promote(&rep)
}

// promote turns a finished rotation's new material into the current one and
// removes what it replaced, then sets the phase back to steady.
func (p *Package) promote(rep *Report) error {
	set, err := p.Material()
	if err != nil {
		return err
	}
	move := func(old, nw *material.KeyPair) error {
		if nw == nil {
			return nil
		}
		if old != nil {
			path := filepath.Join(p.MaterialDir(), old.FileName())
			if err := os.Remove(path); err != nil {
				return err
			}
			rep.Removed = append(rep.Removed, path)
		}
		n := nw.Source.Copy()
		promoted := *nw
		promoted.Generation = phases.Old
		n.SetName(promoted.Name())
		anns := n.GetAnnotations()
		anns[material.AnnotationGeneration] = string(phases.Old)
		if err := n.SetAnnotations(anns); err != nil {
			return err
		}
		if err := os.Remove(filepath.Join(p.MaterialDir(), nw.FileName())); err != nil {
			return err
		}
		path := filepath.Join(p.MaterialDir(), promoted.FileName())
		rep.Written = append(rep.Written, path)
		return writeNode(path, n)
	}
	ptr := func(k material.KeyPair, ok bool) *material.KeyPair {
		if !ok {
			return nil
		}
		return &k
	}
	if p.Rotation.Spec.Scope == phases.ScopeCA {
		o, ok1 := set.CA[phases.Old]
		nw, ok2 := set.CA[phases.New]
		if err := move(ptr(o, ok1), ptr(nw, ok2)); err != nil {
			return err
		}
	}
	for _, gens := range set.Leaves {
		o, ok1 := gens[phases.Old]
		nw, ok2 := gens[phases.New]
		if err := move(ptr(o, ok1), ptr(nw, ok2)); err != nil {
			return err
		}
	}
	return p.SetPhase(phases.Steady)
}

// SetPhase rewrites spec.phase in the CARotation file. Only the phase's
// characters change: the scalar is replaced at its position in the source,
// so comments, quoting and formatting elsewhere stay byte for byte (a
// re-serialisation would re-quote flow scalars and move comments).
func (p *Package) SetPhase(phase phases.Phase) error {
	b, err := os.ReadFile(p.File)
	if err != nil {
		return err
	}
	out, err := setPhaseText(b, string(phase))
	if err != nil {
		return fmt.Errorf("%s: %w", p.File, err)
	}
	p.Rotation.Spec.Phase = phase
	return os.WriteFile(p.File, out, 0o644)
}

func setPhaseText(b []byte, phase string) ([]byte, error) {
	return setSpecScalar(b, "phase", phase)
}

// SetScope rewrites (or adds, after spec.phase) spec.scope in place.
func (p *Package) SetScope(scope phases.Scope) error {
	b, err := os.ReadFile(p.File)
	if err != nil {
		return err
	}
	out, err := setSpecScalar(b, "scope", string(scope))
	if err != nil {
		return fmt.Errorf("%s: %w", p.File, err)
	}
	p.Rotation.Spec.Scope = scope
	return os.WriteFile(p.File, out, 0o644)
}

// setSpecScalar replaces spec.<key> at its source position, or inserts it
// on the line after spec.phase when it is missing.
func setSpecScalar(b []byte, key, value string) ([]byte, error) {
	dec := goyaml.NewDecoder(bytes.NewReader(b))
	for {
		var doc goyaml.Node
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, err
		}
		if len(doc.Content) == 0 {
			continue
		}
		root := doc.Content[0]
		if field(root, "kind") == nil || field(root, "kind").Value != spec.Kind {
			continue
		}
		specNode := field(root, "spec")
		if specNode == nil {
			return nil, errors.New("the CARotation has no spec")
		}
		lines := bytes.SplitAfter(b, []byte("\n"))
		v := field(specNode, key)
		if v == nil && key != "phase" {
			ph := fieldKey(specNode, "phase")
			if ph == nil {
				return nil, errors.New("spec.phase is missing: add `phase: steady` under spec")
			}
			indent := strings.Repeat(" ", ph.Column-1)
			ins := []byte(indent + key + ": " + value + "\n")
			lines = append(lines[:ph.Line], append([][]byte{ins}, lines[ph.Line:]...)...)
			return bytes.Join(lines, nil), nil
		}
		if v == nil || v.Kind != goyaml.ScalarNode {
			return nil, fmt.Errorf("spec.%s is missing: add `%s: ...` under spec", key, key)
		}
		line := lines[v.Line-1]
		col := v.Column - 1
		width := len(v.Value)
		if v.Style&(goyaml.DoubleQuotedStyle|goyaml.SingleQuotedStyle) != 0 {
			col++ // keep the quotes
		}
		if col+width > len(line) || string(line[col:col+width]) != v.Value {
			return nil, fmt.Errorf("spec.%s at line %d is not a scalar carousel can edit in place", key, v.Line)
		}
		edited := append(append(append([]byte{}, line[:col]...), value...), line[col+width:]...)
		lines[v.Line-1] = edited
		return bytes.Join(lines, nil), nil
	}
	return nil, errors.New("no CARotation found")
}

// fieldKey returns the key node of a mapping entry (for its position).
func fieldKey(m *goyaml.Node, key string) *goyaml.Node {
	if m == nil || m.Kind != goyaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i]
		}
	}
	return nil
}

func field(m *goyaml.Node, key string) *goyaml.Node {
	if m == nil || m.Kind != goyaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func caKeyField(r *spec.CARotation) string {
	if r.Spec.CA.Secret != nil {
		return r.Spec.CA.Secret.Keys.Key
	}
	return "tls.key"
}

func newCA(r *spec.CARotation) (pki.Pair, error) {
	return pki.NewCA(pki.CARequest{
		CommonName:   r.Spec.CA.CommonName,
		Organization: r.Spec.CA.Organization,
		Validity:     spec.MustDuration(r.Spec.CA.Validity),
		Algorithm:    r.Spec.CA.Key.Algorithm,
		PathLength:   r.Spec.CA.PathLength,
	})
}

func (p *Package) issue(w keyWriter, rep *Report, ca pki.Pair, l spec.Leaf, g phases.Generation) error {
	pair, err := pki.Issue(ca, pki.LeafRequest{
		CommonName:   l.CommonName,
		Organization: l.Organization,
		DNSNames:     l.DNSNames,
		IPAddresses:  l.IPAddresses,
		Usages:       l.Usages,
		IsCA:         l.IsCA,
		Validity:     spec.MustDuration(l.Validity),
		Algorithm:    l.Key.Algorithm,
	})
	if err != nil {
		return fmt.Errorf("leaf %q: %w", l.Name, err)
	}
	return p.write(w, rep, material.KeyPair{Rotation: p.Rotation.Metadata.Name, Role: material.RoleLeaf, Leaf: l.Name, Generation: g}, pair, l.Secret.Keys.Key)
}

func (p *Package) write(w keyWriter, rep *Report, k material.KeyPair, pair pki.Pair, keyField string) error {
	if err := checkPair(pair, k.Role == material.RoleCA); err != nil {
		return fmt.Errorf("%s: %w", k.Name(), err)
	}
	cert, _ := pki.ParseCert(pair.CertPEM)
	k.Certs = append(k.Certs, cert)
	k.KeyField = keyField
	n, err := material.New(k, pair.KeyPEM)
	if err != nil {
		return err
	}
	path := filepath.Join(p.MaterialDir(), k.FileName())
	if err := w.Write(path, n); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	rep.Written = append(rep.Written, path)
	return nil
}

// checkPair refuses a key that does not belong to its certificate.
func checkPair(pair pki.Pair, isCA bool) error {
	cert, err := pki.ParseCert(pair.CertPEM)
	if err != nil {
		return err
	}
	key, err := pki.ParseKey(pair.KeyPEM)
	if err != nil {
		return err
	}
	if !pki.KeyMatches(cert, key) {
		return errors.New("the private key does not match the certificate")
	}
	if isCA {
		return pki.CheckCA(cert)
	}
	return nil
}

// readablePair returns a pair's PEM, decrypting its key if needed.
func (o Options) readablePair(k material.KeyPair) (pki.Pair, error) {
	keyPEM, err := o.keyPEM(k)
	if err != nil {
		return pki.Pair{}, err
	}
	return pki.Pair{CertPEM: pki.EncodeCerts(k.Cert()), KeyPEM: keyPEM}, nil
}

// writeKustomization lists every material file in <materialDir>/kustomization.yaml,
// so the package's kustomization only needs `resources: [material]`.
func (p *Package) writeKustomization(rep *Report) error {
	entries, err := os.ReadDir(p.MaterialDir())
	if err != nil {
		return err
	}
	var files []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".yaml") && e.Name() != "kustomization.yaml" {
			files = append(files, e.Name())
		}
	}
	slices.Sort(files)
	var b strings.Builder
	b.WriteString("# Written by carousel: the key material of rotation " + p.Rotation.Metadata.Name + ".\n")
	b.WriteString("# The carousel function consumes these KeyPairs; they never reach the cluster.\n")
	b.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n")
	for _, f := range files {
		b.WriteString("- " + f + "\n")
	}
	path := filepath.Join(p.MaterialDir(), "kustomization.yaml")
	rep.Written = append(rep.Written, path)
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// Items reads every resource of the package directory (recursively), except
// kustomization files and CARotations: the input kustomize would hand the
// function for a package whose resources all live below it. Plans and
// checks render from it in-process.
func (p *Package) Items() ([]*yaml.RNode, error) {
	dir := filepath.Dir(p.File)
	nodes, err := kio.LocalPackageReader{PackagePath: dir, OmitReaderAnnotations: true, MatchFilesGlob: []string{"*.yaml"}}.Read()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	var out []*yaml.RNode
	for _, n := range nodes {
		if n.GetKind() == "Kustomization" || n.GetKind() == spec.Kind && n.GetApiVersion() == spec.APIVersion {
			continue
		}
		out = append(out, n)
	}
	return out, nil
}

// Due is material in use that expires within a renewal window.
type Due struct {
	What     string // "CA" or "leaf <name>"
	Leaf     string // the leaf's name, for leaves
	NotAfter time.Time
}

// InUse returns the generation of CA and leaves the current phase serves,
// for renewal: a rotation in flight has nothing to renew until it finishes.
func (p *Package) InUse() (ca, leaves phases.Generation, err error) {
	st, err := phases.Lookup(p.Rotation.Spec.Scope, p.Rotation.Spec.Phase)
	if err != nil {
		return "", "", err
	}
	seq, _ := phases.Sequence(p.Rotation.Spec.Scope)
	if st.Phase != seq[0] && st.Phase != seq[len(seq)-1] {
		return "", "", fmt.Errorf("a rotation is in flight (phase %s): finish it before renewing", st.Phase)
	}
	return st.Signer, st.Leaves, nil
}

// FindDue lists the material in use that expires before deadline.
func (p *Package) FindDue(deadline time.Time) ([]Due, error) {
	caGen, leafGen, err := p.InUse()
	if err != nil {
		return nil, err
	}
	set, err := p.Material()
	if err != nil {
		return nil, err
	}
	var due []Due
	if k, ok := set.CA[caGen]; ok && k.Cert().NotAfter.Before(deadline) {
		due = append(due, Due{What: "CA", NotAfter: k.Cert().NotAfter})
	}
	for _, l := range p.Rotation.Spec.Leaves {
		if k, ok := set.Leaves[l.Name][leafGen]; ok && k.Cert().NotAfter.Before(deadline) {
			due = append(due, Due{What: "leaf " + l.Name, Leaf: l.Name, NotAfter: k.Cert().NotAfter})
		}
	}
	return due, nil
}
