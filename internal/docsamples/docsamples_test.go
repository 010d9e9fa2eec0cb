package docsamples

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stsrotator/stsrotator/internal/awstest"
)

var update = flag.Bool("update", false, "rewrite the sample outputs in README.md and docs/config.md with what the commands print")

// docs are the pages whose samples must be the code's output.
var docs = []string{"README.md", "docs/config.md"}

// A sample is a fenced block right after a marker naming the command that
// prints it and its exit status:
//
//	<!-- sample exit 2: stsrotator validate --config x.yaml -->
//	```text
//	…what it prints (stdout and stderr, as a terminal shows them)…
//	```
//
// The block may be indented (inside a list item): its lines are then read
// and written with the marker's indent.
var reSample = regexp.MustCompile("(?s)( *)<!-- sample exit (\\d+): (stsrotator [^>]*?) -->\n *```text\n(.*?) *```\n")

// indent adds prefix to every line of s.
func indent(s, prefix string) string {
	if prefix == "" {
		return s
	}
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "")
}

var (
	cliOnce sync.Once
	cliBin  string
	cliErr  error
)

// cli builds the CLI once per test binary, into a directory TestMain
// removes.
func cli(t *testing.T, root string) string {
	t.Helper()
	cliOnce.Do(func() {
		cliBin = filepath.Join(binDir, "stsrotator")
		cmd := exec.Command("go", "build", "-o", cliBin, "./cmd/stsrotator")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			cliErr = fmt.Errorf("build the CLI: %w\n%s", err, out)
		}
	})
	if cliErr != nil {
		t.Fatal(cliErr)
	}
	return cliBin
}

var binDir string

func TestMain(m *testing.M) {
	flag.Parse()
	var err error
	if binDir, err = os.MkdirTemp("", "docsamples-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(binDir)
	os.Exit(code)
}

// run runs a sample's command line from the repository root.
func run(t *testing.T, root, bin, line string) (string, int) {
	t.Helper()
	args := strings.Fields(line)[1:]
	cmd := exec.Command(bin, args...)
	cmd.Dir = root
	// Nothing from this machine's AWS or stsrotator setup.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return out.String(), ee.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v", line, err)
	}
	return out.String(), 0
}

// Issue 21 §3: README's sample `invalid config (1 problem):` was not what
// validate prints. Every sample in the docs is now the command's output.
func TestSamplesAreWhatTheCodePrints(t *testing.T) {
	root := awstest.RepoRoot(t)
	bin := cli(t, root)
	for _, doc := range docs {
		path := filepath.Join(root, doc)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		n := 0
		text = reSample.ReplaceAllStringFunc(text, func(block string) string {
			m := reSample.FindStringSubmatch(block)
			n++
			pad, line, shown := m[1], m[3], m[4]
			want, _ := strconv.Atoi(m[2])
			got, code := run(t, root, bin, line)
			if code != want {
				t.Errorf("%s: `%s` exits %d, the page says %d", doc, line, code, want)
			}
			if indent(got, pad) != shown && !*update {
				t.Errorf("%s: `%s` prints\n%s\nthe page shows\n%s(go test ./internal/docsamples -update rewrites it)", doc, line, got, shown)
			}
			return fmt.Sprintf("%s<!-- sample exit %s: %s -->\n%s```text\n%s%s```\n", pad, m[2], line, pad, indent(got, pad), pad)
		})
		if n == 0 && doc == "docs/config.md" {
			t.Errorf("%s has no sample marked `<!-- sample exit N: stsrotator … -->`", doc)
		}
		if *update {
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// reKeys finds the key lists validate gives for an unknown key.
var reKeys = regexp.MustCompile(`(\S+): unknown key \(fix: valid keys here: ([^)]*)\)`)

// Issue 21 §3: the config reference moved out of README to docs/config.md
// and must not drift from the parser: its table lists exactly the keys
// `validate` accepts in each place (read from the lists it prints for an
// unknown key in each mapping of testdata/unknown-keys.yaml), and a target
// key says "defaults" exactly when defaults may set it.
func TestConfigReferenceListsTheParsersKeys(t *testing.T) {
	root := awstest.RepoRoot(t)
	out, _ := run(t, root, cli(t, root), "stsrotator validate --config internal/docsamples/testdata/unknown-keys.yaml")
	parser := map[string][]string{} // mapping → keys
	for _, m := range reKeys.FindAllStringSubmatch(out, -1) {
		place := "top"
		switch {
		case strings.HasPrefix(m[1], "defaults."):
			place = "defaults"
		case strings.HasPrefix(m[1], "rotator."):
			place = "rotator"
		case strings.HasPrefix(m[1], "alerts."):
			place = "alerts"
		case strings.HasPrefix(m[1], "targets["):
			place = "target"
		}
		parser[place] = strings.Split(m[2], ", ")
	}
	for _, place := range []string{"top", "defaults", "rotator", "alerts", "target"} {
		if len(parser[place]) == 0 {
			t.Fatalf("validate listed no valid keys for %s; its output:\n%s", place, out)
		}
	}

	b, err := os.ReadFile(filepath.Join(root, "docs/config.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]string{} // key as written in the table → Where
	for _, line := range strings.Split(string(b), "\n") {
		cells := strings.Split(line, " | ")
		if len(cells) < 4 || !strings.HasPrefix(cells[0], "| `") {
			continue
		}
		documented[strings.Trim(strings.TrimPrefix(cells[0], "| "), "`")] = cells[1]
	}
	want := map[string]bool{}
	for _, k := range parser["top"] {
		switch k {
		case "rotator", "alerts":
			for _, sub := range parser[k] {
				want[k+"."+sub] = true
			}
		case "defaults":
			want["defaults.*"] = true
		default:
			want[k] = true
		}
	}
	for _, k := range parser["target"] {
		want[k] = true
		where, ok := documented[k]
		if !ok {
			continue
		}
		inDefaults := slices.Contains(parser["defaults"], k)
		if strings.Contains(where, "defaults") != inDefaults {
			t.Errorf("docs/config.md: %s's Where is %q, but defaults may set it: %v", k, where, inDefaults)
		}
	}
	for k := range want {
		if _, ok := documented[k]; !ok {
			t.Errorf("docs/config.md has no row for %s, which the parser accepts", k)
		}
	}
	for k := range documented {
		if !want[k] {
			t.Errorf("docs/config.md documents %s, which the parser does not accept", k)
		}
	}
	for _, k := range parser["defaults"] {
		if !slices.Contains(parser["target"], k) {
			t.Errorf("defaults accepts %s, which no target does: docs/config.md's Where column cannot say so", k)
		}
	}
}

// readmeMaxWords is issue 21's "at most about 1,000 words" for the front
// door; the rest lives in docs/.
const readmeMaxWords = 1000

// Issue 21 §3: README had grown to 2,572 words and one screen of it said
// little a newcomer needed.
func TestREADMEFitsItsBudget(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(awstest.RepoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	// Counted as wc -w counts: runs of non-space.
	if n := len(strings.Fields(string(b))); n > readmeMaxWords {
		t.Errorf("README.md has %d words, over its %d: move detail to docs/ and link it", n, readmeMaxWords)
	}
	for _, must := range []string{"make local", "Ctrl-C", "make test", "credential_process", "stsrotator exec", "--imds", "stsrotator update", "stsrotator doctor", "docs/consumers.md", "docs/config.md"} {
		if !strings.Contains(string(b), must) {
			t.Errorf("README.md no longer mentions %s", must)
		}
	}
}

var (
	reLink    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	reCode    = regexp.MustCompile("(?s)```.*?```|`[^`\n]*`")
	reHeading = regexp.MustCompile(`(?m)^#{1,6} (.+)$`)
)

// slug is GitHub's anchor for a heading: lower case, punctuation other
// than - and _ dropped, spaces to -.
func slug(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127 && r != '…' && r != '→' && r != '—':
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Every relative link in README.md and docs/config.md names a file that
// exists and, with #anchor, a heading in it.
func TestLinksResolve(t *testing.T) {
	root := awstest.RepoRoot(t)
	for _, doc := range docs {
		b, err := os.ReadFile(filepath.Join(root, doc))
		if err != nil {
			t.Fatal(err)
		}
		// Code (fenced or inline) holds no links, only look-alikes such
		// as targets[0](app).
		for _, m := range reLink.FindAllStringSubmatch(reCode.ReplaceAllString(string(b), ""), -1) {
			link := m[1]
			if strings.Contains(link, "://") || strings.HasPrefix(link, "mailto:") {
				continue
			}
			file, anchor, _ := strings.Cut(link, "#")
			target := filepath.Join(root, filepath.Dir(doc), file)
			if file == "" {
				target = filepath.Join(root, doc)
			}
			body, err := os.ReadFile(target)
			if err != nil {
				t.Errorf("%s links %s: %v", doc, link, err)
				continue
			}
			if anchor == "" {
				continue
			}
			found := false
			for _, h := range reHeading.FindAllStringSubmatch(string(body), -1) {
				if slug(h[1]) == anchor {
					found = true
				}
			}
			if !found {
				t.Errorf("%s links %s: no heading in %s has the anchor #%s", doc, link, file, anchor)
			}
		}
	}
}
