package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// The JavaScript consumers (the AWS SDK for JavaScript v3's credential
// providers and the dotenv package) live in testdata/js, pinned by its
// package-lock.json. They are installed there with `npm ci` (from npm's
// cache when it has them) when node_modules is missing or older than the
// lockfile; .ci/run installs them up front.
const jsDir = "testdata/js"

var (
	jsOnce sync.Once
	jsErr  error
)

func installJS() error {
	lock, err := os.Stat(filepath.Join(jsDir, "package-lock.json"))
	if err != nil {
		return err
	}
	if done, err := os.Stat(filepath.Join(jsDir, "node_modules", ".package-lock.json")); err == nil && !done.ModTime().Before(lock.ModTime()) {
		return nil
	}
	cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--prefer-offline")
	cmd.Dir = jsDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("npm ci in %s: %v\n%s", jsDir, err, out)
	}
	return nil
}

// node runs testdata/js/consumer.mjs with env and decodes the one JSON
// value it prints into out; it returns whether the consumer succeeded.
func node(t *testing.T, env []string, out any, args ...string) bool {
	t.Helper()
	jsOnce.Do(func() { jsErr = installJS() })
	if jsErr != nil {
		t.Fatalf("install the JavaScript consumers (fix: node 20+ and npm on PATH, then npm ci in %s): %v", jsDir, jsErr)
	}
	abs, err := filepath.Abs(filepath.Join(jsDir, "consumer.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("node", append([]string{abs}, args...)...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, &stdout, &stderr
	runErr := cmd.Run()
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		t.Fatalf("node consumer.mjs %s: %v; stdout %q stderr %s", strings.Join(args, " "), runErr, stdout.String(), stderr.String())
	}
	return runErr == nil
}

// jsCreds is what consumer.mjs prints for a credential provider.
type jsCreds struct {
	AccessKeyID  string `json:"accessKeyId"`
	SessionToken string `json:"sessionToken"`
	Expiration   string `json:"expiration"`
	Error        string `json:"error"`
	Code         string `json:"Code"`
	Message      string `json:"Message"`
}

// same fails unless the SDK got exactly want's credentials.
func (c jsCreds) same(t *testing.T, how string, want aws.Credentials) {
	t.Helper()
	exp, err := time.Parse(time.RFC3339, c.Expiration)
	if c.Error != "" || err != nil || c.AccessKeyID != want.AccessKeyID || c.SessionToken != want.SessionToken || !exp.Equal(want.Expires) {
		t.Fatalf("%s: the SDK got key %q expiring %q (error %q), want the secret's key %s expiring %s",
			how, c.AccessKeyID, c.Expiration, c.Error, want.AccessKeyID, want.Expires.Format(time.RFC3339))
	}
}

// Issue 15 §7: `env --format dotenv` wrote values unquoted, so a value
// with #, surrounding spaces, quotes or a newline read back differently
// with the dotenv package (a newline even injected a variable) while the
// CLI exited 0. Every value is now either read back exactly by dotenv or
// refused.
func TestDotenvReadsBackWithTheDotenvPackage(t *testing.T) {
	exp := time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC)
	cases := []struct {
		why     string
		value   string
		refused bool
	}{
		{"a real session token (base64) stays bare", "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ+/=", false},
		{"a # would start a comment", "abc#def", false},
		{"surrounding spaces would be trimmed", "  padded  ", false},
		{"a single quote", "it's", false},
		{"a double quote", `say "hi"`, false},
		{"both quotes", `it's "quoted"`, false},
		{"a newline would inject a variable", "line1\nAWS_INJECTED=yes", false},
		{"a carriage return", "a\rb", false},
		{"a backslash in the middle", `a\b`, false},
		{"a trailing backslash", `ends\`, false},
		{"a backslash-n that is not a newline", `literal\n`, false},
		{"a dollar sign and a tab", "$HOME\tx", false},
		{"the empty string", "", false},
		{"quotes, a backslash and a newline together cannot be written", "'\"`\\\n", true},
		{"a Unicode line separator is refused (dotenv's fast parser ends a line there)", "a\u2028b", true},
		{"invalid UTF-8 is refused (it would read back as U+FFFD)", "a\xffb", true},
		{"non-ASCII text is kept", "clé d'été", false},
	}
	dir := t.TempDir()
	var files []string
	var kept []int
	for i, c := range cases {
		var b bytes.Buffer
		err := writeEnv(&b, "dotenv", aws.Credentials{AccessKeyID: "ASIADOTENVTEST000001", SecretAccessKey: "s3cret/with+slash=", SessionToken: c.value, Expires: exp})
		if c.refused {
			if err == nil || codeOf(err) != ExitInvalid || !strings.Contains(err.Error(), "AWS_SESSION_TOKEN") || strings.Contains(err.Error(), c.value) {
				t.Errorf("%s: err %v; want exit %d naming the variable, not quoting the value", c.why, err, ExitInvalid)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", c.why, err)
		}
		f := filepath.Join(dir, fmt.Sprintf("case%d.env", i))
		if err := os.WriteFile(f, b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		files, kept = append(files, f), append(kept, i)
	}
	var parsed []struct{ Default, Fast map[string]string }
	if !node(t, []string{"PATH=" + os.Getenv("PATH")}, &parsed, append([]string{"dotenv"}, files...)...) || len(parsed) != len(files) {
		t.Fatalf("dotenv parsed %d of %d files", len(parsed), len(files))
	}
	for j, i := range kept {
		c := cases[i]
		want := map[string]string{"AWS_ACCESS_KEY_ID": "ASIADOTENVTEST000001", "AWS_SECRET_ACCESS_KEY": "s3cret/with+slash=",
			"AWS_SESSION_TOKEN": c.value, "AWS_CREDENTIAL_EXPIRATION": "2026-11-25T20:00:00Z"}
		for parser, got := range map[string]map[string]string{"default": parsed[j].Default, "fast": parsed[j].Fast} {
			if fmt.Sprint(got) != fmt.Sprint(want) {
				b, _ := os.ReadFile(files[j])
				t.Errorf("%s: dotenv's %s parser read back %q from\n%s", c.why, parser, got, b)
			}
		}
		// The Go port the fuzz target uses agrees with the package.
		b, _ := os.ReadFile(files[j])
		if got := dotenvParse(string(b)); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: the Go port of dotenv's parser read back %q; it no longer matches dotenv", c.why, got)
		}
	}
}
