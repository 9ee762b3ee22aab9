package backend

import (
	"context"
	"fmt"

	"k8s.io/client-go/dynamic"

	"github.com/carousel-dev/carousel/pkg/cmbackend"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/rotate"
	"github.com/carousel-dev/carousel/pkg/spec"
	"github.com/carousel-dev/carousel/pkg/status"
)

// CertManager is the cert-manager backend: the keys never leave the
// cluster, cert-manager issues each CA generation, and git holds only
// their public certificates (pkg/cmbackend says how).
type CertManager struct{}

// Name is spec.BackendCertManager.
func (CertManager) Name() spec.Backend { return spec.BackendCertManager }

// Init makes the package around the rotation and no key: cert-manager
// makes the CA once the steady phase is applied (rotate.InitCertManager).
func (CertManager) Init(p *rotate.Package, o rotate.Options) (rotate.Report, error) {
	return rotate.InitCertManager(p, o)
}

// Start announces the next CA generation, or at cleanup finishes the
// rotation: the new generation becomes the one in use. Keys never leave
// the cluster, so o and req (key encryption, scope, leaves) do not apply.
func (CertManager) Start(p *rotate.Package, _ rotate.Options, _ rotate.StartRequest) (rotate.Report, error) {
	if p.Rotation.Spec.Phase == phases.Cleanup {
		return rotate.Report{}, p.FinishCertManager()
	}
	return rotate.Report{}, p.StartCertManager()
}

// Pull commits the public certificates of the CA generations cert-manager
// has issued (cmbackend.Pull reads them, rotate's Package.Pull writes them).
func (CertManager) Pull(ctx context.Context, connect func() (dynamic.Interface, error), p *rotate.Package) (rotate.Report, error) {
	client, err := connect()
	if err != nil {
		return rotate.Report{}, err
	}
	certs, err := cmbackend.Pull(ctx, client, p.Rotation)
	if err != nil {
		return rotate.Report{}, err
	}
	if len(certs) == 0 {
		return rotate.Report{}, fmt.Errorf("cert-manager has issued no CA of %s yet: apply the phase and wait until its CA Certificates are Ready", p.Rotation.Metadata.Name)
	}
	rep, err := p.Pull(certs)
	if rep == nil {
		return rotate.Report{}, err
	}
	return *rep, err
}

// Status is status.EvaluateCertManager, against the certificates pulled
// into git (the CACertificates among the items).
func (CertManager) Status(ctx context.Context, client dynamic.Interface, ph Phase) (*status.Report, error) {
	return status.EvaluateCertManager(ctx, client, ph.Rotation, ph.Out, cmbackend.PulledCerts(ph.Items, ph.Rotation.Metadata.Name), ph.Now)
}

// Unpromoted: finishing a rotation (Start at cleanup) moves
// spec.certManager.generations on; an edit of spec.phase alone leaves the
// distrusted generation in use.
func (CertManager) Unpromoted(base, cur *spec.CARotation, materialChanged []string) string {
	cm := base.Spec.CertManager
	if cm == nil {
		// Not a valid spec of this backend: judged as the default's.
		return Material{}.Unpromoted(base, cur, materialChanged)
	}
	if cur.Spec.CertManager == nil || cm.Generations.New == 0 || cur.Spec.CertManager.Generations.Old != cm.Generations.New {
		return fmt.Sprintf("spec.phase moved from %s to %s without finishing the rotation: spec.certManager.generations still names generation %d in use, which %s stopped trusting", base.Spec.Phase, cur.Spec.Phase, cm.Generations.Old, base.Spec.Phase)
	}
	return ""
}
