package config

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	goyaml "github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/parser"
)

// go.yaml.in/yaml/v3 builds the node tree the decoder walks, but it
// reports many syntax errors at the line where the enclosing block
// started: a key indented three spaces on line 34 is "line 21: did not
// find expected '-' indicator", line 21 being `targets:`. goccy/go-yaml
// reports the token it stopped at, so a file v3 refuses is parsed again
// with goccy to say where the mistake is. v3 stays the judge of what is
// valid: when goccy accepts the file, v3's own message is kept.

// v3Line is the line go.yaml.in/yaml/v3 puts in its syntax errors.
var v3Line = regexp.MustCompile(`^yaml: line (\d+): `)

// syntaxError is the FieldError for data, which go.yaml.in/yaml/v3
// refused with v3err.
func syntaxError(file string, data []byte, v3err error) *FieldError {
	if fe := locate(file, data); fe != nil {
		return fe
	}
	msg := strings.TrimPrefix(v3err.Error(), "yaml: ")
	line := 0
	if m := v3Line.FindStringSubmatch(v3err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = strings.TrimPrefix(v3err.Error(), m[0])
	}
	return &FieldError{File: file, Line: line, Problem: "not valid YAML: " + msg + at(data, line, 0), Fix: syntaxFix(data, line, msg)}
}

// locate is goccy/go-yaml's account of the syntax error in data, or nil
// when it finds none (or fails in a way of its own: it only locates).
func locate(file string, data []byte) (fe *FieldError) {
	defer func() {
		if recover() != nil {
			fe = nil
		}
	}()
	var ge goyaml.Error
	if _, err := parser.ParseBytes(data, 0); errors.As(err, &ge) && ge.GetToken() != nil && ge.GetToken().Position != nil {
		tk := ge.GetToken()
		line, col := tk.Position.Line, tk.Position.Column
		msg := strings.ReplaceAll(ge.GetMessage(), "\t", `\t`)
		if strings.Contains(msg, "mapping value") || strings.Contains(msg, "unexpected key name") {
			// The key or colon that cannot follow a token comes after all
			// of it: a plain scalar continued on the next line ends there.
			line += strings.Count(strings.TrimSpace(tk.Origin), "\n")
			col = 0
		}
		if line < 1 || line > strings.Count(string(data), "\n")+1 {
			return nil
		}
		return &FieldError{File: file, Line: line, Problem: "not valid YAML: " + msg + at(data, line, col), Fix: syntaxFix(data, line, msg)}
	}
	return nil
}

// at quotes the line a syntax error is on, with the column when known,
// so the one-line message shows what to look at.
func at(data []byte, line, col int) string {
	text, ok := sourceLine(data, line)
	if !ok || strings.TrimSpace(text) == "" {
		return ""
	}
	// Indentation is said in the fix, in numbers: one-line output
	// collapses runs of spaces.
	text = strings.TrimSpace(text)
	if len(text) > 80 {
		text = text[:77] + "..."
	}
	if col > 0 {
		return fmt.Sprintf(", at column %d of %q", col, text)
	}
	return fmt.Sprintf(", in %q", text)
}

func sourceLine(data []byte, line int) (string, bool) {
	if line < 1 {
		return "", false
	}
	lines := strings.Split(string(data), "\n")
	if line > len(lines) {
		return "", false
	}
	return strings.TrimRight(lines[line-1], "\r"), true
}

// syntaxFix says what to change on line: tabs and indentation that does
// not line up are the mistakes hand-edited YAML makes most.
func syntaxFix(data []byte, line int, msg string) string {
	text, ok := sourceLine(data, line)
	if !ok {
		return "fix the YAML syntax at the line shown"
	}
	lead := text[:len(text)-len(strings.TrimLeft(text, " \t"))]
	if strings.Contains(lead, "\t") || strings.Contains(msg, "'\\t'") || strings.Contains(msg, "tab") {
		return fmt.Sprintf("indent line %d with spaces: YAML does not allow tabs in indentation", line)
	}
	// The nearest line above with content is what it should most likely
	// line up with.
	for above := line - 1; above >= 1; above-- {
		prev, _ := sourceLine(data, above)
		trimmed := strings.TrimLeft(prev, " ")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		want := len(prev) - len(trimmed)
		if strings.HasPrefix(trimmed, "- ") {
			want += 2
		}
		if got := len(lead); got != want {
			// Which of the two is out of place only the user knows: the
			// parser stops at the second when the first was the mistake.
			return fmt.Sprintf("line %d is indented %d spaces and line %d above it %d: the keys of one mapping line up, so indent whichever of the two is out of place like the other (a nested value goes further in, under a key ending in a colon)", line, got, above, want)
		}
		break
	}
	return fmt.Sprintf("fix the YAML syntax on line %d", line)
}
