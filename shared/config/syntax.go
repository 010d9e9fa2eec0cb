package config

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	goyaml "github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// go.yaml.in/yaml/v3 builds the node tree the decoder walks, but it
// reports many syntax errors at the line where the enclosing block
// started: a key indented three spaces on line 34 is "line 21: did not
// find expected '-' indicator", line 21 being `targets:`. goccy/go-yaml
// reports the token it stopped at, so a file v3 refuses is parsed again
// with goccy to say where the mistake is. v3 stays the judge of what is
// valid: when goccy accepts the file, v3's own message is kept.
//
// Where either parser stops is not always the mistake: a quote or a [ or
// { left open swallows the lines after it, and the parser gives up at
// the next line that cannot be part of it (issue 21's trial: a " open on
// line 33 reported at line 46 as an indentation problem). diagnose looks
// for such a culprit in goccy's tokens before trusting the stopping
// point, and names the fix for each kind of mistake it recognises.

// v3Line is the line go.yaml.in/yaml/v3 puts in its syntax errors.
var v3Line = regexp.MustCompile(`^yaml: line (\d+): `)

// syntaxError is the FieldError for data, which go.yaml.in/yaml/v3
// refused with v3err.
func syntaxError(file string, data []byte, v3err error) *FieldError {
	line, col, msg, ok := locate(data)
	if !ok {
		msg = strings.TrimPrefix(v3err.Error(), "yaml: ")
		line, col = 0, 0
		if m := v3Line.FindStringSubmatch(v3err.Error()); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = strings.TrimPrefix(v3err.Error(), m[0])
		}
	}
	return diagnose(file, data, line, col, msg)
}

// locate is goccy/go-yaml's account of the syntax error in data: the
// line and column of the token it stopped at, and its message. ok is
// false when it finds none (or fails in a way of its own: it only
// locates).
func locate(data []byte) (line, col int, msg string, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	var ge goyaml.Error
	if _, err := parser.ParseBytes(data, 0); errors.As(err, &ge) && ge.GetToken() != nil && ge.GetToken().Position != nil {
		tk := ge.GetToken()
		line, col = tk.Position.Line, tk.Position.Column
		msg = strings.ReplaceAll(ge.GetMessage(), "\t", `\t`)
		if strings.Contains(msg, "mapping value") || strings.Contains(msg, "unexpected key name") {
			// The key or colon that cannot follow a token comes after all
			// of it: a plain scalar continued on the next line ends there.
			line += strings.Count(strings.TrimSpace(tk.Origin), "\n")
			col = 0
		}
		if line < 1 || line > lineCount(data) {
			return 0, 0, "", false
		}
		return line, col, msg, true
	}
	return 0, 0, "", false
}

func lineCount(data []byte) int { return strings.Count(string(data), "\n") + 1 }

// diagnose turns a parser's stopping point into the line to edit and
// what to change there. Parsers stop where the text stops making sense,
// which for some mistakes is far from the mistake: a quote or bracket
// left open swallows the lines after it, so the culprit is looked for
// first, in goccy/go-yaml's tokens, and the stopping point is the answer
// only when nothing earlier explains it.
func diagnose(file string, data []byte, line, col int, msg string) *FieldError {
	tokens := tokenize(data)
	if q := openQuote(tokens, line, col, msg); q != nil {
		problem := fmt.Sprintf("not valid YAML: the %s opened at column %d is never closed", q.mark, q.col)
		fix := fmt.Sprintf("close the quote: end the value on line %d with %s", q.line, q.mark)
		if q.inComment > 0 {
			problem = fmt.Sprintf("not valid YAML: the %s opened at column %d is closed only by the %s at column %d inside the comment", q.mark, q.col, q.mark, q.inComment)
			fix += " before the comment"
		}
		if q.end > q.line {
			problem = fmt.Sprintf("not valid YAML: the %s opened at column %d is not closed on its line, so the value runs on to line %d", q.mark, q.col, q.end)
			fix += fmt.Sprintf(" (a quoted value runs on until the next %s, here on line %d)", q.mark, q.end)
		}
		return &FieldError{File: file, Line: q.line, Problem: problem + at(data, q.line, 0), Fix: fix}
	}
	if o := openFlow(tokens, line, msg); o != nil {
		l, c := o.Position.Line, o.Position.Column
		open, shut, what := "[", "]", "list"
		if o.Type == token.MappingStartType {
			open, shut, what = "{", "}", "mapping"
		}
		problem := fmt.Sprintf("not valid YAML: the %s %s opened at column %d is never closed with %s", open, what, c, shut)
		fix := fmt.Sprintf("close the %s on line %d with %s after its last entry", open, l, shut)
		return &FieldError{File: file, Line: l, Problem: problem + at(data, l, 0), Fix: fix}
	}
	return &FieldError{File: file, Line: line, Problem: "not valid YAML: " + msg + at(data, line, col), Fix: syntaxFix(data, line, msg)}
}

// tokenize is goccy/go-yaml's lexer over data, or nil should it panic:
// the tokens only refine a location.
func tokenize(data []byte) (tokens token.Tokens) {
	defer func() {
		if recover() != nil {
			tokens = nil
		}
	}()
	return lexer.Tokenize(string(data))
}

// quote is a quoted scalar: where its opening mark is, and the line
// its closing one is on (0 when there is none).
type quote struct {
	line, col, end int
	mark           string
	// inComment is the column of the closing mark when it is in what was
	// meant as a comment (`'2700  # botocore's`) on the quote's line.
	inComment int
}

// openQuote is the quoted scalar to blame for a syntax error at (line,
// col) with msg: one the parser says never ends, or one that began on an
// earlier line and ended where the parser gave up. A quoted value may
// span lines in YAML, but in a file that fails to parse right where one
// ends, the quote's other half is the likelier mistake than anything on
// the line the parser stopped at. So is one closed only by a mark in
// what was meant as a comment on its line, when the parser stopped after
// it.
func openQuote(tokens token.Tokens, line, col int, msg string) *quote {
	for mark, kind := range map[string]string{`"`: "double-quoted", "'": "single-quoted"} {
		if strings.Contains(msg, "end character of "+kind) {
			return &quote{line: line, col: col, mark: mark}
		}
	}
	for _, tk := range tokens {
		if tk.Type != token.DoubleQuoteType && tk.Type != token.SingleQuoteType {
			continue
		}
		start := tk.Position.Line
		text := strings.TrimSpace(tk.Origin)
		end := start + strings.Count(text, "\n")
		mark := `"`
		if tk.Type == token.SingleQuoteType {
			mark = "'"
		}
		if start < end && start < line && line <= end+1 {
			return &quote{line: start, col: tk.Position.Column, end: end, mark: mark}
		}
		if start == end && start == line && col > tk.Position.Column && strings.Contains(text, " #") {
			return &quote{line: start, col: tk.Position.Column, end: end, mark: mark, inComment: tk.Position.Column + utf8.RuneCountInString(text) - 1}
		}
	}
	return nil
}

// openFlow is the [ or { left open when the parser says a flow
// collection has no end: the innermost one still open at line, which is
// where the user stopped writing it, not where the parser noticed.
func openFlow(tokens token.Tokens, line int, msg string) *token.Token {
	if !strings.Contains(msg, "']'") && !strings.Contains(msg, "'}'") {
		return nil
	}
	var open []*token.Token
	for _, tk := range tokens {
		if tk.Position.Line > line {
			break
		}
		switch tk.Type {
		case token.SequenceStartType, token.MappingStartType:
			open = append(open, tk)
		case token.SequenceEndType, token.MappingEndType:
			if len(open) > 0 {
				open = open[:len(open)-1]
			}
		}
	}
	if len(open) == 0 {
		return nil
	}
	return open[len(open)-1]
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
	if fix := strayColon(text, line, msg); fix != "" {
		return fix
	}
	if fix := blockScalar(data, line, len(lead)); fix != "" {
		return fix
	}
	// The nearest line above with content is what it should most likely
	// line up with.
	item := strings.HasPrefix(strings.TrimLeft(text, " "), "- ")
	for above := line - 1; above >= 1; above-- {
		prev, _ := sourceLine(data, above)
		trimmed := strings.TrimLeft(prev, " ")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		want := len(prev) - len(trimmed)
		if item && strings.HasPrefix(trimmed, "- ") {
			// Two items: their dashes line up.
			if got := len(lead); got != want {
				return fmt.Sprintf("line %d is a list item indented %d spaces and line %d above it %d: the items of one list line up, so indent whichever of the two is out of place like the other (a nested list goes further in, under a key ending in a colon)", line, got, above, want)
			}
			break
		}
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

// strayColon is the fix for a plain value with ": " in it, which YAML
// reads as a second key on the line (`sessionName: a: b`), or "" when
// line is not that.
func strayColon(text string, line int, msg string) string {
	if !strings.Contains(msg, "mapping value") {
		return ""
	}
	body := strings.TrimPrefix(strings.TrimLeft(text, " "), "- ")
	key, value, ok := strings.Cut(body, ": ")
	value = strings.TrimSpace(value)
	if c := strings.Index(value, " #"); c >= 0 {
		value = strings.TrimSpace(value[:c])
	}
	if !ok || value == "" || strings.ContainsAny(value[:1], `"'[{|>&*!`) || !strings.Contains(value+" ", ": ") {
		return ""
	}
	return fmt.Sprintf("quote the value on line %d: a \": \" inside an unquoted value starts another key, so write %s: %q", line, key, value)
}

// blockHeader is a line that starts a block scalar: `key: |`, `- >-`,
// with an optional comment after the indicator.
var blockHeader = regexp.MustCompile(`^( *)(- +)?([^#]*?: +)?[|>][-+0-9]*( +#.*)?$`)

// blockScalar is the fix for a line inside a block scalar (`key: |`)
// indented less than the block's first line, which ends the block early
// and leaves the line to be read as YAML, or for a block whose lines are
// not indented under its key at all; "" when line is neither.
func blockScalar(data []byte, line, indent int) string {
	lines := strings.Split(string(data), "\n")
	first := 0 // indentation of the block's first line with content
	for above := line - 1; above >= 1; above-- {
		text := strings.TrimRight(lines[above-1], "\r")
		trimmed := strings.TrimLeft(text, " ")
		if trimmed == "" {
			continue
		}
		if m := blockHeader.FindStringSubmatch(text); m != nil {
			own := len(m[1]) + len(m[2]) // a "- " moves the key right
			header := strings.TrimSpace(text)
			switch {
			case first == 0 && indent <= own:
				return fmt.Sprintf("indent the lines of the block scalar started on line %d (%s) further than its key, e.g. %d spaces: a line at the key's indentation or less ends the block", above, header, own+2)
			case first > 0 && indent > own && indent < first:
				return fmt.Sprintf("line %d is indented %d spaces, less than the %d of the first line of the block scalar started on line %d (%s), which ends the block there: indent every line of the block at least %d spaces", line, indent, first, above, header, first)
			}
			return ""
		}
		if first > 0 && len(text)-len(trimmed) > first {
			continue // a line further in than the block's first: still the block
		}
		if len(text)-len(trimmed) <= indent {
			return "" // the structure around line, not a block scalar's content
		}
		first = len(text) - len(trimmed)
	}
	return ""
}
