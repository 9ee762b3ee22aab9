package gate

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/rotate"
	"github.com/carousel-dev/carousel/pkg/status"
)

// Fleet is `carousel status` on a shared root's rotation (spec.clusters):
// each cluster's status, asked in the context the root names for it with
// the kubeconfig of c (its context is ignored), and the fleet window over
// the clusters' phases. Like the live gate it fails rather than passes when
// a cluster cannot be asked, or has no context.
func Fleet(ctx context.Context, root *rotate.Package, c Cluster, now time.Time) (*status.FleetReport, error) {
	f, err := rotate.LoadFleet(root)
	if err != nil {
		return nil, err
	}
	if f == nil || f.Self != nil {
		return nil, fmt.Errorf("%s lists no spec.clusters: not a shared root", root.File)
	}
	spec := &root.Rotation.Spec
	var clusters []status.ClusterReport
	at := map[string]phases.Phase{}
	for _, cl := range spec.Clusters {
		if cl.Context == "" {
			return nil, fmt.Errorf("cluster %s has no context in spec.clusters: its status cannot be asked", cl.Name)
		}
		rep, err := Status(ctx, f.File(cl), Cluster{Kubeconfig: c.Kubeconfig, Context: cl.Context, Namespace: c.Namespace}, now)
		if err != nil {
			return nil, fmt.Errorf("cluster %s (context %s): %w", cl.Name, cl.Context, err)
		}
		clusters = append(clusters, status.ClusterReport{Name: cl.Name, Context: cl.Context, Phase: rep.Phase, Report: rep})
		at[cl.Name] = phases.Phase(rep.Phase)
	}
	var broken []string
	for _, e := range phases.CheckGroups(spec.Scope, spec.ClusterGroups(), at) {
		broken = append(broken, e.Error())
	}
	// The root records the phase every cluster has reached.
	if rootAt, err := phases.Index(spec.Scope, spec.Phase); err == nil {
		for _, cl := range spec.Clusters {
			if i, err := phases.Index(spec.Scope, at[cl.Name]); err == nil && i < rootAt {
				broken = append(broken, fmt.Sprintf("cluster %s is at %s, behind the root's %s", cl.Name, at[cl.Name], spec.Phase))
			}
		}
	}
	return status.Fleet(root.Rotation.Metadata.Name, clusters, strings.Join(broken, "; ")), nil
}
