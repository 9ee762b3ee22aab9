// Package kbuild is `carousel build`: a kustomize build that runs
// carousel's own KRM functions (the rotation's render, gen.Function, and
// `carousel decrypt`, sops.DecryptFunction) inside this process and no
// program at all, with the same output, byte for byte, as
// `kustomize build --enable-alpha-plugins --enable-exec` of kustomize
// v5.8.2 (whose library, sigs.k8s.io/kustomize/api v0.21.2, it runs).
//
// Why: Argo CD runs exec functions only with --enable-exec, which lets any
// repository run any program on the repo-server; many admins refuse it.
// And the exec path is slow: kustomize serialises every resource for the
// function and reconciles every returned one against its resource map
// (3.4x to 4.3x a plain build at 1,000 workloads). Argo CD calls a named
// kustomize version as `<binary> build <path> <options>`, so argocd-cm
// can name the carousel binary itself (examples/argocd).
//
// kustomize's library has no hook for a function in-process, so the build
// materialises the functions' outputs on an overlay filesystem (the disk,
// read-only, with files replaced or added in memory; nothing is written):
//
//  1. walk reads every kustomization from the root, bottom up, and reads
//     its plugin configs (transformers, generators, validators: inline
//     entries first, then files and directories, kustomize's order). A
//     builtin plugin stays; carousel's function (an exec path named
//     carousel, with no arguments or `decrypt`, or a container image named
//     carousel) runs in-process; anything else is refused with the file
//     and the function: another exec or container function, or a plugin
//     kustomize would run from its plugin directory. Remote bases are
//     refused too (kustomize would run git), as are Helm charts (helm).
//     kustomize's own builds run with builtin plugins only, so a config
//     the walk missed fails the build instead of running.
//  2. For a kustomization whose transformers hold a carousel function,
//     accumulate builds it with the transformers before the function (as
//     inline entries, in order) with kustomize's library, the function runs
//     on the result, and the output is ordered as kustomize orders an exec
//     function's (kept items where they were, new ones after). The
//     kustomization is then replaced, in the overlay, by one whose
//     resources are that output and whose transformers are those after the
//     function (and so on for a second function).
//  3. The root is built by kustomize's library on the overlay; or, when
//     the root's last transformer was the function, finish ends the build
//     in-process as kustomize's does (local-config dropped, legacy or fifo
//     order, build annotations removed, JSON-normalised YAML), since a
//     second kustomize build would cost as much as the first.
//
// A kustomize build of a part of the tree is a root build: it drops
// local-config resources, adds hash suffixes to generated names, fixes
// references and strips its bookkeeping annotations at its end, where the
// whole build would do that only at the end, after the function. Two
// annotations are kept through it on markers (a builtin patch and an
// annotations transformer appended after the transformers), so the
// function and every later step see local-config resources and unhashed
// generated names as kustomize's exec path has them. References are fixed
// where the function's kustomization ends rather than at the root; name
// changes further up are fixed at the root from there, as kustomize does.
//
// What it refuses rather than build differently: vars in or under a
// kustomization listing the function (kustomize resolves them after the
// function; deprecated since v5), the function in a Component, and
// buildMetadata on the root (origins across an in-process function). The
// decrypt function runs the sops of the environment (CAROUSEL_SOPS, beside
// carousel, then PATH: pkg/sops), never a program the repository names;
// the functions read the environment of carousel build (exec `envs:` are
// refused). The tests build every example at every phase both ways and
// compare bytes (examples/build_test.go), and shapes kustomizations take
// around the function (kbuild_test.go), both ways the build can finish.
package kbuild
