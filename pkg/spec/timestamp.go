package spec

import (
	"encoding/json"
	"time"
)

// Timestamp is a moment as a spec writes it: RFC 3339 ("2027-01-01T00:00:00Z").
// Like Duration it keeps the text as written, so a spec read and written
// back is unchanged, and the value parsed once, so no renderer parses (or
// could fail on) it again: Validate refuses text that is not RFC 3339,
// with the field's path.
type Timestamp struct {
	text  string
	value time.Time
}

// TimestampOf is t as carousel writes it: UTC, whole seconds. Whole
// seconds because the alert rules compare it with Prometheus's time() as
// a constant, and a reviewer reads it in a pull request.
func TimestampOf(t time.Time) Timestamp {
	t = t.UTC().Truncate(time.Second)
	return Timestamp{text: t.Format(time.RFC3339), value: t}
}

// ParseTimestamp reads a timestamp's text; Validate says what is wrong with
// text that does not parse (Value is then the zero time).
func ParseTimestamp(text string) Timestamp {
	t, _ := time.Parse(time.RFC3339, text)
	return Timestamp{text: text, value: t}
}

// Value is the moment; the zero time when it is unset or did not parse.
func (t Timestamp) Value() time.Time { return t.value }

// String is the text as the spec wrote it.
func (t Timestamp) String() string { return t.text }

// IsZero reports an unset timestamp (json's omitzero leaves it out).
func (t Timestamp) IsZero() bool { return t.text == "" }

// check adds to errs what is wrong with the timestamp at path p.
func (t Timestamp) check(errs *FieldErrors, p string) {
	if _, err := time.Parse(time.RFC3339, t.text); err != nil {
		errs.add(p, "%q is not an RFC 3339 time (e.g. 2027-01-01T00:00:00Z)", t.text)
	}
}

func (t Timestamp) MarshalJSON() ([]byte, error) { return json.Marshal(t.text) }

// UnmarshalJSON never fails: a value that is not a string is kept as its
// JSON text, which is no time, so Validate refuses it with its path.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		s = string(b)
	}
	*t = ParseTimestamp(s)
	return nil
}
