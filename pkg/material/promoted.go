package material

import "github.com/carousel-dev/carousel/pkg/spec"

// AnnotationPromoted marks a KeyPair that a finished rotation promoted: it
// replaced earlier material, so the workloads that consume it have carried
// the rotation's restart annotation since. Material recorded by `init` (or
// adopted) carries no mark: rendering steady over it adds no annotation, so
// adopting carousel rolls nothing.
const AnnotationPromoted = spec.AnnotationPrefix + "promoted"

// Promoted reports whether a finished rotation promoted the pair.
func (k KeyPair) Promoted() bool {
	return k.Source != nil && k.Source.GetAnnotations()[AnnotationPromoted] == "true"
}
