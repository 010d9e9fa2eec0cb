package expiredcreds

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

func readCorpus(tb testing.TB) []Rendering {
	tb.Helper()
	f, err := os.Open("testdata/corpus.txt")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	rs, err := ParseCorpus(f)
	if err != nil {
		tb.Fatalf("testdata/corpus.txt: %v", err)
	}
	return rs
}

// The SDKs and tools the issue names; each must have a positive entry
// (generated ones count in TestRealRenderings).
var requiredSDKs = []string{"Go v1", "Go v2", "botocore/boto3", "AWS CLI v1", "AWS CLI v2", "Java v1", "Java v2",
	"JavaScript v2", "JavaScript v3", ".NET", "Kotlin", "Rust", "C++", "PHP", "Ruby", "PowerShell", "Terraform AWS provider"}

// Issue proof: every positive yields exactly the code, service and
// operation its rendering carries; every negative yields nothing.
func TestCorpus(t *testing.T) {
	entries := readCorpus(t)
	seen := map[string]int{}
	var pos, neg int
	for _, e := range entries {
		if e.Source == "" {
			t.Errorf("corpus.txt:%d: no source for the %s rendering", e.Line, e.SDK)
		}
		got, ok := Classify(e.Text)
		if e.Want == nil {
			neg++
			if ok {
				t.Errorf("corpus.txt:%d (%s, %s): negative reported as %+v", e.Line, e.SDK, e.Source, got)
			}
			continue
		}
		pos++
		seen[e.SDK]++
		if !ok || got != *e.Want {
			t.Errorf("corpus.txt:%d (%s): got %+v %v, want %+v", e.Line, e.SDK, got, ok, *e.Want)
		}
	}
	for _, sdk := range requiredSDKs {
		if seen[sdk] == 0 {
			t.Errorf("no positive rendering from %s", sdk)
		}
	}
	t.Logf("%d positives from %d SDKs and tools, %d negatives", pos, len(seen), neg)
}

// Issue proof: the generated filter pattern, evaluated with the
// documented semantics, lets every positive through. A negative it also
// lets through only costs an invocation; Classify (TestCorpus) rejects it.
func TestFilterPatternOverCorpus(t *testing.T) {
	p := FilterPattern()
	fp, err := parseFilterPattern(p)
	if err != nil {
		t.Fatalf("generated pattern %q: %v", p, err)
	}
	for _, e := range readCorpus(t) {
		woken := fp.match(e.Text, wordTerms) && fp.match(e.Text, substringTerms)
		switch {
		case e.Want != nil && !woken:
			t.Errorf("corpus.txt:%d (%s): the filter pattern does not let it through: %q", e.Line, e.SDK, firstLine(e.Text))
		case e.Want == nil && fp.match(e.Text, substringTerms):
			t.Logf("wakes the watcher but gets no report (Classify rejects it): corpus.txt:%d %q", e.Line, firstLine(e.Text))
		}
	}
}

// The evaluator itself, on the documented examples and on the cases that
// decide whether a pattern is a superset.
func TestFilterPatternSemantics(t *testing.T) {
	cases := []struct {
		why, pattern, event string
		want                bool
	}{
		{"one term", "ERROR", "[ERROR] 400 BAD REQUEST", true},
		{"terms are case-sensitive", "ERROR", "[error] 400", false},
		{"several terms are ANDed", "ERROR ARGUMENTS", "[ERROR] 400 BAD REQUEST", false},
		{"? terms are ORed", "?ERROR ?WARN", "[WARN] disk 90%", true},
		{"a quoted phrase matches as written", `"INTERNAL SERVER ERROR"`, "[ERROR] 500 INTERNAL SERVER ERROR", true},
		{"a quoted phrase is case-sensitive", `"Request has expired"`, "request has expired", false},
		{"- excludes", "ERROR -ARGUMENTS", "[ERROR] ARGUMENTS missing", false},
	}
	for _, c := range cases {
		fp, err := parseFilterPattern(c.pattern)
		if err != nil {
			t.Fatalf("%s: %v", c.why, err)
		}
		if got := fp.match(c.event, wordTerms); got != c.want {
			t.Errorf("%s: %q on %q = %v", c.why, c.pattern, c.event, got)
		}
	}
	for _, bad := range []string{`?foo.bar`, `?"unterminated`, `?a b`, strings.Repeat("?abc ", 300)} {
		if _, err := parseFilterPattern(bad); err == nil {
			t.Errorf("pattern %.40q accepted; CloudWatch Logs would not read it as meant", bad)
		}
	}
}

// filterPattern is an unstructured-event filter pattern as documented in
// https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html:
// terms are case-sensitive; a term with anything but letters, digits and
// underscores must be a double-quoted phrase; "?term ?term" matches when
// any matches; plain terms must all match; "-term" excludes.
type filterPattern struct {
	or, and, not []term
}

type term struct {
	text   string
	quoted bool
}

func parseFilterPattern(p string) (filterPattern, error) {
	var fp filterPattern
	if len(p) > MaxFilterPatternLen {
		return fp, fmt.Errorf("%d characters, over the %d CloudWatch Logs takes", len(p), MaxFilterPatternLen)
	}
	rest := strings.TrimSpace(p)
	for rest != "" {
		op := byte(0)
		if rest[0] == '?' || rest[0] == '-' {
			op, rest = rest[0], rest[1:]
		}
		var tm term
		if strings.HasPrefix(rest, `"`) {
			end := strings.Index(rest[1:], `"`)
			if end < 0 {
				return fp, fmt.Errorf("unterminated quoted phrase in %q", p)
			}
			tm, rest = term{text: rest[1 : end+1], quoted: true}, rest[end+2:]
		} else {
			word, after, _ := strings.Cut(rest, " ")
			for _, r := range word {
				if !(r == '_' || r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z') {
					return fp, fmt.Errorf("term %q has %q: quote it", word, r)
				}
			}
			tm, rest = term{text: word}, after
		}
		switch op {
		case '?':
			fp.or = append(fp.or, tm)
		case '-':
			fp.not = append(fp.not, tm)
		default:
			fp.and = append(fp.and, tm)
		}
		rest = strings.TrimLeft(rest, " ")
	}
	if len(fp.or) > 0 && len(fp.and) > 0 {
		return fp, fmt.Errorf("mixes ?terms with plain terms; the documented OR form is ?term ?term")
	}
	return fp, nil
}

// How an unquoted term is found: the documentation does not say whether
// "ExpiredToken" matches inside "ExpiredTokenException", so the corpus test
// requires a match under both readings.
type termMode int

const (
	wordTerms termMode = iota
	substringTerms
)

func (t term) in(event string, mode termMode) bool {
	if t.quoted || mode == substringTerms {
		return strings.Contains(event, t.text)
	}
	for i := 0; ; {
		j := strings.Index(event[i:], t.text)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(t.text)
		if (start == 0 || !isWord(event[start-1])) && (end == len(event) || !isWord(event[end])) {
			return true
		}
		i = start + 1
	}
}

func isWord(b byte) bool {
	return b == '_' || b >= '0' && b <= '9' || b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z'
}

func (fp filterPattern) match(event string, mode termMode) bool {
	for _, t := range fp.not {
		if t.in(event, mode) {
			return false
		}
	}
	if len(fp.or) > 0 {
		for _, t := range fp.or {
			if t.in(event, mode) {
				return true
			}
		}
		return false
	}
	for _, t := range fp.and {
		if !t.in(event, mode) {
			return false
		}
	}
	return true
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
