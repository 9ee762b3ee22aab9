#!/usr/bin/env bash
# Renders each cluster's carousel phase into the directories Flux applies.
#
# Flux runs no KRM functions (its kustomize-controller refuses exec and
# container plugins), so CI renders every phase and commits the result: the
# rendered-manifests pattern. Each cluster listed in render.conf gets
#   rendered/<cluster>/material/   Namespaces, Secrets, bundles, webhooks, ...
#   rendered/<cluster>/workloads/  Deployments, StatefulSets, DaemonSets, ...
# so one Flux Kustomization can apply (and wait for) the material before a
# second one, depending on it, rolls the workloads. Secrets stay
# SOPS-encrypted; Flux decrypts them (decryption.provider: sops).
#
# Usage: examples/flux/render.sh
# Environment: KUSTOMIZE (default: kustomize on PATH), RENDER_CONF (default:
# render.conf next to this script), OUT (default: rendered/ next to it).
# The kustomize build runs the carousel binary the package's function
# config points at.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KUSTOMIZE=${KUSTOMIZE:-kustomize}
conf=${RENDER_CONF:-$here/render.conf}
out=${OUT:-$here/rendered}
confdir=$(cd "$(dirname "$conf")" && pwd)

# Kinds that run pods: they go to workloads/, applied after the material.
workloads='^(Deployment|StatefulSet|DaemonSet|ReplicaSet|Job|CronJob|Pod)$'

while read -r cluster source _; do
  case $cluster in ''|'#'*) continue ;; esac
  case $source in /*) ;; *) source=$confdir/$source ;; esac
  # The phase, for the header: from the package's CARotation, or from the
  # phase patch of a fleet overlay (examples/fleet/clusters/*/rotation).
  phase=$({ sed -n 's/^  phase:[[:space:]]*\([a-z-]*\).*/\1/p' "$source/carousel.yaml" 2>/dev/null ||
    sed -n 's/^[[:space:]]*value:[[:space:]]*\([a-z-]*\)$/\1/p' "$source/rotation/kustomization.yaml" 2>/dev/null || true; } | head -1)
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  "$KUSTOMIZE" build --enable-alpha-plugins --enable-exec "$source" >"$tmp/all.yaml"
  mkdir -p "$tmp/material" "$tmp/workloads"
  header="# Rendered by examples/flux/render.sh from $(basename "$source") at phase $phase. Do not edit: change spec.phase and re-render."
  awk -v re="$workloads" -v mat="$tmp/material/resources.yaml" -v wl="$tmp/workloads/resources.yaml" -v header="$header" '
    function flush(  f) {
      if (doc == "") return
      f = (kind ~ re) ? wl : mat
      if (n[f]++ == 0) print header > f
      else printf "---\n" > f
      printf "%s", doc > f
      doc = ""; kind = ""
    }
    /^---$/ { flush(); next }
    /^kind: / { kind = $2 }
    { doc = doc $0 "\n" }
    END { flush() }
  ' "$tmp/all.yaml"
  for part in material workloads; do
    [ -f "$tmp/$part/resources.yaml" ] || echo "$header" >"$tmp/$part/resources.yaml"
    printf '%s\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- resources.yaml\n' "$header" >"$tmp/$part/kustomization.yaml"
  done
  rm "$tmp/all.yaml"
  rm -rf "${out:?}/$cluster"
  mkdir -p "$out"
  mv "$tmp" "$out/$cluster"
  chmod 755 "$out/$cluster"
  trap - EXIT
  echo "rendered $cluster ($phase) into $out/$cluster" >&2
done <"$conf"
