package check

import (
	"fmt"
	"io"
)

// List is the refusals as -o json and -o yaml write them: a list, empty
// (never null) when the change may merge.
func (r *Report) List() []Refusal {
	if r.Refusals == nil {
		return []Refusal{}
	}
	return r.Refusals
}

// Text writes the refusals for people, each with what to do instead, or
// that file may merge into base. The notes are written apart (they go to
// stderr when the output is for scripts).
func (r *Report) Text(w io.Writer, file, base string) error {
	for _, f := range r.Refusals {
		fmt.Fprintf(w, "REFUSED [%s] %s\n  instead: %s\n", f.Rule, f.Message, f.Fix)
	}
	if len(r.Refusals) == 0 {
		fmt.Fprintf(w, "ok: %s may merge into %s\n", file, base)
	}
	return nil
}
