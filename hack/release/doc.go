// Command release builds carousel's release artifacts from one commit, with
// nothing but the Go toolchain and this module (no Docker engine):
//
//   - static binaries named carousel for linux and darwin on amd64 and
//     arm64 (CGO off, -trimpath, no build ID, no VCS stamp: two builds of
//     one commit with one Go are byte-identical);
//   - a CycloneDX SBOM per binary, read from the binary's own build
//     information (the modules the Go linker put in it);
//   - an OCI image layout (a multi-arch index of linux/amd64 and
//     linux/arm64) holding each linux binary alone, run as a non-root user
//     with the binary as entrypoint and no shell, and a tarball of it;
//   - SHA256SUMS over all of the above.
//
// Every timestamp is the commit's (-epoch, as SOURCE_DATE_EPOCH is), so
// the same commit gives the same bytes. `make release` runs it; its test
// builds twice and reads the image back.
//
// It is its own module so go-containerregistry stays out of carousel's
// go.mod.
package main
