// Package testkit loads the bundled example packages and renders their
// phases, in-process or through the real kustomize binary, for tests across
// the repository. Tests never mock kustomize: when a tool is missing they
// fail and say which `make` target installs it.
package testkit
