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
		{"an unterminated quote is reported where it opens",
			"targets:\n  - name: \"app\n    roleArn: x\n", []string{"cfg.yaml:2: not valid YAML: "}},
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

// The whole kind, not just issue 21's instance: every line of the
// example config indented 1–3 spaces off, one at a time. Where that is a
// syntax error, the error is at that line, or, when the parser can only
// tell at the next key (the mistake was the first key of a mapping), its
// fix names that line as the other of the two to compare.
func TestEveryIndentationMistakeNamesItsLine(t *testing.T) {
	src, err := os.ReadFile("../../stsrotator.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(src), "\n")
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
