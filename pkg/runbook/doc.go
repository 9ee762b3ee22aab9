// Package runbook builds the node-level steps of a phase move: what a
// person (or a node agent) does on the nodes of a kubeadm cluster, with the
// exact commands, for trust that lives in files and flags no GitOps
// controller applies (spec.runbook: kubernetes for the cluster CA,
// kubernetes-front-proxy for the front-proxy CA).
//
// It is a package of its own, below pkg/plan, because it holds three
// things plan does not need to know: the kubeadm node layout (layout.go:
// where each CA's files, the static pods, the kubelet configuration and
// the kubeconfigs are), the steps of each move (steps.go: which flags and
// files point at which set, in which order, forward and back, from the
// rotation's own material in material.go), and the shell the steps are
// written in (shell.go: self-contained commands that fail loudly, and say
// why, when what they edit is missing). plan calls Steps for each move and
// prints what it returns; it never builds a command itself.
//
// The tests rehearse every command of every move, forward and back, with
// bash, the real kubectl and sops, on a kubeadm-shaped tree laid out from
// testdata/node (docs/phases.md, "Node steps").
package runbook
