package phases

import (
	"fmt"
	"slices"
	"strings"
)

// Step names one commit within a phase. Most phases are one commit; some
// need two, because a change must wait for something that is not an object
// GitOps applies (a node step), or because no single commit can go from one
// phase's objects to the next without passing through a state the system
// forbids (OSM: zero active MeshRootCertificates). Each step is its own pull
// request, in order forward and in reverse order on rollback.
type Step string

const (
	// StepObjects applies the phase's objects. With a node step that
	// publishes trust (Features.NodeTrust), consumers of what the node
	// publishes do not roll yet: they hold the set published before the
	// node step.
	StepObjects Step = "objects"
	// StepInClusterConfig rolls the consumers of the set the node step
	// published (kube-controller-manager's --root-ca-file, which it copies
	// into every namespace's kube-root-ca.crt ConfigMap and every
	// service-account token's ca.crt). It may merge only once the node step
	// has run.
	StepInClusterConfig Step = "in-cluster-config"
	// StepBothActive makes the new CA's MeshRootCertificate active beside
	// the old one (OSM's step 3): the mesh may sign with either, and trusts both.
	StepBothActive Step = "both-active"
	// StepOldPassive moves the old CA's MeshRootCertificate to passive
	// (OSM's step 4): only the new CA signs.
	StepOldPassive Step = "old-passive"
)

// Features are the parts of a rotation that give its phases steps. They
// come from the spec (pkg/spec derives them); the model stays pure.
type Features struct {
	// NodeTrust: a node step publishes the trusted set to consumers that
	// read it through in-cluster config (spec.runbook: kubernetes, whose
	// kube-controller-manager step sets --root-ca-file). A phase that
	// changes the trusted set gets a follow-up step for them.
	NodeTrust bool
	// SigningOverlap: the system's objects name which generation signs,
	// and applying the signer change in one commit could pass through a
	// state where none does (OSM MeshRootCertificate roles). sign-new gets
	// a first step where both sign.
	SigningOverlap bool
}

// StepInfo describes one step of a phase for people.
type StepInfo struct {
	Name Step `json:"name"`
	// Summary says what the step changes.
	Summary string `json:"summary"`
	// Before says what must hold before the step is merged, beyond the
	// gate between phases; empty when nothing more does.
	Before string `json:"before,omitempty"`
}

// Position is a phase and one of its steps: one commit of a rotation.
type Position struct {
	Phase Phase `json:"phase"`
	Step  Step  `json:"step"`
}

func (p Position) String() string { return string(p.Phase) + "/" + string(p.Step) }

// changesTrust reports whether the trusted set of the phase at index i
// differs from the phase before it.
func changesTrust(t []State, i int) bool {
	return i > 0 && !slices.Equal(t[i].Trusted, t[i-1].Trusted)
}

// Steps lists the steps of a phase in order. The first is the default
// (an empty spec.step), so a rotation without steps renders as before.
func Steps(scope Scope, phase Phase, f Features) ([]StepInfo, error) {
	t, err := table(scope)
	if err != nil {
		return nil, err
	}
	i, err := Index(scope, phase)
	if err != nil {
		return nil, err
	}
	switch {
	case scope == ScopeCA && f.SigningOverlap && phase == SignNew:
		return []StepInfo{
			{Name: StepBothActive, Summary: "the new CA signs beside the old one (both MeshRootCertificates active); leaves are re-issued by the new CA",
				Before: "every trust consumer of the previous phase has rolled: the new CA may sign from now on"},
			{Name: StepOldPassive, Summary: "the old CA stops signing (its MeshRootCertificate passive); both are still trusted",
				Before: "the mesh has propagated both active certificates (osm-controller logs the rotation in progress)"},
		}, nil
	case f.NodeTrust && changesTrust(t, i) && scope != ScopeRecover:
		return []StepInfo{
			{Name: StepObjects, Summary: "the phase's objects; pods using in-cluster config keep the set the nodes published before"},
			{Name: StepInClusterConfig, Summary: "pods using in-cluster config roll onto the set kube-controller-manager now publishes (--root-ca-file, kube-root-ca.crt)",
				Before: fmt.Sprintf("the node steps have run: kube-controller-manager's --root-ca-file holds the trusted set of %s (%s), and every kube-root-ca.crt ConfigMap holds it", phase, strings.Join(genNames(t[i].Trusted), " + "))},
		}, nil
	}
	return []StepInfo{{Name: StepObjects, Summary: t[i].Summary}}, nil
}

func genNames(g []Generation) []string {
	s := make([]string, len(g))
	for i, x := range g {
		s[i] = string(x)
	}
	return s
}

// Path lists every position of a scope in order: the commits of a whole
// rotation. A move is one position forward or back.
func Path(scope Scope, f Features) ([]Position, error) {
	seq, err := Sequence(scope)
	if err != nil {
		return nil, err
	}
	var out []Position
	for _, ph := range seq {
		steps, _ := Steps(scope, ph, f)
		for _, s := range steps {
			out = append(out, Position{ph, s.Name})
		}
	}
	return out, nil
}

// Resolve fills in the default step (the phase's first) and checks that
// the step belongs to the phase.
func Resolve(scope Scope, pos Position, f Features) (Position, error) {
	steps, err := Steps(scope, pos.Phase, f)
	if err != nil {
		return pos, err
	}
	if pos.Step == "" {
		pos.Step = steps[0].Name
		return pos, nil
	}
	names := make([]string, len(steps))
	for i, s := range steps {
		if s.Name == pos.Step {
			return pos, nil
		}
		names[i] = string(s.Name)
	}
	return pos, fmt.Errorf("phase %s of this rotation has no step %q (its steps: %s)", pos.Phase, pos.Step, strings.Join(names, ", "))
}

// LookupAt returns the state of a position: the phase's state, with what
// the step holds back (Published) or adds (Active).
func LookupAt(scope Scope, pos Position, f Features) (State, error) {
	pos, err := Resolve(scope, pos, f)
	if err != nil {
		return State{}, err
	}
	s, err := Lookup(scope, pos.Phase)
	if err != nil {
		return State{}, err
	}
	s.Step = pos.Step
	s.Published = slices.Clone(s.Trusted)
	s.Active = []Generation{s.Signer}
	t, _ := table(scope)
	i, _ := Index(scope, pos.Phase)
	if f.NodeTrust && pos.Step == StepObjects && changesTrust(t, i) {
		// The node step comes after this commit (forward) or before it
		// (rollback): either way, while it is applied, what the nodes
		// publish is the previous phase's set.
		s.Published = slices.Clone(t[i-1].Trusted)
	}
	if pos.Step == StepBothActive {
		s.Active = []Generation{Old, New}
	}
	return s, nil
}

// PositionIndex returns where a position is on the scope's path.
func PositionIndex(scope Scope, pos Position, f Features) (int, []Position, error) {
	pos, err := Resolve(scope, pos, f)
	if err != nil {
		return 0, nil, err
	}
	path, err := Path(scope, f)
	if err != nil {
		return 0, nil, err
	}
	return slices.Index(path, pos), path, nil
}

// CheckStep says whether a move between positions is legal: staying put,
// one position forward, or one back. Within a phase that is one step; across
// phases it is from the last step of a phase to the first of the next, or
// from the first step of a phase back to the last of the previous one.
func CheckStep(scope Scope, from, to Position, f Features) (Direction, error) {
	i, path, err := PositionIndex(scope, from, f)
	if err != nil {
		return Stay, err
	}
	j, _, err := PositionIndex(scope, to, f)
	if err != nil {
		return Stay, err
	}
	switch d := j - i; {
	case d == 0:
		return Stay, nil
	case d == 1:
		return Forward, nil
	case d == -1 && !RollsBack(scope) && path[i].Phase != path[j].Phase:
		return Stay, noRollback(scope, path[i].Phase, path[j].Phase)
	case d == -1:
		return Back, nil
	case d > 1:
		return Stay, fmt.Errorf("moving from %s to %s skips %s: move one step at a time, next is %s",
			path[i], path[j], joinPositions(path[i+1:j]), path[i+1])
	default:
		return Stay, fmt.Errorf("rolling back from %s to %s skips %s: roll back one step at a time, to %s",
			path[i], path[j], joinPositions(path[j+1:i]), path[i-1])
	}
}

func joinPositions(ps []Position) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

// NeighbourPositions returns the positions one back and one forward of pos
// (zero Positions at the ends of the path).
func NeighbourPositions(scope Scope, pos Position, f Features) (prev, next Position, err error) {
	i, path, err := PositionIndex(scope, pos, f)
	if err != nil {
		return prev, next, err
	}
	if i > 0 {
		prev = path[i-1]
	}
	if i+1 < len(path) {
		next = path[i+1]
	}
	return prev, next, nil
}

// NodeMove says which phase move's node steps (runbook) belong to the move
// between two adjacent positions, and whether they run before the commit of
// `to` is merged (true) or after it is applied (false).
//
// Node steps publish trust to in-cluster-config consumers, which roll at
// the step where the published set changes (Published differs between the
// positions). So when a phase has the in-cluster-config step, its node
// steps belong to the move between its two steps, before the commit that
// rolls those consumers is merged: forward (objects -> in-cluster-config)
// that is after the phase's objects are applied, as always; on rollback
// (in-cluster-config -> objects) it is the rollback's node steps, run
// before the consumers roll back onto the set they restore. The phase
// move into or out of such a phase then has none. Every other phase move
// runs its node steps after its objects are applied.
func NodeMove(scope Scope, from, to Position, f Features) (a, b Phase, before, ok bool) {
	dir, err := CheckStep(scope, from, to, f)
	if err != nil || dir == Stay {
		return "", "", false, false
	}
	hasICStep := func(ph Phase) bool {
		steps, _ := Steps(scope, ph, f)
		return slices.ContainsFunc(steps, func(s StepInfo) bool { return s.Name == StepInClusterConfig })
	}
	if scope == ScopeRecover {
		// The node steps bring the API server back before anything can
		// be applied (docs/phases.md, "Recover: an expired or lost CA").
		return from.Phase, to.Phase, true, true
	}
	if from.Phase == to.Phase {
		if !hasICStep(from.Phase) {
			return "", "", false, false
		}
		prev, _, _ := Neighbours(scope, from.Phase)
		if dir == Forward {
			return prev, from.Phase, true, true
		}
		return from.Phase, prev, true, true
	}
	if dir == Forward && hasICStep(to.Phase) {
		return "", "", false, false
	}
	return from.Phase, to.Phase, false, true
}
