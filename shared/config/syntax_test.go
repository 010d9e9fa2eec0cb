package config

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

// Issue 21: a YAML syntax error is reported at the line that is wrong,
// with what to change there, in the file:line: problem (fix: …) form of
// every config error.
func TestSyntaxErrorsPointAtTheWrongLine(t *testing.T) {
	issue, err := os.ReadFile("testdata/indent-line34.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		why  string
		yaml string
		want []string
	}{
		{"issue 21's input: a key indented 3 spaces on line 34 is reported there, not at targets: on line 21",
			string(issue), []string{"cfg.yaml:34: not valid YAML: ", `at column 4 of "durationSeconds: 2700`, "(fix: line 34 is indented 3 spaces and line 33 above it 4: the keys of one mapping line up"}},
		{"a key indented less than its siblings",
			okTarget + "  durationSeconds: 3600\n", []string{"cfg.yaml:5: not valid YAML: ", "(fix: line 5 is indented 2 spaces and line 4 above it 4"}},
		{"a key indented more than its siblings is the line to fix, not the value it seems to continue",
			okTarget + "      durationSeconds: 3600\n", []string{"cfg.yaml:5: not valid YAML: mapping value is not allowed", "(fix: line 5 is indented 6 spaces and line 4 above it 4"}},
		{"an item's first key after '- ' counts as that item's indentation",
			"targets:\n  - name: app\n   roleArn: arn:aws:iam::123456789012:role/App\n", []string{"cfg.yaml:3: not valid YAML: ", "line 3 is indented 3 spaces and line 2 above it 4"}},
		{"a tab in the indentation says to use spaces",
			okTarget + "\tdurationSeconds: 3600\n", []string{"cfg.yaml:5: not valid YAML: ", `'\t'`, "(fix: indent line 5 with spaces: YAML does not allow tabs in indentation)"}},
		{"an unclosed flow list is reported on its line",
			"targets: [\n", []string{"cfg.yaml:1: not valid YAML: ", `"targets: ["`, "(fix: "}},
		{"an unterminated quote is reported where it opens, with the fix", "targets:\n  - name: \"app\n    roleArn: x\n",
			[]string{"cfg.yaml:2: not valid YAML: ", `the " opened at column 11 is never closed`, `(fix: close the quote: end the value on line 2 with ")`}},
		{"a ' that the next item's ' closes two lines later", "targets:\n  - name: 'app\n    roleArn: x\n  - name: 'b'\n",
			[]string{"cfg.yaml:2: ", "so the value runs on to line 4", "(fix: close the quote: end the value on line 2 with ' (a quoted value runs on until the next ', here on line 4))"}},
		{"a [ list still open at the end of the file", okTarget + "    readers: [a, b\n",
			[]string{"cfg.yaml:5: ", "the [ list opened at column 14 is never closed with ]", "(fix: close the [ on line 5 with ]"}},
		{"a { mapping still open at the end of the file", okTarget + "    tags: {a: b\n",
			[]string{"cfg.yaml:5: ", "the { mapping opened at column 11 is never closed with }", "(fix: close the { on line 5 with }"}},
		{"a ' closed only by an apostrophe in the line's comment says to close it before the comment", okTarget + "    durationSeconds: '2700   # botocore's window\n",
			[]string{"cfg.yaml:5: not valid YAML: the ' opened at column 22 is closed only by the ' at column 40 inside the comment", "(fix: close the quote: end the value on line 5 with ' before the comment)"}},
		{"a value that is itself 'key: value' after a list dash", "targets:\n  - name: a: b\n",
			[]string{"cfg.yaml:2: ", `(fix: quote the value on line 2: a ": " inside an unquoted value starts another key, so write name: "a: b")`}},
	}
	for _, c := range cases {
		_, err := Parse("cfg.yaml", []byte(c.yaml))
		var es Errors
		if !errors.As(err, &es) || len(es) != 1 {
			t.Errorf("%s: want one config error, got %v", c.why, err)
			continue
		}
		if got := es[0].Error(); !containsInOrder(got, c.want) || strings.Contains(got, "\n") {
			t.Errorf("%s:\n got %s\nwant %q in order, on one line", c.why, got, c.want)
		}
	}
}

// The kinds of syntax mistake a hand edit makes, each a one-line change
// to the example config kept in testdata/syntax: the error names the
// line that is wrong (not where a parser gave up, which for an open
// quote or bracket is many lines later) and says what to change there.
func TestEverySyntaxMistakeNamesItsLineAndFix(t *testing.T) {
	cases := []struct {
		file string
		why  string
		line int
		want []string
	}{
		{"unclosed-double-quote.yaml", "issue 21's trial: a \" left open on line 33 is not reported at line 46, where the next \" closes it, nor as an indentation mistake",
			33, []string{`the " opened at column 17 is not closed on its line, so the value runs on to line 46`, `"externalId: \"stsrotator-deploy-bot"`, `(fix: close the quote: end the value on line 33 with "`}},
		{"unclosed-single-quote.yaml", "a ' never closed before the end of the file is reported where it opens",
			38, []string{`the ' opened at column 21 is never closed`, `(fix: close the quote: end the value on line 38 with ')`}},
		{"unclosed-flow-sequence.yaml", "a [ list left open is reported on its line, not at the next top-level key",
			19, []string{"the [ list opened at column 11 is never closed with ]", "(fix: close the [ on line 19 with ] after its last entry)"}},
		{"unclosed-flow-mapping.yaml", "a { mapping left open is reported on its line, not at the next key",
			26, []string{"the { mapping opened at column 18 is never closed with }", "(fix: close the { on line 26 with } after its last entry)"}},
		{"tab-indent.yaml", "a tab used for indentation says to use spaces",
			34, []string{`'\t'`, "(fix: indent line 34 with spaces: YAML does not allow tabs in indentation)"}},
		{"stray-colon.yaml", "a ': ' inside an unquoted value says to quote it, showing how",
			38, []string{`"sessionName: deploy: bot"`, `(fix: quote the value on line 38: a ": " inside an unquoted value starts another key, so write sessionName: "deploy: bot")`}},
		{"duplicate-key.yaml", "a key set twice in one target names the line of the first",
			38, []string{"targets[1](deploy-bot).roleArn: is set twice", "(fix: keep one of them (the first is on line 32))"}},
		{"list-item-indent.yaml", "a list item out of line with the item above compares the two dashes, not a key's column",
			30, []string{"(fix: line 30 is a list item indented 5 spaces and line 29 above it 6: the items of one list line up"}},
		{"block-scalar-indent.yaml", "a line of a block scalar indented less than its first line names the block and the indentation it needs",
			49, []string{"(fix: line 49 is indented 5 spaces, less than the 6 of the first line of the block scalar started on line 46 (sessionPolicy: |)", "indent every line of the block at least 6 spaces)"}},
		{"block-scalar-under-key.yaml", "a block scalar whose lines are not indented under its key says to indent them further",
			47, []string{"(fix: indent the lines of the block scalar started on line 46 (sessionPolicy: |) further than its key, e.g. 6 spaces"}},
	}
	for _, c := range cases {
		data, err := os.ReadFile("testdata/syntax/" + c.file)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Parse(c.file, data)
		var es Errors
		if !errors.As(err, &es) || len(es) != 1 {
			t.Errorf("%s: want one config error, got %v", c.why, err)
			continue
		}
		got := es[0].Error()
		if es[0].Line != c.line || !strings.HasPrefix(got, fmt.Sprintf("%s:%d: ", c.file, c.line)) || !containsInOrder(got, c.want) || strings.Contains(got, "\n") {
			t.Errorf("%s:\n got %s\nwant line %d and %q in order, on one line", c.why, got, c.line, c.want)
		}
	}
}

// The whole kind, not just issue 21's instance: every line of the
// example config indented 1–3 spaces off, one at a time. Where that is a
// syntax error, the error is at that line, or, when the parser can only
// tell at the next key (the mistake was the first key of a mapping), its
// fix names that line as the other of the two to compare.
func TestEveryIndentationMistakeNamesItsLine(t *testing.T) {
	lines := exampleLines(t)
	errs, at := 0, 0
	for i, l := range lines {
		trimmed := strings.TrimLeft(l, " ")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		indent := len(l) - len(trimmed)
		for _, d := range []int{-2, -1, 1, 2, 3} {
			if indent+d < 0 {
				continue
			}
			mut := slices.Clone(lines)
			mut[i] = strings.Repeat(" ", indent+d) + trimmed
			_, err := Parse("c.yaml", []byte(strings.Join(mut, "\n")))
			var es Errors
			if !errors.As(err, &es) || !strings.HasPrefix(es[0].Problem, "not valid YAML") {
				continue // still YAML: the decoder's field checks take over
			}
			errs++
			switch {
			case es[0].Line == i+1:
				at++
			case !strings.Contains(es[0].Fix, fmt.Sprintf(" line %d above it ", i+1)):
				t.Errorf("line %d indented %+d: the error neither is at line %d nor names it: %s", i+1, d, i+1, es[0])
			}
		}
	}
	if errs < 50 || at*10 < errs*8 {
		t.Errorf("%d syntax errors, %d at the changed line: want most at it", errs, at)
	}
}

// The whole kind for quotes, brackets and stray colons: on every line of
// the example config with a plain `key: value`, an opening " or ' with no
// closing one and a value holding ": ", and on every one-line [ ] or { },
// the closing bracket left out, are each reported at that line with the
// fix for that mistake, wherever in the file the parser gave up.
func TestEveryOpenQuoteBracketAndStrayColonNamesItsLine(t *testing.T) {
	lines := exampleLines(t)
	tried, flows := 0, 0
	for i, l := range lines {
		body, comment, _ := strings.Cut(l, " #")
		key, value, ok := strings.Cut(body, ": ")
		value = strings.TrimSpace(value)
		if !ok || value == "" || strings.ContainsAny(value[:1], `"'`) || strings.HasPrefix(strings.TrimSpace(key), "#") {
			continue
		}
		if comment != "" {
			comment = "   #" + comment
		}
		mistakes := []struct{ line, fix string }{
			{key + `: "` + value + comment, fmt.Sprintf(`close the quote: end the value on line %d with "`, i+1)},
			{key + `: '` + value + comment, fmt.Sprintf(`close the quote: end the value on line %d with '`, i+1)},
			{key + ": " + value + ": x" + comment, fmt.Sprintf("quote the value on line %d: ", i+1)},
		}
		if open := value[:1]; open == "[" || open == "{" {
			// A flow collection written on one line, its closing bracket left out.
			shut := map[string]string{"[": "]", "{": "}"}[open]
			flows++
			mistakes = []struct{ line, fix string }{
				{key + ": " + strings.TrimSuffix(value, shut) + comment, fmt.Sprintf("close the %s on line %d with %s", open, i+1, shut)},
			}
		}
		for _, m := range mistakes {
			mut := slices.Clone(lines)
			mut[i] = m.line
			_, err := Parse("c.yaml", []byte(strings.Join(mut, "\n")))
			var es Errors
			if !errors.As(err, &es) || len(es) != 1 || es[0].Line != i+1 || !strings.Contains(es[0].Fix, m.fix) {
				t.Errorf("line %d as %q: want one error at line %d with fix %q, got %v", i+1, m.line, i+1, m.fix, err)
			}
			tried++
		}
	}
	if tried < 30 || flows < 2 {
		t.Errorf("only %d mutations tried, %d of a [ ] or { }: the example config changed shape", tried, flows)
	}
}

// exampleLines is the repository's example config, line by line: the
// file a new user edits first.
func exampleLines(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile("../../stsrotator.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(string(src), "\n")
}
