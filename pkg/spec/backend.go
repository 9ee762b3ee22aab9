package spec

// Backend is spec.backend: who holds the rotation's keys. It is read once,
// when the package is loaded: pkg/backend maps it to the implementation of
// the commands' operations (init, start, pull, status), and nothing else
// compares it. Validation (validate_certmanager.go) refuses any other value.
type Backend string

// The backends.
const (
	// BackendMaterial (the default, also when empty): carousel makes the
	// keys and renders Secrets from the committed KeyPairs.
	BackendMaterial Backend = "material"
	// BackendCertManager: the keys never leave the cluster; carousel
	// renders cert-manager and trust-manager objects and commits only the
	// CAs' public certificates (`carousel pull`).
	BackendCertManager Backend = "cert-manager"
)

// KeysInCluster reports whether the rotation's keys never leave the
// cluster (backend cert-manager). It is the one question asked of the
// backend below pkg/backend: the renderer (pkg/gen) sits under it and
// renders such a rotation from the certificates pulled into git rather
// than from KeyPairs (and rotate's Package.Pull refuses any other).
func (b Backend) KeysInCluster() bool { return b == BackendCertManager }
