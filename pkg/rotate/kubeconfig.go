package rotate

import (
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/atomicfile"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/sops"
)

// KubeconfigRequest says whose kubeconfig to write, for which phase.
type KubeconfigRequest struct {
	// Leaf names the client leaf of spec.leaves that is the user account.
	Leaf string
	// Phase whose leaf generation and trusted set the kubeconfig carries;
	// empty: spec.phase.
	Phase phases.Phase
	// Server is the API server URL; empty: spec.clusterInfo.server.
	Server string
	// Cluster and User name the kubeconfig's entries; empty: the
	// rotation's name and the leaf's name. The context is USER@CLUSTER.
	Cluster, User string
	// SopsBinary decrypts the leaf's key (default: sops.Binary()).
	SopsBinary string
}

// Kubeconfig is a user account's kubeconfig for a phase of the rotation,
// as the Kubernetes page's "update client-certificate-data and
// client-key-data" for user accounts, and certificate-authority-data with
// the trusted set: the client certificate (and any intermediate after it)
// and private key of the leaf generation the phase serves, the same bytes
// its leaf Secret carries, and the trusted set the phase renders into every
// trust object. The key is decrypted with sops into memory and checked
// against the certificate; the caller writes the result outside the
// repository (WriteKubeconfig), never into git.
func Kubeconfig(p *Package, req KubeconfigRequest) ([]byte, error) {
	rot := p.Rotation
	leaf, ok := rot.Spec.LeafByName(req.Leaf)
	if !ok {
		var clients []string
		for _, l := range rot.Spec.Leaves {
			if slices.Contains(l.Usages, "client") {
				clients = append(clients, l.Name)
			}
		}
		return nil, fmt.Errorf("leaf %q is not in spec.leaves; its client leaves are: %s", req.Leaf, orNone(clients))
	}
	if !slices.Contains(leaf.Usages, "client") {
		return nil, fmt.Errorf("leaf %q has usages %v: a kubeconfig needs a client certificate (usages: [client])", leaf.Name, leaf.Usages)
	}
	phase := req.Phase
	if phase == "" {
		phase = rot.Spec.Phase
	}
	st, err := phases.Lookup(rot.Spec.Scope, phase)
	if err != nil {
		return nil, err
	}
	server := req.Server
	if server == "" && rot.Spec.ClusterInfo != nil {
		server = rot.Spec.ClusterInfo.Server
	}
	if server == "" {
		return nil, errors.New("no API server URL: pass --server (spec.clusterInfo.server is not set)")
	}
	set, err := p.Material()
	if err != nil {
		return nil, err
	}
	k, ok := set.Leaves[leaf.Name][st.Leaves]
	if !ok {
		return nil, fmt.Errorf("%s serves the %s generation of leaf %s, which the material does not hold (run carousel start)", phase, st.Leaves, leaf.Name)
	}
	var trusted []*x509.Certificate
	for _, g := range st.Trusted {
		ca, ok := set.CA[g]
		if !ok {
			return nil, fmt.Errorf("%s trusts the %s CA, which the material does not hold", phase, g)
		}
		trusted = append(trusted, ca.Cert())
	}
	bin := req.SopsBinary
	if bin == "" && k.Encrypted() {
		if bin, err = sops.Binary(); err != nil {
			return nil, err
		}
	}
	keyPEM, err := sops.KeyPEM(bin, k)
	if err != nil {
		return nil, err
	}
	key, err := pki.ParseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("KeyPair %s: %w", k.Source.GetName(), err)
	}
	if pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(k.Cert().PublicKey) {
		return nil, fmt.Errorf("KeyPair %s holds a private key that is not its certificate's: no kubeconfig is written", k.Source.GetName())
	}
	cluster, user := req.Cluster, req.User
	if cluster == "" {
		cluster = rot.Metadata.Name
	}
	if user == "" {
		user = leaf.Name
	}
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	ctx := user + "@" + cluster
	kc := map[string]any{
		"apiVersion": "v1",
		"kind":       "Config",
		"clusters": []any{map[string]any{"name": cluster, "cluster": map[string]any{
			"server":                     server,
			"certificate-authority-data": b64(pki.Bundle(trusted...)),
		}}},
		"contexts":        []any{map[string]any{"name": ctx, "context": map[string]any{"cluster": cluster, "user": user}}},
		"current-context": ctx,
		"users": []any{map[string]any{"name": user, "user": map[string]any{
			"client-certificate-data": b64(pki.EncodeCerts(k.Certs...)),
			"client-key-data":         b64(keyPEM),
		}}},
	}
	out, err := yaml.Marshal(kc)
	if err != nil {
		return nil, err
	}
	return out, nil
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// WriteKubeconfig writes a kubeconfig holding a private key to path,
// atomically and readable by its owner only. It refuses a path inside the
// git work tree of the package (or, outside git, the package directory):
// the repository holds keys only SOPS-encrypted, and a plaintext key
// written there is one `git add -A` from being committed.
func WriteKubeconfig(p *Package, path string, data []byte) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	pkgDir, err := filepath.Abs(filepath.Dir(p.File))
	if err != nil {
		return err
	}
	guarded := pkgDir
	what := "the package directory"
	if top := workTree(pkgDir); top != "" {
		guarded, what = top, "the git work tree of the package"
	}
	if within(resolve(abs), resolve(guarded)) {
		return fmt.Errorf("%s is inside %s (%s): a kubeconfig holds a plaintext private key, which never goes into the repository; write it elsewhere (~/.kube/...)", path, what, guarded)
	}
	return atomicfile.WriteFile(abs, data, 0o600)
}

// workTree is the nearest directory at or above dir holding .git, or "".
func workTree(dir string) string {
	for {
		if _, err := os.Lstat(filepath.Join(dir, ".git")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// resolve follows symbolic links of the longest existing prefix of p, so a
// link into the repository is judged by where it points.
func resolve(p string) string {
	rest := ""
	for {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Join(r, rest)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return filepath.Join(p, rest)
		}
		rest = filepath.Join(filepath.Base(p), rest)
		p = parent
	}
}

func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
