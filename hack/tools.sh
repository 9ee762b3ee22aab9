#!/usr/bin/env bash
# Installs the real tools the tests drive, built from source at pinned
# versions into a cache outside the repository, keyed by name and version,
# and links them into the repository's bin/.
#
#   hack/tools.sh install NAME...   build (once per machine) and link
#   hack/tools.sh path NAME         print the cache bin directory of NAME
#   hack/tools.sh list              print NAME VERSION of every pinned tool
#
# CAROUSEL_TOOLS_CACHE moves the cache (default ~/.cache/carousel/tools).
# A warm cache costs no `go` invocation at all.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${CAROUSEL_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/carousel/tools}
export GOTOOLCHAIN=local

# name version binaries...
TOOLS=(
  "kustomize v5.8.2 kustomize"
  "sops v3.13.3 sops"
  "age v1.3.2 age age-keygen"
  "etcd v3.6.8 etcd"
  "kube v1.36.3 kube-apiserver kubectl kube-controller-manager kube-scheduler"
  "kwok v0.8.0 kwok"
  "kpt v1.0.0-beta.49 kpt"
  "argocd-crds v3.2.12 application-crd.yaml applicationset-crd.yaml appproject-crd.yaml"
  "argo-rollouts-crds v1.8.3 rollout-crd.yaml"
  "kruise-crds v1.8.2 apps.kruise.io_clonesets.yaml"
  "actionlint v1.7.12 actionlint"
  "mermaid-parser 2.0.1 mermaid-parse"
  "istio-cacerts v0.0.0-20260827124520-eed52ebb66ad istio-cacerts"
  "osm-tresor v1.2.4 osm-tresor"
  "trust-manager v0.25.0 trust-manager trust.cert-manager.io_bundles.yaml trust-manager.io_clusterbundles.yaml"
  "cert-manager-runner v1.21.2 cert-manager-runner cert-manager.io_certificates.yaml cert-manager.io_certificaterequests.yaml cert-manager.io_issuers.yaml cert-manager.io_clusterissuers.yaml"
  "flux-health v0.110.3 flux-health flux-build"
  "argocd-health v3.2.12 argocd-health argocd-render"
  "kubeadm-ca v1.36.3 kubeadm-ca"
  "promtool v0.316.0 promtool"
)

# Tools built from a module of this repository (hack/systems/...): their
# cache key also carries a hash of that module's go.mod, go.sum and Go
# files, so an edit to the program rebuilds it instead of reusing a stale
# binary of the same pinned upstream version.
declare -A LOCAL_SRC=(
  [istio-cacerts]=hack/systems/istio
  [osm-tresor]=hack/systems/osm
  [cert-manager-runner]=hack/systems/cert-manager
  [flux-health]=hack/systems/flux-health
  [argocd-health]=hack/systems/argocd-health
  [kubeadm-ca]=hack/systems/kubeadm
)

die() { echo "tools: $*" >&2; exit 1; }

# Every tool is built without DWARF: the compiler skips generating it
# (-gcflags=all=-dwarf=false, about 15% of a cold compile: istio-cacerts
# from an empty build cache took 129 s with it, 108 s without, 2026-12-07)
# and the linker writes no symbol table (-s -w). Nobody debugs these
# binaries; a panic's stack trace needs neither. `make vet` vets the
# hack/systems modules with the same flags, so it reuses these compiles.
export NODWARF=-gcflags=all=-dwarf=false

entry() {
  local name=$1 line
  for line in "${TOOLS[@]}"; do
    set -- $line
    if [ "$1" = "$name" ]; then echo "$line"; return 0; fi
  done
  die "unknown tool '$name' (known: $(for l in "${TOOLS[@]}"; do set -- $l; printf '%s ' "$1"; done))"
}

# build NAME VERSION OUTDIR: puts the binaries into OUTDIR.
build() {
  local name=$1 version=$2 out=$3
  case $name in
    kustomize) GOBIN=$out CGO_ENABLED=0 go install $NODWARF -trimpath -ldflags "-s -w" "sigs.k8s.io/kustomize/kustomize/v5@$version" ;;
    sops)      GOBIN=$out CGO_ENABLED=0 go install $NODWARF -trimpath -ldflags "-s -w" "github.com/getsops/sops/v3/cmd/sops@$version" ;;
    age)       GOBIN=$out CGO_ENABLED=0 go install $NODWARF -trimpath -ldflags "-s -w" "filippo.io/age/cmd/age@$version" "filippo.io/age/cmd/age-keygen@$version" ;;
    etcd)
      # etcd's server module is its main package; a wrapper module pins it.
      mkdir -p wrap && cd wrap
      printf 'module tools/etcd\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$version" >go.mod
      printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >tools.go
      GOFLAGS=-mod=mod go mod tidy
      CGO_ENABLED=0 go build $NODWARF -ldflags "-s -w" -trimpath -o "$out/etcd" go.etcd.io/etcd/server/v3 ;;
    kube)
      # k8s.io/kubernetes replaces its staging modules with ./staging paths;
      # a wrapper module points each at the matching published v0.x release.
      # The four commands build in one `go build`, so their links (the
      # largest single-threaded steps of the whole tool build) run side by
      # side on two cores.
      local kdir staging ld c
      local cmds="kube-apiserver kubectl kube-controller-manager kube-scheduler"
      kdir=$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
      staging=v0.${version#v1.}
      mkdir -p wrap && cd wrap
      {
        printf 'module tools/kube\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$version"
        grep -E '=> \./staging/' "$kdir/go.mod" | grep -v sample-cli-plugin | awk -v v="$staging" '{print "\t" $1 " => " $1 " " v}'
        printf ')\n'
      } >go.mod
      {
        printf '//go:build tools\n\npackage tools\n\nimport (\n'
        for c in $cmds; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$c"; done
        printf ')\n'
      } >tools.go
      GOFLAGS=-mod=mod go mod tidy
      ld="-s -w -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$version" | cut -d. -f2)"
      CGO_ENABLED=0 go build $NODWARF -trimpath -ldflags "$ld" -o "$out/" $(for c in $cmds; do printf 'k8s.io/kubernetes/cmd/%s ' "$c"; done) ;;
    kwok)
      # kwok's controller binary (simulated nodes and kubelets), run out of
      # cluster against the suite's API server; the module has no replace
      # directives, so `go install` builds it as released.
      GOBIN=$out CGO_ENABLED=0 go install $NODWARF -ldflags "-s -w" -trimpath "sigs.k8s.io/kwok/cmd/kwok@$version" ;;
    argocd-crds)
      # Argo CD's CRDs (Application, ApplicationSet, AppProject) from its
      # module source at the pinned release: the tests apply them to the
      # real API server to validate the Argo CD examples against them.
      local adir
      adir=$(GOFLAGS=-mod=mod go mod download -json "github.com/argoproj/argo-cd/v3@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
      [ -n "$adir" ] || die "argocd-crds $version: module source not found"
      mkdir -p "$out"
      for f in application-crd.yaml applicationset-crd.yaml appproject-crd.yaml; do
        cp "$adir/manifests/crds/$f" "$out/$f" && chmod +x "$out/$f"
      done ;;
    argo-rollouts-crds)
      # Argo Rollouts' Rollout CRD from its module source at the pinned
      # release: the registry's Rollout kind is checked against it on the
      # real API server, and status tests write Rollouts through it.
      local rdir
      rdir=$(GOFLAGS=-mod=mod go mod download -json "github.com/argoproj/argo-rollouts@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
      [ -n "$rdir" ] || die "argo-rollouts-crds $version: module source not found"
      mkdir -p "$out"
      cp "$rdir/manifests/crds/rollout-crd.yaml" "$out/rollout-crd.yaml" && chmod +x "$out/rollout-crd.yaml" ;;
    kruise-crds)
      # OpenKruise's CloneSet CRD from its module source at the pinned
      # release: a workload kind a spec declares (spec.workloadKinds) is
      # rolled and gated through it on the real API server.
      local kdir
      kdir=$(GOFLAGS=-mod=mod go mod download -json "github.com/openkruise/kruise@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
      [ -n "$kdir" ] || die "kruise-crds $version: module source not found"
      mkdir -p "$out"
      cp "$kdir/config/crd/bases/apps.kruise.io_clonesets.yaml" "$out/apps.kruise.io_clonesets.yaml" && chmod +x "$out/apps.kruise.io_clonesets.yaml" ;;
    kpt)
      # kpt builds only inside its own module source (its go.mod replaces
      # apply there); the sum database does not know this version.
      local kdir
      kdir=$(GONOSUMDB=github.com/GoogleContainerTools/kpt GOFLAGS=-mod=mod go mod download -json "github.com/GoogleContainerTools/kpt@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
      [ -n "$kdir" ] || die "kpt $version: module source not found"
      cp -r "$kdir" src && chmod -R u+w src && cd src
      GONOSUMDB=github.com/GoogleContainerTools/kpt GOFLAGS=-mod=mod CGO_ENABLED=0 go build $NODWARF -ldflags "-s -w" -trimpath -o "$out/kpt" . ;;
    istio-cacerts)
      # carousel's own check over Istio's plug-in CA code (security/pkg/pki)
      # at the pinned istio.io/istio commit; its module stays out of
      # carousel's go.mod. The version above must equal the one its go.mod
      # requires.
      grep -q "istio.io/istio $version\$" "$REPO/hack/systems/istio/go.mod" || die "hack/systems/istio/go.mod does not require istio.io/istio $version"
      cd "$REPO/hack/systems/istio"
      CGO_ENABLED=0 go build $NODWARF -ldflags "-s -w" -trimpath -o "$out/istio-cacerts" . ;;
    osm-tresor)
      # carousel's own check over OSM's castorage loader and Tresor issuer
      # (github.com/openservicemesh/osm, the last release); its module
      # stays out of carousel's go.mod.
      grep -q "github.com/openservicemesh/osm $version\$" "$REPO/hack/systems/osm/go.mod" || die "hack/systems/osm/go.mod does not require github.com/openservicemesh/osm $version"
      cd "$REPO/hack/systems/osm"
      CGO_ENABLED=0 go build $NODWARF -ldflags "-s -w" -trimpath -o "$out/osm-tresor" . ;;
    trust-manager)
      # trust-manager's own main, built inside its module source at the
      # pinned release (its go.mod and go.sum, untouched), and its CRDs from
      # the same source: the tests run it out of cluster against the suite's
      # API server.
      local tdir
      tdir=$(GOFLAGS=-mod=mod go mod download -json "github.com/cert-manager/trust-manager@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
      [ -n "$tdir" ] || die "trust-manager $version: module source not found"
      (cd "$tdir" && GOFLAGS=-mod=readonly CGO_ENABLED=0 go build $NODWARF -trimpath -ldflags "-s -w" -o "$out/trust-manager" ./cmd/trust-manager)
      for f in trust.cert-manager.io_bundles.yaml trust-manager.io_clusterbundles.yaml; do
        cp "$tdir/deploy/crds/$f" "$out/$f" && chmod +x "$out/$f"
      done ;;
    cert-manager-runner)
      # carousel's own small main over cert-manager's library controllers
      # (certificates, CertificateRequest approval, CA and self-signed
      # issuers): cert-manager's controller main is a module the proxy does
      # not serve. Its module stays out of carousel's go.mod; the CRDs come
      # from the same cert-manager module version.
      grep -q "github.com/cert-manager/cert-manager $version\$" "$REPO/hack/systems/cert-manager/go.mod" || die "hack/systems/cert-manager/go.mod does not require github.com/cert-manager/cert-manager $version"
      local cdir f
      cd "$REPO/hack/systems/cert-manager"
      CGO_ENABLED=0 go build $NODWARF -trimpath -ldflags "-s -w" -o "$out/cert-manager-runner" .
      cdir=$(go list -m -f '{{.Dir}}' github.com/cert-manager/cert-manager)
      [ -n "$cdir" ] || die "cert-manager $version: module source not found"
      for f in certificates certificaterequests issuers clusterissuers; do
        cp "$cdir/deploy/crds/cert-manager.io_$f.yaml" "$out/cert-manager.io_$f.yaml" && chmod +x "$out/cert-manager.io_$f.yaml"
      done ;;
    flux-health)
      # carousel's own small main over Flux's health computation: kstatus
      # (github.com/fluxcd/cli-utils) and the CEL evaluator of
      # spec.healthCheckExprs (github.com/fluxcd/pkg/runtime/cel), at the
      # versions kustomize-controller v1.9.5 (flux v2.9.5) builds with. The
      # version above is fluxcd/pkg/runtime's.
      grep -q "github.com/fluxcd/pkg/runtime $version\$" "$REPO/hack/systems/flux-health/go.mod" || die "hack/systems/flux-health/go.mod does not require github.com/fluxcd/pkg/runtime $version"
      # flux-build, the same module's main over kustomize-controller's build
      # (fluxcd/pkg/kustomize's generator and SecureBuild, fluxcd/pkg/ssa's
      # owner labels), replaces the flux CLI, a build five times its size,
      # in the tests: one `go build` for both. The tests read Flux's CRDs
      # from the controller modules, downloaded here so they are in the
      # module cache.
      cd "$REPO/hack/systems/flux-health"
      CGO_ENABLED=0 go build $NODWARF -trimpath -ldflags "-s -w" -o "$out/" . ./flux-build
      go mod download github.com/fluxcd/kustomize-controller@v1.9.5 github.com/fluxcd/source-controller@v1.9.5 ;;
    argocd-health)
      # carousel's own small main over Argo CD's health computation
      # (gitops-engine's GetResourceHealth, the overrides Argo CD's settings
      # manager reads from argocd-cm, the built-in Lua checks) at the
      # pinned Argo CD release, the one argocd-crds comes from; and
      # argocd-render, the same module's main over the repo-server's
      # manifest generation (GenerateManifests, the named kustomize
      # versions of argocd-cm, the cmp-server): one `go build` for both.
      grep -q "github.com/argoproj/argo-cd/v3 $version\$" "$REPO/hack/systems/argocd-health/go.mod" || die "hack/systems/argocd-health/go.mod does not require github.com/argoproj/argo-cd/v3 $version"
      cd "$REPO/hack/systems/argocd-health"
      CGO_ENABLED=0 go build $NODWARF -trimpath -ldflags "-s -w" -o "$out/" . ./argocd-render ;;
    kubeadm-ca)
      # carousel's own small main over kubeadm's certificate code
      # (cmd/kubeadm/app/util/pkiutil: NewCertificateAuthority,
      # WriteCertAndKey, TryLoadCertAndKeyFromDisk) at the kube tool's
      # version, with its wrapper module's staging replaces and build flags
      # (-trimpath, CGO off), so the packages it shares with kube-apiserver
      # come from the warm Go build cache.
      grep -q "k8s.io/kubernetes $version\$" "$REPO/hack/systems/kubeadm/go.mod" || die "hack/systems/kubeadm/go.mod does not require k8s.io/kubernetes $version"
      local ld
      ld="-s -w -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$version" | cut -d. -f2)"
      cd "$REPO/hack/systems/kubeadm"
      CGO_ENABLED=0 go build $NODWARF -trimpath -ldflags "$ld" -o "$out/kubeadm-ca" . ;;
    promtool)
      # Prometheus's own promtool (`test rules`, `check rules`, `check
      # metrics`) for the PrometheusRule the rotation renders and the
      # OpenMetrics `carousel status` writes: only ./cmd/promtool, built
      # inside the prometheus module source at the pinned release with its
      # own go.mod and go.sum (not its go.work, which names modules the
      # release zip leaves out; v0.316.0 is Prometheus 3.16.0), so none of
      # its dependencies enter carousel's go.mod. remove_all_sd (the
      # module's own build tag) leaves out every service discovery plugin
      # (cloud SDKs, client-go): rule tests and metric checks use none.
      local pdir
      pdir=$(GOFLAGS=-mod=mod go mod download -json "github.com/prometheus/prometheus@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
      [ -n "$pdir" ] || die "promtool $version: module source not found"
      (cd "$pdir" && GOWORK=off GOFLAGS=-mod=readonly CGO_ENABLED=0 go build $NODWARF -trimpath -tags remove_all_sd -ldflags "-s -w -X github.com/prometheus/common/version.Version=3.${version#v0.3}" -o "$out/promtool" ./cmd/promtool) ;;
    actionlint) GOBIN=$out CGO_ENABLED=0 go install $NODWARF -trimpath -ldflags "-s -w" "github.com/rhysd/actionlint/cmd/actionlint@$version" ;;
    mermaid-parser)
      # The npm @mermaid-js/parser, with a small CLI: reads a Markdown or
      # Mermaid text on stdin, parses every mermaid block, prints the AST.
      command -v npm >/dev/null || die "mermaid-parser needs node and npm (apt-get install nodejs npm)"
      npm install --no-audit --no-fund --prefix "$out/.." "@mermaid-js/parser@$version"
      mkdir -p "$out"
      cat > "$out/mermaid-parse" <<'JS'
#!/usr/bin/env node
// Parses every ```mermaid block of stdin (or stdin itself) with the real
// @mermaid-js/parser; prints the statements as JSON; exits 1 on a parse error.
const path = require('path');
const { pathToFileURL } = require('url');
const parserDir = path.join(__dirname, '..', 'node_modules', '@mermaid-js', 'parser');
let text = require('fs').readFileSync(0, 'utf8');
const blocks = [...text.matchAll(/```mermaid\n([\s\S]*?)```/g)].map(m => m[1]);
if (blocks.length === 0) blocks.push(text);
(async () => {
  const { parse } = await import(pathToFileURL(path.join(parserDir, 'dist', 'mermaid-parser.core.mjs')).href).catch(() => import('@mermaid-js/parser'));
  const out = [];
  for (const b of blocks) {
    const type = b.trim().split(/\s/)[0];
    const ast = await parse(type, b);
    out.push({ type, statements: (ast.statements || []).map(s => ({ kind: s.$type, id: s.id, type: s.type, tags: s.tags })) });
  }
  console.log(JSON.stringify(out));
})().catch(e => { console.error(e.message); process.exit(1); });
JS
      chmod +x "$out/mermaid-parse" ;;
    *) die "no build recipe for $name" ;;
  esac
}

# src_hash DIR: a short hash of a repository module's sources (every
# package of it: a module may build more than one command).
src_hash() {
  (cd "$REPO/$1" && find . \( -name go.mod -o -name go.sum -o -name '*.go' \) -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12)
}

# cache_dir NAME: the cache directory of NAME's pinned version (and, for a
# tool of this repository, its sources).
cache_dir() {
  local line name version
  line=$(entry "$1"); set -- $line
  name=$1 version=$2
  if [ -n "${LOCAL_SRC[$name]:-}" ]; then
    echo "$CACHE/$name/$version-$(src_hash "${LOCAL_SRC[$name]}")"
  else
    echo "$CACHE/$name/$version"
  fi
}

# cached NAME: whether every binary of NAME's entry is in its cache
# directory (an entry that gained a binary, as kube did when it took in the
# controllers, rebuilds once).
cached() {
  local line dir b
  dir=$(cache_dir "$1") || return 1
  line=$(entry "$1"); set -- $line; shift 2
  for b in "$@"; do [ -x "$dir/bin/$b" ] || return 1; done
}

install_one() {
  local line name version key bins dir tmp start b
  line=$(entry "$1"); set -- $line
  name=$1 version=$2; shift 2; bins=("$@")
  dir=$(cache_dir "$name")
  key=${dir##*/}
  if cached "$name"; then
    echo "tools: $name $key ready (cached)" >&2
  else
    mkdir -p "$CACHE/$name"
    tmp=$(mktemp -d "$CACHE/$name/.build.XXXXXX")
    start=$(date +%s)
    echo "tools: building $name $key (once per machine; log: $CACHE/$name/$key.log)" >&2
    if ! (cd "$tmp" && REPO=$REPO nice -n 10 bash -c "$(declare -f build die); build $name $version $tmp/bin") >"$CACHE/$name/$key.log" 2>&1; then
      tail -30 "$CACHE/$name/$key.log" >&2
      rm -rf "$tmp"
      die "building $name $version failed"
    fi
    for b in "${bins[@]}"; do
      [ -x "$tmp/bin/$b" ] || { rm -rf "$tmp"; die "$name $version built no $b"; }
    done
    rm -rf "$dir"
    mv "$tmp" "$dir"
    echo "tools: $name $key ready (built in $(( $(date +%s) - start ))s)" >&2
  fi
  mkdir -p "$REPO/bin"
  for b in "${bins[@]}"; do
    ln -sfn "$dir/bin/$b" "$REPO/bin/$b"
  done
}

cmd=${1:-}; shift || true
case $cmd in
  install)
    [ $# -gt 0 ] || die "usage: $0 install NAME..."
    # CAROUSEL_TOOLS_JOBS=2 builds in two lanes at once, for machines with
    # cores to spare: the first holds kube and the other long builds, the
    # second the rest. On 2 cores it gains nothing, since each
    # `go build` keeps both cores busy (measured 2026-12-07: each lane took
    # as long as all the builds one after another; docs/performance.md),
    # so one at a time is the default.
    if [ "${CAROUSEL_TOOLS_JOBS:-1}" -le 1 ] || [ $# -le 1 ]; then
      for t in "$@"; do install_one "$t"; done
    else
      lane1=() lane2=()
      for t in "$@"; do
        case $t in
          etcd|kube|kwok|kubeadm-ca|promtool|trust-manager) lane1+=("$t") ;;
          *) lane2+=("$t") ;;
        esac
      done
      (for t in "${lane1[@]}"; do install_one "$t"; done) & p1=$!
      (for t in "${lane2[@]}"; do install_one "$t"; done) & p2=$!
      rc=0
      wait "$p1" || rc=1
      wait "$p2" || rc=1
      [ "$rc" = 0 ] || die "a tool build failed (its log is named above)"
    fi ;;
  path)
    echo "$(cache_dir "${1:?usage: $0 path NAME}")/bin" ;;
  list)
    for line in "${TOOLS[@]}"; do set -- $line; echo "$1 $2"; done ;;
  *) die "usage: $0 install NAME... | path NAME | list" ;;
esac
