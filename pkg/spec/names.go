package spec

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/net/idna"
)

var (
	// The API server's name rules (apimachinery's IsDNS1123Label and
	// IsDNS1123Subdomain): a name it would refuse is refused here, with its
	// field, instead of at every apply.
	dnsLabel     = nameRule{regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`), 63}
	dnsSubdomain = nameRule{regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`), 253}
	dataKey      = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)
)

// nameRule is a name syntax with the API server's length limit.
type nameRule struct {
	re  *regexp.Regexp
	max int
}

func (n nameRule) MatchString(v string) bool { return len(v) <= n.max && n.re.MatchString(v) }

// generationSuffix is the longest suffix carousel appends to a name it
// renders once per CA generation (<name>-<CA ID>, up to -g9999).
const generationSuffix = len("-g9999")

// hostLabel is one label of a DNS name in a certificate: letters, digits,
// hyphens (not at either end) and, as Go's and OpenSSL's verifiers accept,
// underscores.
var hostLabel = regexp.MustCompile(`^[A-Za-z0-9_]([-A-Za-z0-9_]*[A-Za-z0-9_])?$`)

// DNSNameToASCII returns a leaf's DNS name as a certificate carries it:
// an internationalised name's labels as A-labels (xn--...), as IDNA 2008
// (UTS #46) maps them; an ASCII name as it is. A wildcard's "*." is kept.
func DNSNameToASCII(d string) (string, error) {
	wild, rest := "", d
	if strings.HasPrefix(d, "*.") {
		wild, rest = "*.", d[2:]
	}
	for _, r := range rest {
		if r >= 0x80 {
			a, err := idna.Lookup.ToASCII(rest)
			if err != nil {
				return "", err
			}
			return wild + a, nil
		}
	}
	return d, nil
}

// checkDNSName refuses a subject alternative name no TLS stack matches: an
// empty name or label, a wildcard anywhere but a whole leftmost label, an
// IP address or an email address (each has its own kind of name), a name
// over 253 characters or with a label over 63.
func checkDNSName(errs *FieldErrors, p, d string) {
	switch {
	case d == "":
		errs.add(p, "is empty")
		return
	case net.ParseIP(d) != nil:
		errs.add(p, "%q is an IP address: list it under ipAddresses", d)
		return
	case strings.Contains(d, "@"):
		errs.add(p, "%q is an email address, not a DNS name: carousel issues no email names", d)
		return
	}
	a, err := DNSNameToASCII(d)
	if err != nil {
		errs.add(p, "%q is not a DNS name IDNA can convert to ASCII: %v", d, err)
		return
	}
	name := strings.TrimPrefix(a, "*.")
	if len(a) > 253 {
		errs.add(p, "%q is longer than 253 characters", d)
		return
	}
	for _, l := range strings.Split(name, ".") {
		switch {
		case l == "":
			errs.add(p, "%q has an empty label", d)
			return
		case strings.Contains(l, "*"):
			errs.add(p, "%q: a wildcard must be the whole leftmost label (*.example.com)", d)
			return
		case len(l) > 63:
			errs.add(p, "%q has a label longer than 63 characters", d)
			return
		case !hostLabel.MatchString(l):
			errs.add(p, "%q: label %q may hold only letters, digits, hyphens (not at either end) and underscores", d, l)
			return
		}
	}
}

// checkLabelSelector holds a selector's expressions to the rules the API
// server holds a metav1.LabelSelector to: In and NotIn need values, Exists
// and DoesNotExist take none.
func checkLabelSelector(errs *FieldErrors, p string, sel *LabelSelector) {
	if sel == nil {
		return
	}
	for i, e := range sel.MatchExpressions {
		ep := fmt.Sprintf("%s.matchExpressions[%d]", p, i)
		if e.Key == "" {
			errs.add(ep+".key", "is required")
		}
		switch e.Operator {
		case OpIn, OpNotIn:
			if len(e.Values) == 0 {
				errs.add(ep+".values", "%s needs values", e.Operator)
			}
		case OpExists, OpDoesNotExist:
			if len(e.Values) > 0 {
				errs.add(ep+".values", "%s takes no values", e.Operator)
			}
		default:
			errs.add(ep+".operator", "%q is not an operator (want In, NotIn, Exists or DoesNotExist)", e.Operator)
		}
	}
}

func checkSecret(errs *FieldErrors, p string, t SecretTarget) {
	if !dnsSubdomain.MatchString(t.Name) {
		errs.add(p+".name", "%q must be a DNS subdomain (a-z, 0-9, \"-\" and \".\", at most 253 characters)", t.Name)
	}
	if !dnsLabel.MatchString(t.Namespace) {
		errs.add(p+".namespace", "%q must be a namespace name (a DNS label: a-z, 0-9 and \"-\", at most 63 characters)", t.Namespace)
	}
	for _, k := range []struct{ f, v string }{{"cert", t.Keys.Cert}, {"key", t.Keys.Key}, {"ca", t.Keys.CA}, {"chain", t.Keys.Chain}} {
		if k.v != "" && k.v != OmitKey && !dataKey.MatchString(k.v) {
			errs.add(p+".keys."+k.f, "%q is not a valid data key", k.v)
		}
	}
	if t.Keys.Cert == OmitKey || t.Keys.Key == OmitKey {
		errs.add(p+".keys", "cert and key cannot be left out")
	}
	if t.Type == DefaultSecretType && (t.Keys.Cert != "tls.crt" || t.Keys.Key != "tls.key") {
		errs.add(p+".type", "a %s Secret must hold tls.crt and tls.key (the API server refuses it otherwise): use type Opaque for other keys", DefaultSecretType)
	}
}

// checkKey checks a key's algorithm and that its encoding can hold it: PKCS#1
// is RSA's own format and SEC 1 elliptic curves', so either on another
// algorithm is a spec error, not a surprise at `start`.
func checkKey(errs *FieldErrors, p string, k Key) {
	if !slices.Contains(KeyAlgorithms, k.Algorithm) {
		errs.add(p+".algorithm", "%q is not supported (want one of %s)", k.Algorithm, strings.Join(KeyAlgorithms, ", "))
	}
	switch k.Encoding {
	case "", KeyEncodingPKCS8:
	case KeyEncodingPKCS1:
		if !strings.HasPrefix(k.Algorithm, "rsa-") {
			errs.add(p+".encoding", "pkcs1 holds RSA keys only, not %s (use pkcs8)", k.Algorithm)
		}
	case KeyEncodingSEC1:
		if !strings.HasPrefix(k.Algorithm, "ecdsa-") {
			errs.add(p+".encoding", "sec1 holds ECDSA keys only, not %s (use pkcs8)", k.Algorithm)
		}
	default:
		errs.add(p+".encoding", "%q is not a key encoding (want pkcs8, pkcs1 or sec1)", k.Encoding)
	}
}
