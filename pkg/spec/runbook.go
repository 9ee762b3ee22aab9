package spec

// Runbook names the node-level steps `carousel plan` lists for each move
// (spec.runbook). The steps themselves are pkg/runbook's; the name is here
// so that validation, rendering and planning compare one type, never a
// spelling of their own.
type Runbook string

// The spec.runbook values: the node-level steps of a kubeadm cluster CA and
// of its front-proxy CA, which live in different files and flags, so each CA
// gets the steps for its own files and never another CA's.
const (
	// RunbookNone (the default): no node steps, everything the rotation
	// changes is rendered.
	RunbookNone Runbook = "none"
	// RunbookKubernetes: the kubeadm cluster CA (API server,
	// controller-manager, scheduler and kubelet files and flags).
	RunbookKubernetes Runbook = "kubernetes"
	// RunbookFrontProxy: the kubeadm front-proxy CA (front-proxy-ca.*,
	// --requestheader-client-ca-file, front-proxy-client).
	RunbookFrontProxy Runbook = "kubernetes-front-proxy"
)

// Runbooks are the spec.runbook values, in the order errors list them (the
// CRD schema's enum lists the same).
var Runbooks = []Runbook{RunbookNone, RunbookKubernetes, RunbookFrontProxy}

// runbookList is the values for an error message: "none, kubernetes, ...".
func runbookList() string {
	s := ""
	for i, r := range Runbooks {
		if i > 0 {
			s += ", "
		}
		s += string(r)
	}
	return s
}
