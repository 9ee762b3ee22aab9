package spec

import (
	"fmt"
	"net"
	"regexp"

	"github.com/carousel-dev/carousel/pkg/phases"
)

// secretClaims holds every Secret the spec renders (namespace/name -> the
// path of the field that renders it first): two fields rendering one
// Secret would overwrite each other at every apply.
type secretClaims struct {
	errs  *FieldErrors
	first map[string]string
	// generation is the name rule of spec.ca.secret's generation Secrets,
	// in its namespace (nil without spec.ca.secret).
	generation   *regexp.Regexp
	caNamespace  string
	caSecretName string
}

func (c *secretClaims) claim(path, ns, name string) {
	if c.generation != nil && ns == c.caNamespace && c.generation.MatchString(name) {
		c.errs.add(path, "Secret %s/%s is a name of spec.ca.secret's CA generation Secrets (%s-<CA ID>: -g1, -g2, ..., or -old/-new): choose another name", ns, name, c.caSecretName)
		return
	}
	k := ns + "/" + name
	if prev, ok := c.first[k]; ok {
		c.errs.add(path, "Secret %s is already rendered by %s", k, prev)
		return
	}
	c.first[k] = path
}

// validateMeshRootCertificates checks OSM's MeshRootCertificates, which
// name the CA generation Secrets.
func (s *Spec) validateMeshRootCertificates(errs *FieldErrors) {
	m := s.MeshRootCertificates
	if m == nil {
		return
	}
	if s.Scope != phases.ScopeCA {
		errs.add("spec.meshRootCertificates", "a MeshRootCertificate names a CA: it needs scope: ca")
	}
	if s.CA.Secret == nil {
		errs.add("spec.meshRootCertificates", "each MeshRootCertificate's secretRef names its generation's CA Secret: set spec.ca.secret")
	}
	if !dnsSubdomain.MatchString(m.Name) {
		errs.add("spec.meshRootCertificates.name", "%q must be a DNS subdomain (a-z, 0-9, \"-\" and \".\", at most 253 characters)", m.Name)
	} else if len(m.Name)+generationSuffix > dnsSubdomain.max {
		errs.add("spec.meshRootCertificates.name", "%q is too long: each generation's MeshRootCertificate is named <name>-<CA ID> (up to %d more characters)", m.Name, generationSuffix)
	}
	if !dnsLabel.MatchString(m.Namespace) {
		errs.add("spec.meshRootCertificates.namespace", "%q must be a namespace name (a DNS label: a-z, 0-9 and \"-\", at most 63 characters)", m.Namespace)
	}
}

// validateCA checks the CA and its Secret, and returns the Secret claims
// the other areas add to.
func (s *Spec) validateCA(errs *FieldErrors) *secretClaims {
	s.CA.Validity.check(errs, "spec.ca.validity")
	checkKey(errs, "spec.ca.key", s.CA.Key)
	if s.CA.PathLength != nil && *s.CA.PathLength < 0 {
		errs.add("spec.ca.pathLength", "must not be negative")
	}
	claims := &secretClaims{errs: errs, first: map[string]string{}}
	if s.CA.Secret != nil {
		checkSecret(errs, "spec.ca.secret", *s.CA.Secret)
		if n := s.CA.Secret.Name; len(n)+generationSuffix > dnsSubdomain.max {
			errs.add("spec.ca.secret.name", "%q is too long: each CA generation's Secret is named <name>-<CA ID> (up to %d more characters), and a name may have at most %d", n, generationSuffix, dnsSubdomain.max)
		}
		claims.claim("spec.ca.secret", s.CA.Secret.Namespace, s.CA.Secret.Name)
		// The generation Secrets are <name>-<CA ID>: g1, g2, ... and, for
		// material from before IDs were recorded, old and new. The IDs are
		// in the material, so the spec claims every name they can take.
		claims.generation = regexp.MustCompile(`^` + regexp.QuoteMeta(s.CA.Secret.Name) + `-(old|new|g[0-9]+)$`)
		claims.caNamespace, claims.caSecretName = s.CA.Secret.Namespace, s.CA.Secret.Name
	} else if len(s.CA.TrustedAnnotations) > 0 {
		errs.add("spec.ca.trustedAnnotations", "needs spec.ca.secret: they annotate the CA generation Secrets it renders")
	}
	return claims
}

// validateLeaves checks every leaf and leaf group, and returns the set of
// leaf names the restart rules and probes refer to.
func (s *Spec) validateLeaves(errs *FieldErrors, claims *secretClaims) map[string]bool {
	leafNames := map[string]bool{}
	for i, l := range s.Leaves {
		p := fmt.Sprintf("spec.leaves[%d]", i)
		if !dnsLabel.MatchString(l.Name) {
			errs.add(p+".name", "%q must be a DNS label (a-z, 0-9 and \"-\", at most 63 characters)", l.Name)
		} else if leafNames[l.Name] {
			errs.add(p+".name", "leaf %q is listed twice", l.Name)
		}
		leafNames[l.Name] = true
		checkSecret(errs, p+".secret", l.Secret)
		claims.claim(p+".secret", l.Secret.Namespace, l.Secret.Name)
		l.Validity.check(errs, p+".validity")
		checkKey(errs, p+".key", l.Key)
		for j, u := range l.Usages {
			if u != "server" && u != "client" {
				errs.add(fmt.Sprintf("%s.usages[%d]", p, j), "%q is not a usage (want server or client)", u)
			}
		}
		for j, d := range l.DNSNames {
			checkDNSName(errs, fmt.Sprintf("%s.dnsNames[%d]", p, j), d)
		}
		for j, ip := range l.IPAddresses {
			if net.ParseIP(ip) == nil {
				errs.add(fmt.Sprintf("%s.ipAddresses[%d]", p, j), "%q is not an IP address", ip)
			}
		}
		if l.CommonName == "" && len(l.DNSNames) == 0 && len(l.IPAddresses) == 0 {
			errs.add(p, "a leaf needs a commonName, dnsNames or ipAddresses")
		}
	}
	// A group name selects every leaf of its group wherever a leaf name is
	// taken (start --leaf, csr --leaf). It may equal a leaf's name only when
	// that leaf is in the group (a service with one leaf named after it):
	// otherwise one name would select two different sets of leaves.
	for i, l := range s.Leaves {
		if l.Group == "" {
			continue
		}
		p := fmt.Sprintf("spec.leaves[%d].group", i)
		if !dnsLabel.MatchString(l.Group) {
			errs.add(p, "%q must be a DNS label (a-z, 0-9 and \"-\", at most 63 characters)", l.Group)
		} else if other, ok := s.LeafByName(l.Group); ok && other.Group != l.Group {
			errs.add(p, "%q is also the name of leaf %q, which is not in group %q: name the group differently (or put that leaf in it)", l.Group, other.Name, l.Group)
		}
	}
	return leafNames
}
