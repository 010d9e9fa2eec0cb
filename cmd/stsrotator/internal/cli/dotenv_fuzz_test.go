package cli

import (
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// dotenvLine is dotenv's LINE expression (npm dotenv 18, dist/index.cjs,
// the default parser), which Go's leftmost-first regexp matches the way
// JavaScript's does for the inputs env writes (ASCII whitespace around
// quotes). TestDotenvReadsBackWithTheDotenvPackage checks this port
// against the real package on every case, so the fuzz target below can
// search widely without starting node.
var dotenvLine = regexp.MustCompile("(?m)(?:^|^)\\s*(?:export\\s+)?([\\w.-]+)(?:\\s*=\\s*?|:\\s+?)(\\s*'(?:\\\\'|[^'])*'|\\s*\"(?:\\\\\"|[^\"])*\"|\\s*`(?:\\\\`|[^`])*`|[^#\\r\\n]+)?\\s*(?:#.*)?(?:$|$)")

var dotenvUnquote = regexp.MustCompile("^(['\"`])((?s).*)(['\"`])$")

// dotenvParse is a port of dotenv's parse (the default parser).
func dotenvParse(src string) map[string]string {
	src = strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(src)
	out := map[string]string{}
	for _, m := range dotenvLine.FindAllStringSubmatch(src, -1) {
		v := strings.TrimFunc(m[2], unicode.IsSpace)
		quote := ""
		if v != "" {
			quote = v[:1]
		}
		if u := dotenvUnquote.FindStringSubmatch(v); u != nil && u[1] == u[3] {
			v = u[2]
		}
		if quote == `"` {
			v = strings.NewReplacer(`\n`, "\n", `\r`, "\r").Replace(v)
		}
		out[m[1]] = v
	}
	return out
}

// Whatever a secret holds, env --format dotenv either refuses it or writes
// a file dotenv reads back as exactly the four variables, with exactly
// their values: nothing injected, nothing changed.
func FuzzDotenvQuote(f *testing.F) {
	for _, s := range []string{"IQoJb3JpZ2luX2VjEJr//wEa+/=", "abc#def", "  padded  ", "it's", `say "hi"`, "a\nAWS_INJECTED=yes", "a\rb", `ends\`, `literal\n`, "'\"`\\\n", "", "é\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		var b strings.Builder
		err := writeEnv(&b, "dotenv", aws.Credentials{AccessKeyID: "ASIAFUZZ", SecretAccessKey: "s", SessionToken: v, Expires: time.Unix(0, 0)})
		if err != nil {
			if b.Len() != 0 {
				t.Fatalf("a refused value still wrote %q", b.String())
			}
			return
		}
		got := dotenvParse(b.String())
		if len(got) != len(EnvVars) || got["AWS_SESSION_TOKEN"] != v || got["AWS_ACCESS_KEY_ID"] != "ASIAFUZZ" {
			t.Fatalf("value %q written as\n%s\nreads back as %q", v, b.String(), got)
		}
	})
}

// Whatever a client sends, printable's output holds only graphic
// characters, is stable, and leaves graphic text unchanged.
func FuzzPrintable(f *testing.F) {
	for _, s := range []string{"GET /credentials", "a\nb", "\x1b[2J", "\u202e", "\xff\xfe", "ASIA…0001 \\ é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p := printable(s)
		if strings.IndexFunc(p, func(r rune) bool { return !unicode.IsGraphic(r) }) >= 0 || p != printable(p) {
			t.Fatalf("printable(%q) = %q: not graphic-only or not stable", s, p)
		}
		if strings.IndexFunc(s, func(r rune) bool { return r == unicode.ReplacementChar || !unicode.IsGraphic(r) }) < 0 && p != s {
			t.Fatalf("printable changed graphic text %q to %q", s, p)
		}
	})
}
