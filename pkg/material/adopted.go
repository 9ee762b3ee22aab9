package material

import "github.com/carousel-dev/carousel/pkg/spec"

// AnnotationAdopted marks a CA KeyPair that `init --ca-cert` adopted: a CA
// another tool made (kubeadm, RKE, openssl, cfssl, cert-manager). It keeps
// its own key algorithm and encoding and its own path length, so the
// function holds it to what TLS stacks need (pki.AdoptCA), not to
// spec.ca.key and spec.ca.pathLength, which describe the CAs carousel
// makes. The mark goes when a finished rotation promotes the CA carousel
// made over it (the promoted pair is the new CA's resource).
const AnnotationAdopted = spec.AnnotationPrefix + "adopted"
