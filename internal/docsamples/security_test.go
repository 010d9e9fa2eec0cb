package docsamples

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stsrotator/stsrotator/internal/awstest"
)

var (
	reAbuseRef  = regexp.MustCompile(`\bTestAbuse_[A-Za-z0-9_]+`)
	reAbuseFunc = regexp.MustCompile(`(?m)^func (TestAbuse_[A-Za-z0-9_]+)\(t \*testing\.T\)`)
)

// TestThreatModelNamesEveryAbuseTest keeps docs/security.md the one threat
// model: every boundary it claims names a TestAbuse_ test that exists, and
// every abuse test in the tree is listed there, so an attack the suite
// covers is never missing from the page and the page never cites a test
// that was renamed or removed.
func TestThreatModelNamesEveryAbuseTest(t *testing.T) {
	root := awstest.RepoRoot(t)
	page, err := os.ReadFile(filepath.Join(root, "docs", "security.md"))
	if err != nil {
		t.Fatal(err)
	}
	cited := map[string]bool{}
	for _, n := range reAbuseRef.FindAllString(string(page), -1) {
		cited[n] = true
	}
	defined := map[string]string{}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "node_modules", ".git", "cdk.out", "dist", ".local":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range reAbuseFunc.FindAllStringSubmatch(string(b), -1) {
			rel, _ := filepath.Rel(root, p)
			defined[m[1]] = rel
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(defined) == 0 {
		t.Fatal("no TestAbuse_ test found in the tree: the walk is broken")
	}
	var missing, unlisted []string
	for n := range cited {
		if _, ok := defined[n]; !ok {
			missing = append(missing, n)
		}
	}
	for n, file := range defined {
		if !cited[n] {
			unlisted = append(unlisted, n+" ("+file+")")
		}
	}
	slices.Sort(missing)
	slices.Sort(unlisted)
	for _, n := range missing {
		t.Errorf("docs/security.md cites %s, which no test defines: name the test that proves the boundary", n)
	}
	for _, n := range unlisted {
		t.Errorf("abuse test %s is not in docs/security.md: add it to the row of the principal it attacks", n)
	}
}
