package rotate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/atomicfile"
	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
)

// Init records the current ("old") CA and issues every leaf with it, then
// completes the package: the function annotation on the CARotation and,
// when the directory has none, a kustomization.yaml. The package's
// kustomization is written last, so until init has finished the package
// does not build, as before it started. A rerun after an interrupted init
// finds the committed CA and only completes the package. It is the
// material backend's init; pkg/backend chooses it or InitCertManager.
func Init(p *Package, o Options) (Report, error) {
	var rep Report
	st, err := p.initState()
	if err != nil {
		return rep, err
	}
	if _, ok := st.set.CA[phases.Old]; ok {
		if err := p.completePackage(&rep, o); err != nil {
			return rep, err
		}
		if len(rep.Written) == 0 {
			return rep, fmt.Errorf("%s already holds the current CA: use `carousel start` to rotate it", p.MaterialDir())
		}
		return rep, p.cleanLeftovers(&rep)
	}
	caPair := material.KeyPair{Rotation: p.Rotation.Metadata.Name, Role: material.RoleCA, Generation: phases.Old, CAID: material.FirstCAID}
	if p.Rotation.Spec.CA.TrustsRoots() && o.CACertPEM == nil {
		// A CA carousel makes is its own root: nothing would chain it to
		// the root the peers trust.
		return rep, fmt.Errorf("spec.ca.trust is root: the CA is an intermediate under a root held elsewhere (a shared root), so init adopts it with its chain: --ca-cert (the intermediate, then its root) and --ca-key; the root's owner signs it (`carousel sign ROOT_FILE --csr ...`, docs/fleet.md)")
	}
	if o.CACertPEM != nil {
		// An adopted CA is checked whole before anything is made or
		// written: what init accepts, every later render accepts.
		if err := p.checkAdoption(o); err != nil {
			return rep, fmt.Errorf("adopting the CA: %w", err)
		}
		caPair.Adopted = true
	}
	var files []staged
	if o.CACertPEM != nil && o.CAKeyPEM == nil {
		// A CA held externally: its certificate only. Carousel cannot issue
		// with it; its leaves come through `csr` and `import`.
		f, err := p.externalCAFile(caPair, o.CACertPEM)
		if err != nil {
			return rep, fmt.Errorf("adopting the CA: %w", err)
		}
		files = append(files, f)
		fmt.Fprintf(o.stderr(), "carousel: the CA is adopted without its key: request its leaves with `carousel csr %s --leaf NAME`, have the CA sign the CSRs under %s, and `carousel import` them\n", p.File, p.PendingDir())
	} else {
		w, err := o.encoder(p)
		if err != nil {
			return rep, err
		}
		var ca pki.Pair
		if o.CACertPEM != nil {
			ca = pki.Pair{CertPEM: o.CACertPEM, KeyPEM: o.CAKeyPEM}
			if err := checkPair(ca, true); err != nil {
				return rep, fmt.Errorf("adopting the CA: %w", err)
			}
		} else if ca, err = newCA(p.Rotation); err != nil {
			return rep, err
		}
		f, err := p.pairFile(w, caPair, ca, caKeyField(p.Rotation))
		if err != nil {
			return rep, err
		}
		files = append(files, f)
		for _, l := range p.Rotation.Spec.Leaves {
			if p.adoptsExpiredForRecovery(o, caCert(o)) {
				break // dead on arrival: recover issues them under a new CA
			}
			f, err := p.issue(w, ca, l, phases.Old)
			if err != nil {
				return rep, err
			}
			files = append(files, f)
		}
	}
	// Everything is made: the writes begin.
	if err := p.cleanTemps(&rep); err != nil {
		return rep, err
	}
	if err := writeAll(&rep, files); err != nil {
		return rep, err
	}
	if err := p.commit(&rep, st, baseNames(files)); err != nil {
		return rep, err
	}
	if err := p.completePackage(&rep, o); err != nil {
		return rep, err
	}
	return rep, p.cleanLeftovers(&rep)
}

// externalCAFile stages the KeyPair of a CA held externally: the
// certificate (and any chain after it) and no key.
func (p *Package) externalCAFile(k material.KeyPair, certPEM []byte) (staged, error) {
	certs, err := pki.ParseCerts(certPEM)
	if err != nil {
		return staged{}, err
	}
	k.Certs = certs
	n, err := material.New(k, nil)
	if err != nil {
		return staged{}, err
	}
	return nodeFile(filepath.Join(p.MaterialDir(), k.FileName()), n, true), nil
}

// checkAdoption holds a CA made by another tool to what TLS stacks need
// (pki.AdoptCA) and to the clock: an expired or not yet valid CA is refused
// with the way out. The key, when given, must be the certificate's; it
// keeps its own algorithm and encoding (spec.ca.key is for the CAs
// carousel makes). Warnings go to stderr.
func (p *Package) checkAdoption(o Options) error {
	certs, err := pki.ParseCerts(o.CACertPEM)
	if err != nil {
		return fmt.Errorf("--ca-cert: %w", err)
	}
	c := certs[0]
	if p.Rotation.Spec.CA.TrustsRoots() {
		if _, err := pki.ChainRoot(certs); err != nil {
			return fmt.Errorf("--ca-cert: spec.ca.trust is root, and the chain %v: give the intermediate followed by the root that signed it", err)
		}
	}
	if o.CAKeyPEM != nil {
		key, err := pki.ParseKey(o.CAKeyPEM)
		if err != nil {
			return fmt.Errorf("--ca-key: %w", err)
		}
		if !pki.KeyMatches(c, key) {
			return fmt.Errorf("--ca-key is not the private key of --ca-cert %q (sha256 %s)", c.Subject.CommonName, pki.Fingerprint(c)[:16])
		}
	}
	intermediates := false
	for _, l := range p.Rotation.Spec.Leaves {
		intermediates = intermediates || l.IsCA
	}
	a := pki.AdoptCA(c, intermediates)
	valid := pki.CheckValidAt(c, o.now())
	if p.adoptsExpiredForRecovery(o, c) {
		valid = nil
		a.Warnings = append(a.Warnings, recoveryAdoptionWarning(c, p.File))
	}
	if err := errors.Join(append(a.Refusals, valid)...); err != nil {
		return fmt.Errorf("%q (sha256 %s): %w", c.Subject.CommonName, pki.Fingerprint(c)[:16], err)
	}
	if window := p.Rotation.Spec.ExpiryWarning.Value(); c.NotAfter.Before(o.now().Add(window)) && !p.adoptsExpiredForRecovery(o, c) {
		a.Warnings = append(a.Warnings, fmt.Sprintf("it expires on %s, within spec.expiryWarning (%s), and the leaves init issues with it expire with it: start the rotation to a new CA now (`carousel start %s`, then one phase per pull request)",
			c.NotAfter.UTC().Format("2006-01-02"), window, p.File))
	}
	for _, w := range a.Warnings {
		fmt.Fprintf(o.stderr(), "carousel: warning: the adopted CA %q: %s\n", c.Subject.CommonName, w)
	}
	return nil
}

func baseNames(files []staged) []string {
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = filepath.Base(f.path)
	}
	return out
}

// kustomizationNames are the file names kustomize accepts for a kustomization.
var kustomizationNames = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// completePackage makes the package build with the function: the
// CARotation gets the exec function annotation (unless it names a function
// already), then a kustomization.yaml is written beside it listing the
// material and the CARotation as a transformer. An existing kustomization
// is never rewritten: what it lacks is printed instead.
func (p *Package) completePackage(rep *Report, o Options) error {
	b, err := p.specBytes()
	if err != nil {
		return err
	}
	out, changed, err := addFunctionAnnotation(b)
	if err != nil {
		return fmt.Errorf("%s: %w", p.File, err)
	}
	if changed || p.unwritten != nil { // init --preset: the file is written here
		perm := os.FileMode(0o644)
		if fi, err := os.Stat(p.File); err == nil {
			perm = fi.Mode().Perm()
		}
		if err := atomicfile.WriteFile(p.File, out, perm); err != nil {
			return err
		}
		p.unwritten = nil
		addOnce(&rep.Written, p.File)
	}
	dir := filepath.Dir(p.File)
	mat := filepath.ToSlash(filepath.Clean(p.Rotation.Spec.MaterialDir))
	self := filepath.Base(p.File)
	state, err := p.rootStateDir()
	if err != nil {
		fmt.Fprintf(o.stderr(), "carousel: %v; list the shared root's state directory (its spec.publish) among the resources of the kustomization, or the render refuses\n", err)
	}
	for _, name := range kustomizationNames {
		path := filepath.Join(dir, name)
		existing, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		var k struct {
			Resources    []string `yaml:"resources"`
			Transformers []string `yaml:"transformers"`
		}
		_ = yaml.Unmarshal(existing, &k)
		var missing []string
		if !containsPath(k.Resources, mat) {
			missing = append(missing, "resources:\n- "+mat)
		}
		if state != "" && !containsPath(k.Resources, state) {
			missing = append(missing, "resources:\n- "+state)
		}
		if !containsPath(k.Transformers, self) {
			missing = append(missing, "transformers:\n- "+self)
		}
		if len(missing) > 0 {
			fmt.Fprintf(o.stderr(), "carousel: %s exists and is left as it is; for kustomize to render the rotation it needs:\n%s\n", path, strings.Join(missing, "\n"))
		}
		return nil
	}
	path := filepath.Join(dir, "kustomization.yaml")
	body := "# Written by `carousel init`: the package renders the current phase with\n" +
		"#   kustomize build --enable-alpha-plugins --enable-exec " + dir + "\n" +
		"# List the resources the rotation serves (workloads, webhooks, ...) under resources.\n" +
		"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n" +
		"# The rotation's key material, written by carousel; the function consumes it.\n" +
		"- " + mat + "\n"
	if state != "" {
		body += "# The shared root's published state, which the function reads (spec.rootState).\n- " + state + "\n"
	}
	body += "transformers:\n- " + self + "\n"
	if err := atomicfile.WriteFile(path, []byte(body), 0o644); err != nil {
		return err
	}
	addOnce(&rep.Written, path)
	return nil
}

func containsPath(list []string, want string) bool {
	for _, s := range list {
		if filepath.Clean(s) == filepath.Clean(want) {
			return true
		}
	}
	return false
}

// initState is what init reads before it writes: the function annotation
// is added last, so it is checked first (a file carousel cannot annotate in
// place is refused with nothing written), then the material on disk.
func (p *Package) initState() (*materialState, error) {
	if err := p.checkFunctionAnnotation(); err != nil {
		return nil, err
	}
	return p.materialState()
}

// InitCertManager is Init for a package of backend cert-manager (pkg/backend
// chooses it): there is no key to make (cert-manager makes the CA once the
// steady phase is applied, and `carousel pull` commits its certificate), so
// init only writes the function annotation, the kustomizations and an empty
// material list.
func InitCertManager(p *Package, o Options) (Report, error) {
	var rep Report
	st, err := p.initState()
	if err != nil {
		return rep, err
	}
	err = p.initCertManager(&rep, o, st)
	return rep, err
}

func (p *Package) initCertManager(rep *Report, o Options, st *materialState) error {
	if o.CACertPEM != nil || o.CAKeyPEM != nil {
		return fmt.Errorf("backend %s adopts no CA from files: cert-manager makes the CA in the cluster (or set spec.certManager.issuerRef to an issuer that holds yours)", p.Rotation.Spec.Backend)
	}
	if _, err := os.Stat(filepath.Join(p.MaterialDir(), kustomizationFile)); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(p.MaterialDir(), 0o755); err != nil {
			return err
		}
		if err := p.commit(rep, st, nil); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	if err := p.completePackage(rep, o); err != nil {
		return err
	}
	if len(rep.Written) == 0 {
		return fmt.Errorf("%s is already a package of backend %s: apply it, then `carousel pull` once cert-manager has issued the CA", p.File, p.Rotation.Spec.Backend)
	}
	return nil
}

// rootStateDir is, for a cluster of a shared root (spec.sharedRoot), the
// directory of the root's published state relative to this package: the
// resource its kustomization lists so the render can read the state
// (spec.rootState). "" when the rotation names no root.
func (p *Package) rootStateDir() (string, error) {
	s := p.Rotation.Spec
	if s.SharedRoot == "" {
		return "", nil
	}
	dir := filepath.Dir(p.File)
	file := filepath.Join(dir, filepath.FromSlash(s.SharedRoot))
	root, err := Load(file)
	if err != nil {
		return "", fmt.Errorf("the shared root %s cannot be read (%v)", s.SharedRoot, err)
	}
	if root.Rotation.Spec.Publish == "" {
		return "", fmt.Errorf("the shared root %s publishes no state (spec.publish)", s.SharedRoot)
	}
	state := filepath.Dir(filepath.Join(filepath.Dir(file), filepath.FromSlash(root.Rotation.Spec.Publish)))
	rel, err := filepath.Rel(dir, state)
	if err != nil {
		return "", err
	}
	return filepath.ToSlash(rel), nil
}
