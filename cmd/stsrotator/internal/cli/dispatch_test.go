package cli

import (
	"bytes"
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

// --version and -v print exactly what version prints.
func TestVersionFlagsAreVersion(t *testing.T) {
	run := func(args ...string) string {
		var out, errb bytes.Buffer
		if code := New(&out, &errb).Run(context.Background(), args); code != ExitOK || errb.Len() > 0 {
			t.Fatalf("%v: exit %d, stderr %q", args, code, errb.String())
		}
		return out.String()
	}
	want := run("version")
	for _, alias := range []string{"--version", "-v", "-version"} {
		if got := run(alias); got != want {
			t.Errorf("%s printed %q, version prints %q", alias, got, want)
		}
	}
}

// Every Exit* constant is in the usage text and in docs/consumers.md's
// table, so a new exit code cannot ship undocumented. The constants are
// read from the source, not from a list kept by hand.
func TestExitCodesDocumented(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "cli.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]int{}
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Values) != 1 || !strings.HasPrefix(vs.Names[0].Name, "Exit") {
			return true
		}
		if lit, ok := vs.Values[0].(*ast.BasicLit); ok {
			v, _ := strconv.Atoi(lit.Value)
			codes[vs.Names[0].Name] = v
		}
		return true
	})
	if len(codes) < 14 || codes["ExitNotRotated"] != ExitNotRotated {
		t.Fatalf("read %d exit codes from cli.go: %v", len(codes), codes)
	}
	var usage bytes.Buffer
	New(&usage, &usage).usage(&usage)
	text := strings.Join(strings.Fields(usage.String()), " ")
	doc, err := os.ReadFile("../../../../docs/consumers.md")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]string{}
	for name, code := range codes {
		if other, dup := seen[code]; dup {
			t.Errorf("%s and %s are both %d: exit codes only gain values", name, other, code)
		}
		seen[code] = name
		n := strconv.Itoa(code)
		if !strings.Contains(text, " "+n+" ") && !strings.HasPrefix(strings.SplitN(text, "Exit codes: ", 2)[1], n+" ") {
			t.Errorf("usage does not document %s (%d)", name, code)
		}
		if !bytes.Contains(doc, []byte("\n| "+n+" | ")) {
			t.Errorf("docs/consumers.md's exit-code table has no row for %s (%d)", name, code)
		}
	}
}
