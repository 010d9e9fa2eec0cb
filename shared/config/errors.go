package config

import (
	"fmt"
	"strings"
)

// FieldError is one problem in a config file, located precisely enough that
// a user can fix it without reading the source.
type FieldError struct {
	File    string // path as given to Load
	Line    int    // 1-based; 0 when the problem is the absence of a field
	Field   string // dotted path, e.g. targets[2].durationSeconds
	Problem string // what is wrong
	Fix     string // what to do instead
}

func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Problem)
	if e.Fix != "" {
		b.WriteString(" (fix: ")
		b.WriteString(e.Fix)
		b.WriteString(")")
	}
	return b.String()
}

// Errors is every problem found in one file, in file order. It is returned
// whole so a user fixes a config in one round trip, not one error per run.
type Errors []*FieldError

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return fmt.Sprintf("invalid config (%d problem%s):\n  %s", len(es), plural(len(es)), strings.Join(lines, "\n  "))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
