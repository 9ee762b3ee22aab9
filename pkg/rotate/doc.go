// Package rotate makes a rotation's material: `init` records the current CA
// and its leaves, `start` makes the next CA and every leaf for it, `csr` and
// `import` do the same with an external CA, and SetPhase/SetScope edit the
// CARotation in place. These are the only commands that draw randomness
// (keys and serial numbers); their output is committed, so rendering a
// phase only selects material.
//
// # Nothing lost, nothing half-done
//
// Every file is written through pkg/atomicfile (temporary file, fsync,
// rename, fsync of the directory), so no file is ever empty or partial. A
// command that changes several files orders its steps so that a kill at any
// point leaves the package rendering (kustomize + the carousel function) to
// exactly the output before the command or the output after it, and a rerun
// of the command completes it or says what to do:
//
//   - material/kustomization.yaml is the commit point of the material.
//     Material reads only the files it lists; kustomize builds only those.
//     A command writes its new KeyPair files first (unlisted, so invisible),
//     then rewrites the kustomization to list them, then removes what is no
//     longer listed. A file that is not listed is a leftover of an
//     interrupted run: the rerun overwrites or removes it.
//   - init --preset (fn, pkg/presets) makes the CARotation file from the
//     preset in memory (LoadPending) and init writes it, annotated, where it
//     writes the function annotation: after the material, before the
//     package's kustomization. A refused init --preset writes nothing. A file
//     with other bytes is refused; the preset's bytes (annotated or not) are
//     a rerun and init goes on.
//   - init writes the material, then its kustomization, then the function
//     annotation, and the package's kustomization.yaml last: until that
//     exists the package does not build at all, as before; a rerun that
//     finds the current CA completes the package.
//   - start after an imported intermediate (csr --ca, import) is start
//     from steady: the new leaves it issues with the intermediate are
//     written unlisted, and the kustomization listing them is the commit.
//   - init of a CA held externally (no key) writes its certificate-only
//     KeyPair in the same order as any init.
//   - start from steady adds new material, which steady does not render, so
//     the output never changes; the commit is the kustomization listing it.
//     The scope (--scope) is written first, after every check and after the
//     keys are made and encrypted in memory: the steady output is the same
//     under both scopes.
//   - promote (start at cleanup or reissue) moves the finished rotation's
//     new material to the old generation; see promote.go for the order in
//     which every intermediate state renders as cleanup (or reissue) or as
//     steady. A CA keeps its ID (material.AnnotationCAID) through it; a CA
//     pair from before IDs has its role recorded as its ID in the same
//     write that moves it (step 2), so the migration needs no step of its
//     own and no command: it is as crash-safe and idempotent as the move.
//   - csr writes each request's .csr, then its pending key (the commit of
//     that request); nothing pending is rendered.
//   - import writes the KeyPairs, commits the kustomization, then removes
//     the pending files; a rerun with the same certificates redoes it.
//   - advance rewrites carousel.yaml in one atomic write.
//
// Every command validates, then writes: keys, certificates, encryption and
// every in-place edit of the CARotation file (spec.phase, spec.scope, the
// function annotation) are made in memory before the first write, so a
// refusal leaves the package byte for byte as it was. The spec editor
// (specedit.go) edits block and flow mappings in place and parses its
// result again; what it cannot edit in place it refuses, naming the edit
// to make by hand.
//
// Writers also take the package lock (Lock) before reading, so a
// concurrent writer is refused instead of interleaving.
package rotate
