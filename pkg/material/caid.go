package material

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/pki"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// AnnotationCAID records a CA generation's ID on its KeyPair: the name
// suffix of every object that stands for that one CA (its generation
// Secret, and whatever points at it: an OSM MeshRootCertificate's
// secretRef, a cert-manager CA Issuer's secretName, a trust-manager
// source). Those references cannot follow a rename (an MRC's secretRef is
// immutable), so the ID is chosen once, when the generation is created
// (init, start, csr --ca), and never changes after: the promotion that
// turns the new generation into the old one moves the pair to the other
// role and keeps the annotation.
//
// A role (old/new) cannot be the ID: the new CA of one rotation is the old
// CA of the next. A fingerprint cannot either: a CA whose key is made in
// the cluster (cert-manager) has no certificate yet when its objects need
// a name. So carousel counts: g1 for the CA init records, then one more
// than any ID in the material for each CA start (or csr --ca) makes.
const AnnotationCAID = spec.AnnotationPrefix + "ca-id"

// caIDPattern: an ID is a DNS label of its own (it ends object names).
var caIDPattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,14}[a-z0-9])?$`)

// numbered matches the IDs carousel gives, g<N>.
var numbered = regexp.MustCompile(`^g([1-9][0-9]{0,8})$`)

// FirstCAID is the ID of the first CA a rotation records.
const FirstCAID = "g1"

// recordedCAID is the ID annotated on the pair's resource ("" when none).
func (k KeyPair) recordedCAID() string {
	if k.Source == nil {
		return ""
	}
	return k.Source.GetAnnotations()[AnnotationCAID]
}

// CAIDRecorded reports whether the CA pair's ID is recorded on it, rather
// than taken from its role: material written before carousel recorded IDs
// (see parseCAID).
func (k KeyPair) CAIDRecorded() bool { return k.recordedCAID() != "" }

// parseCAID reads the ID of a CA pair. A CA pair without one was written
// before carousel recorded IDs; its ID is then its role, "old" or "new",
// which is the suffix its generation objects have had since it was made,
// so upgrading carousel renames nothing. The promotion records that ID
// before the pair changes role (rotate.asGeneration), so a legacy new CA
// keeps the name <secret>-new for its life, as the old CA it becomes.
func parseCAID(k *KeyPair) error {
	id := k.recordedCAID()
	if k.Role != RoleCA {
		if id != "" {
			return fmt.Errorf("is for CA KeyPairs only: a leaf is not a CA generation")
		}
		return nil
	}
	if id == "" {
		k.CAID = string(k.Generation)
		return nil
	}
	if !caIDPattern.MatchString(id) {
		return fmt.Errorf("%q must be a DNS label of at most 16 characters (carousel writes g1, g2, ...)", id)
	}
	k.CAID = id
	return nil
}

// NextCAID is the ID of a CA generation created next to the material in
// set: one more than the highest g<N> there (g1 when there is none, as for
// legacy material whose IDs are its roles). Numbers are not reused while
// a CA holding one is in the material; the number of a new CA abandoned
// (rolled back and deleted) before it was promoted is given again to the
// next new CA, whose objects then take the names the abandoned one's had.
func NextCAID(set *Set) string {
	highest := 0
	for _, k := range set.CA {
		if m := numbered.FindStringSubmatch(k.CAID); m != nil {
			n, _ := strconv.Atoi(m[1])
			highest = max(highest, n)
		}
	}
	return "g" + strconv.Itoa(highest+1)
}

// checkCAIDs refuses two CA generations with one ID: their objects would
// be one object. The same certificate under both roles is a promotion
// half-way (the finished rotation's CA copied to the old role, not yet
// removed from the new), and keeps its one ID.
func checkCAIDs(s *Set) error {
	old, okOld := s.CA[phases.Old]
	nw, okNew := s.CA[phases.New]
	if !okOld || !okNew || old.CAID != nw.CAID || pki.Fingerprint(old.Cert()) == pki.Fingerprint(nw.Cert()) {
		return nil
	}
	field := "metadata.annotations." + AnnotationCAID
	return &FieldError{Node: nw.Source, Field: field,
		Err: fmt.Errorf("the new CA has the ID %q of the old CA %s, another certificate: each CA generation names its own objects (<secret>-<ID>); give the new CA the next ID (%s) or remake it with `carousel start`", nw.CAID, old.Source.GetName(), NextCAID(&Set{CA: map[phases.Generation]KeyPair{phases.Old: old}}))}
}

// GenerationName is the name of an object that stands for one CA
// generation: base (the object's family: a CA Secret's name, an MRC's,
// a cert-manager rotation's) and the generation's CA ID. Every such name,
// in every backend, is made here, so a generation's objects agree with
// each other and keep their name for the CA's life.
func GenerationName(base, caID string) string { return base + "-" + caID }

// NumberedCAID is the ID of the CA numbered n, as carousel counts them
// (FirstCAID is NumberedCAID(1)).
func NumberedCAID(n int) string { return "g" + strconv.Itoa(n) }
