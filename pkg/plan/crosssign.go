package plan

import (
	"fmt"
	"strings"
	"time"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/carousel-dev/carousel/pkg/material"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// OldTrust is how long clients that trust only the old CA (outside the
// cluster, partners, devices: never updated) may stay on that trust in a
// cross-signed rotation: the phases (phases.StayOnOld) and the date that
// bounds them whatever the phase.
type OldTrust struct {
	phases.OldTrust
	// NotAfter is the old CA certificate's NotAfter, or the
	// cross-certificate's when that is earlier: past it, a client that
	// trusts only the old CA accepts no leaf of the rotation.
	NotAfter time.Time `json:"notAfter,omitzero"`
	// Bound names which certificate NotAfter is.
	Bound string `json:"bound,omitempty"`
}

// oldTrust is the plan's OldTrust for a cross-signed rotation (nil for
// the other scopes): the model's phases, bounded by the material in the
// input.
func oldTrust(rot *spec.CARotation, items []*yaml.RNode) *OldTrust {
	if rot.Spec.Scope != phases.ScopeCrossSign {
		return nil
	}
	st, err := phases.StayOnOld(rot.Spec.Scope)
	if err != nil {
		return nil
	}
	out := &OldTrust{OldTrust: st}
	for _, n := range items {
		if !material.IsKeyPair(n) || material.RotationOf(n) != rot.Metadata.Name {
			continue
		}
		k, err := material.Parse(n)
		if err != nil {
			continue // the render reports it
		}
		var what string
		switch {
		case k.Role == material.RoleCA && k.Generation == phases.Old:
			what = "the old CA certificate's NotAfter"
		case k.Role == material.RoleCross:
			what = "the cross-certificate's NotAfter"
		default:
			continue
		}
		if na := k.Cert().NotAfter.UTC(); out.NotAfter.IsZero() || na.Before(out.NotAfter) {
			out.NotAfter, out.Bound = na, what
		}
	}
	return out
}

// Text says it for people: in the plan and the pull request.
func (o *OldTrust) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Clients that trust only the old CA (outside the cluster, partners, devices: never updated) accept every server up to %s", o.AcceptsUntil)
	if o.Breaks != "" {
		fmt.Fprintf(&b, "; from %s they refuse them (the cross-certificate leaves every chain): update their trust to the new CA before %s is merged", o.Breaks, o.Breaks)
	}
	if !o.NotAfter.IsZero() {
		fmt.Fprintf(&b, ". Whatever the phase, not after %s (%s)", o.NotAfter.Format("2006-01-02 15:04 MST"), o.Bound)
	}
	fmt.Fprintf(&b, ". A client certificate the old CA signed for them is accepted up to %s", o.AcceptedUntil)
	if o.RefusedFrom != "" {
		fmt.Fprintf(&b, "; from %s servers refuse it: give them one the new CA signed before then", o.RefusedFrom)
	}
	b.WriteString(".")
	return b.String()
}
