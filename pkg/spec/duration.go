package spec

import (
	"encoding/json"
	"time"
)

// Duration is a Go duration as a spec writes it ("8760h"). It keeps the
// text as written, so a spec read and written back is unchanged, and the
// value parsed once when it is read, so no renderer parses (or could fail
// on) a duration again: Validate refuses a spec whose text is not a
// positive duration, with the field's path, and every caller of Value runs
// after it.
type Duration struct {
	text  string
	value time.Duration
}

// DurationOf is d as a spec would write it.
func DurationOf(d time.Duration) Duration { return Duration{text: d.String(), value: d} }

// ParseDuration reads a duration's text; Validate says what is wrong with
// text that does not parse (Value is then zero).
func ParseDuration(text string) Duration {
	d, _ := time.ParseDuration(text)
	return Duration{text: text, value: d}
}

// Value is the duration; zero when it is unset or did not parse (Validate
// refuses both before anything reads it).
func (d Duration) Value() time.Duration { return d.value }

// String is the text as the spec wrote it.
func (d Duration) String() string { return d.text }

// IsZero reports an unset duration (json's omitzero leaves it out).
func (d Duration) IsZero() bool { return d.text == "" }

// check adds to errs what is wrong with the duration at path p.
func (d Duration) check(errs *FieldErrors, p string) {
	v, err := time.ParseDuration(d.text)
	if err != nil {
		errs.add(p, "%q is not a duration (use Go units, e.g. 8760h)", d.text)
	} else if v <= 0 {
		errs.add(p, "must be positive")
	}
}

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.text) }

// UnmarshalJSON never fails: a value that is not a string is kept as its
// JSON text, which is no duration, so Validate refuses it with its path (the
// schema names its type as well).
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		s = string(b)
	}
	*d = ParseDuration(s)
	return nil
}
