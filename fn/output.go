package fn

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

// outputFlag is -o/--output, which names a format in every command that
// has it: text (for people), json or yaml (for scripts; the same fields),
// and the formats a command adds (extra: status's openmetrics). Files are
// named by --out.
type outputFlag struct {
	format string
	extra  []string
}

func (o *outputFlag) add(c *cobra.Command) {
	c.Flags().StringVarP(&o.format, "output", "o", "text", "the output format: "+o.formats())
}

func (o *outputFlag) formats() string {
	all := append([]string{"text", "json"}, o.extra...)
	return strings.Join(all, ", ") + " or yaml"
}

// check refuses an unknown format before the command does anything.
func (o *outputFlag) check() error {
	switch o.format {
	case "text", "json", "yaml":
		return nil
	}
	if slices.Contains(o.extra, o.format) {
		return nil
	}
	return &usageError{fmt.Errorf("--output must be %s, not %q", o.formats(), o.format)}
}

// write writes v as json or yaml, or calls text for the text format.
func (o *outputFlag) write(w io.Writer, v any, text func(io.Writer) error) error {
	switch o.format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "yaml":
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	return text(w)
}
