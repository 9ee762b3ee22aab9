package runbook

import (
	"fmt"
	"strings"

	"github.com/carousel-dev/carousel/pkg/phases"
)

// kubeRoot prefixes every path a command edits: the node's root by
// default, a copy of a node's tree in a rehearsal.
const kubeRoot = "${KUBE_ROOT:-}"

// writeKey decrypts a CA key from the package's material onto the node,
// readable by root only, through a temporary file so a failed decryption
// never leaves an empty key in place.
func (r runbook) writeKey(dst string, g phases.Generation) string { return writeKeyOf(r.m[g], dst) }

func writeKeyOf(m pairRef, dst string) string {
	return fmt.Sprintf(`(umask 077 && key=$(sops -d --extract '["data"]["%s"]' %s) && printf '%%s' "$key" | base64 -d > %s) && mv %s %s`,
		m.keyField, m.file, onNode(dst+".tmp"), onNode(dst+".tmp"), onNode(dst))
}

func onNode(p string) string { return `"` + kubeRoot + p + `"` }

// writeFile writes content through a temporary file: components that
// reload a file on change never read half of it.
func writeFile(dst, content string) string {
	return fmt.Sprintf("cat > %s <<'EOF' && mv %s %s\n%sEOF", onNode(dst+".tmp"), onNode(dst+".tmp"), onNode(dst), content)
}

type flag struct{ name, value string }

const (
	required = false
	optional = true
)

// setFlags sets static-pod flags in one edit (one restart). A required flag
// that is missing fails the command and changes nothing; an optional one
// says it is not set.
func setFlags(manifest string, opt bool, flags ...flag) string {
	checks, edits, list := flagEdits(flags)
	if opt {
		return fmt.Sprintf(`f=%s; if [ ! -f "$f" ]; then echo "carousel: $f is missing" >&2; false; elif %s; then sed -i %s "$f"; else echo "carousel: $f does not set %s: nothing to change"; fi`,
			onNode(manifest), checks, edits, list)
	}
	return fmt.Sprintf(`f=%s; %s && sed -i %s "$f" || { echo "carousel: $f does not set %s: not changed" >&2; false; }`,
		onNode(manifest), checks, edits, list)
}

// setFlagsIfPresent is setFlags for an optional component: a node without
// its manifest, or a manifest without the flag, is said and left alone
// (exit 0), so the step can run on every node of every cluster.
func setFlagsIfPresent(manifest, absent string, flags ...flag) string {
	checks, edits, list := flagEdits(flags)
	return fmt.Sprintf(`f=%s; if [ ! -f "$f" ]; then echo "carousel: $f is not there (%s on this node): nothing to change"; elif %s; then sed -i %s "$f"; else echo "carousel: $f does not set %s: nothing to change"; fi`,
		onNode(manifest), absent, checks, edits, list)
}

// flagEdits are the grep conditions, sed expressions and names of flags.
func flagEdits(flags []flag) (checks, edits, list string) {
	var c, e, names []string
	for _, fl := range flags {
		pat := `^ *- --` + fl.name + `=`
		c = append(c, fmt.Sprintf(`grep -q -e '%s' "$f"`, pat))
		e = append(e, fmt.Sprintf(`-e 's#^\( *- --%s=\).*#\1%s#'`, fl.name, fl.value))
		names = append(names, "--"+fl.name)
	}
	return strings.Join(c, " && "), strings.Join(e, " "), strings.Join(names, " and ")
}

// requireFlags only checks that a static pod sets the flags.
func requireFlags(manifest string, names ...string) string {
	var checks, list []string
	for _, n := range names {
		checks = append(checks, fmt.Sprintf(`grep -q -e '^ *- --%s=' "$f"`, n))
		list = append(list, "--"+n)
	}
	return fmt.Sprintf(`f=%s; %s || { echo "carousel: $f does not set %s: stop here" >&2; false; }`, onNode(manifest), strings.Join(checks, " && "), strings.Join(list, " and "))
}

// setYAMLKey sets a top-level-or-nested scalar key of a YAML file that must
// be there.
func setYAMLKey(file, key, value string) string {
	return fmt.Sprintf(`f=%s; grep -q -e '^ *%s:' "$f" && sed -i -e 's#^\( *%s:\).*#\1 %s#' "$f" || { echo "carousel: $f has no %s: not changed" >&2; false; }`,
		onNode(file), key, key, value, key)
}

// setKubeconfigCA embeds the trust file as the certificate-authority-data of
// the cluster the kubeconfig's current context uses (never a new cluster
// entry: `kubectl config set-cluster` would create one and exit 0).
func setKubeconfigCA(file, trust string, opt bool) string {
	set := fmt.Sprintf(`c=$(kubectl config view --kubeconfig "$f" --minify -o jsonpath='{.clusters[0].name}') && [ -n "$c" ] && kubectl config set-cluster "$c" --kubeconfig "$f" --embed-certs --certificate-authority %s >/dev/null`, onNode(trust))
	if opt {
		return fmt.Sprintf(`f=%s; if [ ! -f "$f" ]; then echo "carousel: no $f on this node: nothing to change"; else %s || { echo "carousel: $f has no current cluster: not changed" >&2; false; }; fi`, onNode(file), set)
	}
	return fmt.Sprintf(`f=%s; %s || { echo "carousel: $f is missing or has no current cluster: not changed" >&2; false; }`, onNode(file), set)
}
