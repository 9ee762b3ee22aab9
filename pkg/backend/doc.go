// Package backend is the seam between the commands and a rotation's
// backend (spec.backend): who holds the keys. The commands ask For the
// rotation's Backend once, when they have loaded its package, and call its
// operations (Init, Start, Pull, Status, Unpromoted); nothing outside this
// package, the spec type (pkg/spec/backend.go) and its validation names a
// backend.
//
// # Why here
//
// Imports only go downwards (docs/architecture.md). An operation of a
// backend works on the types of the floor it belongs to: init, start and
// pull edit a package (pkg/rotate), status compares a rendered phase
// (pkg/gen) with the cluster (pkg/status, pkg/fleet). So the interface can
// live no lower than the floor above all of them, and it lives there:
// above rotate, gen, status and fleet, below the packages and commands
// that use it (pkg/gate, pkg/check, pkg/advance, fn/).
//
// Each backend's floor-bound parts stay on their floor, because they
// extend that floor's internals: the cert-manager backend's objects, its
// CACertificates and its reads of the cluster are pkg/cmbackend (below the
// renderer, which renders them); its render is pkg/gen/certmanager.go; its
// package edits pkg/rotate/certmanager.go; its live check
// pkg/status/certmanager.go. This package binds them (certmanager.go here,
// material.go for the material backend) and is the only place that
// chooses between them.
//
// The render is not an operation here: pkg/gen sits below this floor and
// is called by packages on it (pkg/plan, pkg/fleet), so the renderer asks
// the spec type its one question instead (spec.Backend.KeysInCluster).
// The only other caller of that method is a guard: rotate's Package.Pull,
// which writes CA certificates into the package, refuses a package whose
// keys carousel holds, whoever calls it.
//
// "finish" is part of Start: `carousel start` on a finished rotation
// finishes it. The material backend promotes the finished rotation's new
// material and starts the next in one command; the cert-manager backend, at
// cleanup, makes the new generation the one in use and stops there
// (cert-manager makes the next CA only once steady is applied).
package backend
