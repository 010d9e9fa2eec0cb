package suggest

import "testing"

func TestDistance(t *testing.T) {
	cases := []struct {
		why  string
		a, b string
		want int
	}{
		{"equal strings are 0 apart", "status", "status", 0},
		{"a dropped letter is one edit", "stats", "status", 1},
		{"an added letter is one edit", "rotatte", "rotate", 1},
		{"a substituted letter is one edit", "rotane", "rotate", 1},
		{"two swapped neighbours are one edit, not two", "stauts", "status", 1},
		{"the empty string is as far as the other is long", "", "env", 3},
		{"no substring is edited twice (OSA, not full Damerau)", "ca", "abc", 3},
		{"unrelated words are far apart", "serve", "preflight", 8},
	}
	for _, c := range cases {
		if got := Distance(c.a, c.b); got != c.want {
			t.Errorf("%s: Distance(%q, %q) = %d, want %d", c.why, c.a, c.b, got, c.want)
		}
		if got := Distance(c.b, c.a); got != c.want {
			t.Errorf("%s: Distance is not symmetric: Distance(%q, %q) = %d, want %d", c.why, c.b, c.a, got, c.want)
		}
	}
}

func TestClosest(t *testing.T) {
	commands := []string{"credential-process", "env", "status", "rotate", "serve", "report-expired", "preflight", "revoke", "validate", "version"}
	cases := []struct {
		why  string
		s    string
		opts []string
		want string
	}{
		{"issue 21: stats means status", "stats", commands, "status"},
		{"a transposition is found", "roatte", commands, "rotate"},
		{"case is ignored and the option's spelling returned", "STATUS", commands, "status"},
		{"a unique prefix of three letters or more is a hint", "cred", commands, "credential-process"},
		{"an ambiguous prefix is no hint", "re", commands, ""},
		{"too far from everything is no hint", "deploy", commands, ""},
		{"config keys: a missing letter", "refreshBefor", []string{"refreshBefore", "roleArn"}, "refreshBefore"},
		{"flags: a misspelt flag", "taget", []string{"target", "json", "function", "stack"}, "target"},
		{"no options, no hint", "x", nil, ""},
	}
	for _, c := range cases {
		if got := Closest(c.s, c.opts); got != c.want {
			t.Errorf("%s: Closest(%q) = %q, want %q", c.why, c.s, got, c.want)
		}
	}
}
