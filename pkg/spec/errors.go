package spec

import (
	"fmt"
	"strings"
)

// FieldError is a problem with one field of a resource. Path uses the KRM
// results convention: dot-separated, with [i] for list indices.
type FieldError struct {
	Path    string
	Message string
}

func (e FieldError) Error() string { return e.Path + ": " + e.Message }

// FieldErrors collects every problem so a user fixes a spec in one pass.
type FieldErrors []FieldError

func (es FieldErrors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "; ")
}

func (es *FieldErrors) add(path, format string, args ...any) {
	*es = append(*es, FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
}
