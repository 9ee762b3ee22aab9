#!/usr/bin/env bash
# make bench: Go benchmarks, then whole-process runs over generated packages
# of 1,000 and 10,000 workloads: carousel rendering trust-new, the kyaml
# framework identity, and the item-by-item identity; the in-process
# `carousel build`, kustomize build with carousel as an exec function and
# without carousel, with each build's ratio to the plain one; and `carousel
# start` with 1,000 leaves. Wall medians and peak RSS (from rusage). Numbers
# go to stdout as a Markdown table: copy them into docs/performance.md.
#
# Then `carousel status` (pkg/status.Evaluate) against a real API server
# holding each generated package's workloads, one pod each: wall time beside
# a bare paged LIST of the same collections (its floor) and the ratio, peak
# heap, allocations and list requests (pkg/status/bench_test.go, built only
# with -tags bench).
#
# BENCH_SIZES overrides the sizes ("1000 10000"; empty: none); BENCH_RUNS the
# runs (5/3); BENCH_FLEET the fleet shapes, apps x workloads per app
# ("10x100 100x100").
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
work=${BENCH_DIR:-${TMPDIR:-/tmp}/carousel-bench}
mkdir -p "$work"
go build -o "$work/genpkg" ./hack/genpkg
go build -o "$work/run" ./hack/bench/run
go build -o "$work/identity" ./hack/bench/identity
sizes=${BENCH_SIZES-1000 10000} # set and empty: no single-package rows

echo "## Go benchmarks"
go test -run '^$' -bench . -benchmem ./pkg/gen/ | grep -E '^(Benchmark|ok)'

echo
echo "## Whole processes ($(nproc) cores, $(go version | cut -d' ' -f3))"
echo
echo "| input | command | wall median (s) | peak RSS (MiB) | x plain kustomize |"
echo "|---|---|---|---|---|"
# row prints one command's medians; with a plain build's wall in $plainwall
# (rows after it), its ratio to that. rowv runs a command and keeps its wall
# in $lastwall without printing, for a row printed later.
row() { local input=$1; shift; IFS=$'\t' read -r label wall rss _ < <("$work/run" "$@"); lastwall=$wall; echo "| $input | $label | $wall | $rss | $(ratio "$wall") |"; }
ratio() { [ -n "${plainwall:-}" ] && awk -v a="$1" -v b="$plainwall" 'BEGIN { printf "%.2fx", a / b }' || true; }
for n in $sizes; do
  ns=$(( n / 10 ))
  pkg=$work/pkg-$n
  [ -f "$pkg/resourcelist.yaml" ] || "$work/genpkg" -workloads "$n" -namespaces "$ns" -phase trust-new -carousel bin/carousel -out "$pkg" >/dev/null
  runs=${BENCH_RUNS:-$([ "$n" -ge 10000 ] && echo 3 || echo 5)}
  # The streamed output must equal the framework's, or the comparison is void.
  "$work/identity" < "$pkg/resourcelist.yaml" > "$work/framework.out"
  "$work/identity" -stream < "$pkg/resourcelist.yaml" > "$work/stream.out"
  cmp -s "$work/framework.out" "$work/stream.out" || { echo "streamed identity output differs from the framework's at $n workloads" >&2; exit 1; }
  rm -f "$work/framework.out" "$work/stream.out"
  row "$n workloads" -n "$runs" -stdin "$pkg/resourcelist.yaml" -label "carousel trust-new" -- bin/carousel
  row "$n workloads" -n "$runs" -stdin "$pkg/resourcelist.yaml" -label "kyaml framework identity" -- "$work/identity"
  row "$n workloads" -n "$runs" -stdin "$pkg/resourcelist.yaml" -label "item-by-item identity" -- "$work/identity" -stream
  # kustomize itself is quadratic in the number of resources: at 10,000 a
  # plain build takes ~10 minutes and one with any exec function longer, so
  # these rows run up to BENCH_KUSTOMIZE_MAX workloads (default 1000).
  if [ "$n" -le "${BENCH_KUSTOMIZE_MAX:-1000}" ]; then
    # The plain build first, so every build after it prints its ratio.
    plain=$work/pkg-$n-plain
    rm -rf "$plain"; cp -r "$pkg" "$plain"
    sed -i '/^transformers:/,$d' "$plain/kustomization.yaml"
    row "$n workloads" -n "$runs" -label "kustomize build without carousel" -- bin/kustomize build "$plain"
    plainwall=$lastwall
    # carousel build must equal the exec path's output, or the row is void.
    bin/kustomize build --enable-alpha-plugins --enable-exec "$pkg" > "$work/exec.out"
    bin/carousel build "$pkg" > "$work/inproc.out"
    cmp -s "$work/exec.out" "$work/inproc.out" || { echo "carousel build differs from kustomize --enable-exec at $n workloads" >&2; exit 1; }
    rm -f "$work/exec.out" "$work/inproc.out"
    row "$n workloads" -n "$runs" -label "carousel build (in-process, no exec)" -- bin/carousel build "$pkg"
    row "$n workloads" -n "$runs" -label "kustomize build with carousel (exec)" -- bin/kustomize build --enable-alpha-plugins --enable-exec "$pkg"
    ident=$work/pkg-$n-identity
    rm -rf "$ident"; cp -r "$pkg" "$ident"
    printf '#!/bin/sh\nexec %s\n' "$work/identity" > "$work/identity.sh"; chmod +x "$work/identity.sh"
    sed -i "s#path: .*#path: $work/identity.sh#" "$ident/carousel.yaml"
    row "$n workloads" -n "$runs" -label "kustomize build with a do-nothing exec function" -- bin/kustomize build --enable-alpha-plugins --enable-exec "$ident"
    unset plainwall
  fi
done

# The fleet (docs/fleet.md): one owner and N consumer packages holding the
# same workloads as one package of N x W, each built by the pinned kustomize
# with carousel, one after another, as N applications' renders would run;
# against that one package. CPU time (user + system) as well as wall time:
# on a shared machine the wall clock measures the neighbours.
echo
echo "## Fleet"
echo
echo "| input | command | wall (s) | peak RSS (MiB) | CPU (s) | CPU x plain kustomize |"
echo "|---|---|---|---|---|---|"
frow() { local input=$1; shift; IFS=$'\t' read -r label wall rss cpu < <("$work/run" "$@"); lastcpu=$cpu; echo "| $input | $label | $wall | $rss | $cpu | $([ -n "${plaincpu:-}" ] && awk -v a="$cpu" -v b="$plaincpu" 'BEGIN { printf "%.2fx", a / b }') |"; }
for f in ${BENCH_FLEET:-10x100 100x100}; do
  apps=${f%x*}; per=${f#*x}; n=$(( apps * per ))
  fleet=$work/fleet-$f
  [ -f "$fleet/state/cluster-ca.yaml" ] || {
    "$work/genpkg" -apps "$apps" -workloads "$n" -namespaces $(( n / 10 )) -phase trust-new -carousel bin/carousel -out "$fleet" >/dev/null
    bin/carousel publish "$fleet/owner/carousel.yaml" >/dev/null
  }
  # The same apps without carousel (their transformers dropped): the plain
  # builds every fleet's renders pay anyway, first, for the ratios.
  plainfleet=$work/fleet-$f-plain
  rm -rf "$plainfleet"; cp -r "$fleet" "$plainfleet"
  for d in "$plainfleet/owner" "$plainfleet"/apps/*; do sed -i '/^transformers:/,$d' "$d/kustomization.yaml"; done
  { echo '#!/bin/sh'; echo 'set -e'; for d in "$plainfleet/owner" "$plainfleet"/apps/*; do echo "$PWD/bin/kustomize build $d >/dev/null"; done; } > "$fleet/plain.sh"
  { echo '#!/bin/sh'; echo 'set -e'; for d in "$fleet/owner" "$fleet"/apps/*; do echo "$PWD/bin/kustomize build --enable-alpha-plugins --enable-exec $d >/dev/null"; done; } > "$fleet/build.sh"
  { echo '#!/bin/sh'; echo 'set -e'; for d in "$fleet/owner" "$fleet"/apps/*; do echo "$PWD/bin/carousel build $d >/dev/null"; done; } > "$fleet/inproc.sh"
  chmod +x "$fleet/plain.sh" "$fleet/build.sh" "$fleet/inproc.sh"
  unset plaincpu
  frow "owner + $apps apps x $per workloads" -n 1 -label "plain kustomize build of each package, no carousel" -- "$fleet/plain.sh"
  plaincpu=$lastcpu
  frow "owner + $apps apps x $per workloads" -n 1 -label "carousel build of each package (in-process)" -- "$fleet/inproc.sh"
  frow "owner + $apps apps x $per workloads" -n 1 -label "kustomize build of each package with carousel (exec)" -- "$fleet/build.sh"
  if [ "$n" -le "${BENCH_KUSTOMIZE_MAX:-1000}" ]; then
    single=$work/pkg-$n
    [ -f "$single/kustomization.yaml" ] || "$work/genpkg" -workloads "$n" -namespaces $(( n / 10 )) -phase trust-new -carousel bin/carousel -out "$single" >/dev/null
    unset plaincpu
    frow "one package of $n workloads" -n 1 -label "kustomize build with carousel" -- bin/kustomize build --enable-alpha-plugins --enable-exec "$single"
  fi
done

# carousel start with 1,000 ECDSA P-256 leaves (plaintext: this measures
# key and certificate making, not sops).
leaves=$work/leaves
rm -rf "$leaves"; mkdir -p "$leaves"
{
  echo "apiVersion: carousel.dev/v1alpha1"
  echo "kind: CARotation"
  echo "metadata: {name: many}"
  echo "spec:"
  echo "  ca: {}"
  echo "  leaves:"
  for i in $(seq 1 1000); do echo "  - {name: leaf-$i, secret: {name: leaf-$i, namespace: ns}, dnsNames: [leaf-$i.ns.svc]}"; done
} > "$leaves/carousel.yaml"
bin/carousel init "$leaves/carousel.yaml" --plaintext-keys >/dev/null 2>&1
cp "$leaves/carousel.yaml" "$leaves/template.yaml"
"$work/run" -n 1 -label "carousel start, 1,000 leaves" -- bin/carousel start "$leaves/carousel.yaml" --plaintext-keys | while IFS=$'\t' read -r label wall rss _; do echo "| 1,000 leaves | $label | $wall | $rss |"; done

echo
echo "## status against a real API server (pkg/status/bench_test.go)"
echo
echo "| cluster | status wall (s) | bare paged LIST of the same collections (s) | status x the LIST | peak heap above the baseline (MiB) | baseline heap (MiB) | allocated (MiB) | list requests | setup (s) |"
echo "|---|---|---|---|---|---|---|---|---|"
for n in $sizes; do
  BENCH_STATUS_RESOURCELIST=$work/pkg-$n/resourcelist.yaml go test -tags bench -run '^TestBenchStatusOnALargeCluster$' -count=1 -timeout 60m -v ./pkg/status \
    | awk -F'\t' '/^status-bench/ {print "| " $2 " | " $3 " | " $4 " | " $5 " | " $6 " | " $7 " | " $8 " | " $9 " | " $10 " |"}'
done
