package cli

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/internal/mototest"
	"github.com/stsrotator/stsrotator/shared/events"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// Every command explains itself, and the dispatcher's exit codes hold.
func TestHelpAndUsage(t *testing.T) {
	env := awstest.Start(t)
	for _, c := range commands() {
		a, out, errb := testApp(env, time.Now, nil)
		r := execute(t, a, out, errb, c.name, "--help")
		if r.code != ExitOK || !strings.Contains(r.stdout, "Usage: stsrotator "+c.name) || !strings.Contains(r.stdout, "--region") || r.stderr != "" {
			t.Errorf("%s --help: exit %d, stdout %q, stderr %q", c.name, r.code, r.stdout, r.stderr)
		}
	}
	cases := []struct {
		why    string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"no command is a usage error, with the command list on stderr", nil, ExitUsage, "", "Commands:"},
		{"help lists every command on stdout", []string{"help"}, ExitOK, "report-expired", ""},
		{"help CMD is CMD --help", []string{"help", "serve"}, ExitOK, "Usage: stsrotator serve", ""},
		{"an unknown command is a usage error", []string{"frobnicate"}, ExitUsage, "", `unknown command "frobnicate"`},
		{"an unknown flag is a usage error naming the flag", []string{"status", "--colour"}, ExitUsage, "", "flag provided but not defined: --colour"},
		{"issue 21: a misspelt command gets the one it most likely means", []string{"stats"}, ExitUsage, "", `unknown command "stats" (did you mean stsrotator status?`},
		{"a transposed command too", []string{"roatte", "--target", "a"}, ExitUsage, "", "did you mean stsrotator rotate?"},
		{"a misspelt --version before any command", []string{"--verison"}, ExitUsage, "", "did you mean stsrotator --version?"},
		{"nothing close, no guess", []string{"frobnicate"}, ExitUsage, "", "(run stsrotator help)"},
		{"a one-letter flag is named as typed, not as --v", []string{"status", "-v"}, ExitUsage, "", "not defined: -v (run stsrotator status --help)"},
		{"a command's flag before any command says where flags go", []string{"--target", "billing-reader"}, ExitUsage, "", `unknown command "--target" (flags go after the command, e.g. stsrotator status --target …`},
		{"a misspelt flag gets the command's flag it most likely means", []string{"status", "--taget", "a"}, ExitUsage, "", "not defined: --taget; did you mean --target? (run stsrotator status --help)"},
		{"a global flag is among the command's flags", []string{"env", "--target", "a", "--regoin", "eu-west-1"}, ExitUsage, "", "did you mean --region?"},
		{"a flag of another command is not suggested", []string{"env", "--target", "a", "--stack", "x"}, ExitUsage, "", "not defined: --stack (run stsrotator env --help)"},
		{"issue 21: --version is version", []string{"--version"}, ExitOK, "stsrotator ", ""},
		{"issue 21: -v is version", []string{"-v"}, ExitOK, "stsrotator ", ""},
		{"usage names --version", []string{"help"}, ExitOK, "--version (or -v)", ""},
		{"usage documents exit 13", []string{"help"}, ExitOK, "13 rotate held back", ""},
		{"issue 21: rotate --help no longer promises a rotation whatever the age", []string{"rotate", "--help"}, ExitOK, "rotate exits 13 saying when\nto try again", ""},
		{"rotate's usage line names the target the way every command does", []string{"rotate", "--help"}, ExitOK, "Usage: stsrotator rotate --target NAME", ""},
		{"completion bash: cobra's V2 script, registered for stsrotator", []string{"completion", "bash"}, ExitOK, "complete -o default -F __start_stsrotator stsrotator", ""},
		{"completion zsh", []string{"completion", "zsh"}, ExitOK, "#compdef stsrotator", ""},
		{"completion fish", []string{"completion", "fish"}, ExitOK, "complete -c stsrotator", ""},
		{"completion needs a shell", []string{"completion"}, ExitUsage, "", "name one shell: stsrotator completion bash|zsh|fish"},
		{"an unknown shell gets the closest", []string{"completion", "bsh"}, ExitUsage, "", `no completion for shell "bsh"; did you mean bash?`},
		{"completion --help says how to load each", []string{"completion", "--help"}, ExitOK, "source <(stsrotator completion zsh)", ""},
		{"rotate takes one target, not a flag and a name", []string{"rotate", "--target", "a", "b"}, ExitUsage, "", "name one target: --target NAME, or NAME alone"},
		{"a flag without its value is named with two dashes, as --help spells it", []string{"env", "--target"}, ExitUsage, "", "flag needs an argument: --target"},
		{"a bad flag value is named with two dashes", []string{"credential-process", "--target", "a", "--min-validity", "soon"}, ExitUsage, "", `invalid value "soon" for flag --min-validity`},
		{"rotate's --profile is the identity that invokes the rotator", []string{"rotate", "--help"}, ExitOK, "profile to invoke the rotator function with", ""},
		{"credential-process's --profile is the identity that reads the secret", []string{"credential-process", "--help"}, ExitOK, "profile to read the secret with", ""},
		{"credential-process --help says which identity reads the secret under AWS_PROFILE", []string{"credential-process", "--help"}, ExitOK, "the rest of the default chain without\nthat profile", ""},
		{"env --help says a refusal unsets the variables and stops set -e", []string{"env", "--help"}, ExitOK, "unsets the four\nvariables", ""},
		{"a duration without its unit gets an example", []string{"env", "--target", "a", "--min-validity", "5"}, ExitUsage, "", "give a duration with its unit, e.g. --min-validity 15m"},
		{"report-expired --help names what each string flag holds", []string{"report-expired", "--help"}, ExitOK, "--app application", ""},
		{"report-expired --help: --host and --via too", []string{"report-expired", "--help"}, ExitOK, "--via how ", ""},
		{"status's usage line names --revocations", []string{"status", "--help"}, ExitOK, "Usage: stsrotator status [--target NAME] [--watch] [--json] [--all] [--revocations]", ""},
		{"env --help names the dotenv package its quoting follows", []string{"env", "--help"}, ExitOK, "npm dotenv package", ""},
		{"revoke --help documents exit 11 for a cutoff ahead of AWS's clock", []string{"revoke", "--help"}, ExitOK, "11 if\na revocation in force", ""},
		{"a stray argument is a usage error", []string{"credential-process", "--target", "a", "extra"}, ExitUsage, "", `unexpected argument "extra"`},
		{"credential-process needs a target or secret", []string{"credential-process"}, ExitUsage, "", "--target NAME"},
		{"env refuses an unknown format", []string{"env", "--target", "a", "--format", "yaml"}, ExitUsage, "", `--format "yaml"`},
		{"rotate needs a target", []string{"rotate"}, ExitUsage, "", "stsrotator rotate --target NAME"},
		{"report-expired needs a target", []string{"report-expired"}, ExitUsage, "", "--target NAME"},
		{"--via names every accepted value, from the one list", []string{"report-expired", "--target", "a", "--via", "pager"}, ExitUsage, "", `--via "pager": want library, cli, logs, manual or serve`},
		{"report-expired refuses a code that is not ExpiredToken", []string{"report-expired", "--target", "a", "--error-code", "AccessDenied"}, ExitUsage, "", `errorCode is "AccessDenied"`},
	}
	for _, c := range cases {
		t.Run(c.why, func(t *testing.T) {
			a, out, errb := testApp(env, time.Now, nil)
			r := execute(t, a, out, errb, c.args...)
			if r.code != c.code || !strings.Contains(r.stdout, c.stdout) || !strings.Contains(r.stderr, c.stderr) {
				t.Fatalf("exit %d (want %d)\nstdout %q (want %q)\nstderr %q (want %q)", r.code, c.code, r.stdout, c.stdout, r.stderr, c.stderr)
			}
			if strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 && c.code != ExitUsage {
				t.Fatalf("stderr is more than one line: %q", r.stderr)
			}
		})
	}
}

// credential-process and env hand out only usable credentials; every
// failure is one stderr line, nothing on stdout, and its own exit code.
func TestCredentialCommands(t *testing.T) {
	env := awstest.Start(t)
	now := time.Now().UTC().Truncate(time.Second)
	good := value(1, now.Add(time.Hour), now.Add(40*time.Minute))
	putValue(t, env, env.Unique("stsrotator/good"), "good", good)
	putValue(t, env, env.Unique("stsrotator/expired"), "expired", value(2, now.Add(-time.Minute), now.Add(-20*time.Minute)))
	putValue(t, env, env.Unique("stsrotator/ending"), "ending", value(3, now.Add(30*time.Second), now.Add(-20*time.Minute)))
	putRaw(t, env, env.Unique("stsrotator/garbage"), "garbage", "not json cliSecretKeyValue")
	cfgPath := writeConfig(t, target(env, "good"))

	wantJSON, _ := secretfmt.ProcessJSON(good)
	// The form of the deploy's AwsConfig<Name> output (stack.ProfileLine).
	desc, err := env.Secrets.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(env.Unique("stsrotator/good"))})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		why    string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"credential-process prints exactly the credential_process JSON", []string{"credential-process", "--secret-id", env.Unique("stsrotator/good")}, ExitOK, string(wantJSON) + "\n", ""},
		{"the deploy's profile line (secret ARN, pinned region) needs no config file", []string{"credential-process", "--secret-id", aws.ToString(desc.ARN), "--region", env.Config.Region}, ExitOK, string(wantJSON) + "\n", ""},
		{"a target maps to its secret through the config", []string{"credential-process", "--target", "good", "--config", cfgPath}, ExitOK, string(wantJSON) + "\n", ""},
		{"a target the config does not declare is not found", []string{"credential-process", "--target", "nope", "--config", cfgPath}, ExitNotFound, "", `target "nope" is not declared`},
		{"a missing secret is not found", []string{"credential-process", "--secret-id", env.Unique("stsrotator/absent")}, ExitNotFound, "", "secret not found"},
		{"a malformed secret is invalid and its content is not quoted", []string{"credential-process", "--secret-id", env.Unique("stsrotator/garbage")}, ExitInvalid, "", "not JSON"},
		{"expired credentials are refused", []string{"credential-process", "--secret-id", env.Unique("stsrotator/expired")}, ExitExpired, "", "expired at"},
		{"with --secret-id the fix names the target from the secret's metadata", []string{"credential-process", "--secret-id", env.Unique("stsrotator/expired")}, ExitExpired, "", "then stsrotator rotate --target expired)"},
		{"so does the --min-validity refusal", []string{"credential-process", "--secret-id", env.Unique("stsrotator/ending")}, ExitExpired, "", "stsrotator rotate --target ending)"},
		{"credentials about to expire are refused too", []string{"credential-process", "--secret-id", env.Unique("stsrotator/ending")}, ExitExpired, "", "under --min-validity 1m"},
		{"--min-validity can accept them", []string{"credential-process", "--secret-id", env.Unique("stsrotator/ending"), "--min-validity", "10s"}, ExitOK, `"Version":1`, ""},
		{"env prints shell exports", []string{"env", "--secret-id", env.Unique("stsrotator/good")}, ExitOK,
			"export AWS_ACCESS_KEY_ID='" + good.AccessKeyID + "'\nexport AWS_SECRET_ACCESS_KEY='" + good.SecretAccessKey + "'\nexport AWS_SESSION_TOKEN='" + good.SessionToken + "'\nexport AWS_CREDENTIAL_EXPIRATION='" + good.Expiration.Format(time.RFC3339) + "'\n", ""},
		{"env prints dotenv", []string{"env", "--secret-id", env.Unique("stsrotator/good"), "--format", "dotenv"}, ExitOK, "AWS_SESSION_TOKEN=" + good.SessionToken + "\nAWS_CREDENTIAL_EXPIRATION=", ""},
		{"env prints JSON", []string{"env", "--secret-id", env.Unique("stsrotator/good"), "--format", "json"}, ExitOK, `"AWS_SECRET_ACCESS_KEY":"` + good.SecretAccessKey + `"`, ""},
		{"env refuses expired credentials like credential-process", []string{"env", "--secret-id", env.Unique("stsrotator/expired")}, ExitExpired, "", "expired at"},
		{"env refuses a missing secret", []string{"env", "--secret-id", env.Unique("stsrotator/absent")}, ExitNotFound, "", "secret not found"},
		{"env refuses a usage error the same way", []string{"env", "--bogus"}, ExitUsage, "", "--bogus"},
	}
	for _, c := range cases {
		t.Run(c.why, func(t *testing.T) {
			a, out, errb := testApp(env, func() time.Time { return now }, nil)
			r := execute(t, a, out, errb, c.args...)
			if r.code != c.code || !strings.Contains(r.stderr, c.stderr) {
				t.Fatalf("exit %d (want %d), stderr %q (want %q)", r.code, c.code, r.stderr, c.stderr)
			}
			if c.code == ExitOK && (r.stderr != "" || (strings.HasSuffix(c.stdout, "\n") && r.stdout != c.stdout) || !strings.Contains(r.stdout, c.stdout)) {
				t.Fatalf("stdout %q, want %q; stderr %q", r.stdout, c.stdout, r.stderr)
			}
			if c.code != ExitOK {
				// env's refusal is shell code that unsets what an earlier
				// eval exported and fails with the exit code.
				want := ""
				if c.args[0] == "env" {
					want = fmt.Sprintf("unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_CREDENTIAL_EXPIRATION\n(exit %d)\n", c.code)
				}
				if r.stdout != want {
					t.Fatalf("a failure printed %q to stdout, want %q", r.stdout, want)
				}
				if strings.Count(r.stderr, "\n") != 1 {
					t.Fatalf("want exactly one stderr line, got %q", r.stderr)
				}
			}
			noSecrets(t, "stderr", r.stderr)
		})
	}
}

// Issue 15 §6: a stsrotator.yaml in the working directory that does not
// declare the target used to break every --target profile run from there.
// Now the target's default secret is read, and when that does not exist
// either the message names the file that was read and how to avoid it; an
// explicit --config still must declare the target.
func TestConfigInWorkingDirectory(t *testing.T) {
	env := awstest.Start(t)
	now := time.Now().UTC().Truncate(time.Second)
	name := strings.TrimPrefix(env.Unique("stsrotator/wd"), "stsrotator/")
	v := value(51, now.Add(time.Hour), now.Add(40*time.Minute))
	putValue(t, env, "stsrotator/"+name, name, v)
	other := target(env, "other")
	explicit := writeConfig(t, other)
	src, err := os.ReadFile(explicit)
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	if err := os.WriteFile(defaultConfig, src, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		why    string
		args   []string
		code   int
		stderr []string
	}{
		{"a target the working directory's config does not declare reads its default secret", []string{"credential-process", "--target", name}, ExitOK, nil},
		{"when that secret is missing too, the message names the file and the fix", []string{"credential-process", "--target", name + "-absent"}, ExitNotFound,
			[]string{"secret not found", `is not declared in stsrotator.yaml, the config found in the working directory (declared: other)`, "stsrotator/" + name + "-absent", "pass --config"}},
		{"env says the same", []string{"env", "--target", name + "-absent"}, ExitNotFound, []string{"the config found in the working directory"}},
		{"an explicit --config must still declare the target", []string{"credential-process", "--target", name, "--config", explicit}, ExitNotFound, []string{"is not declared in " + explicit}},
	}
	for _, c := range cases {
		t.Run(c.why, func(t *testing.T) {
			a, out, errb := testApp(env, func() time.Time { return now }, nil)
			a.Stat = os.Stat
			r := execute(t, a, out, errb, c.args...)
			if r.code != c.code {
				t.Fatalf("exit %d, want %d; stderr %q", r.code, c.code, r.stderr)
			}
			if c.code == ExitOK && !strings.Contains(r.stdout, v.AccessKeyID) {
				t.Fatalf("stdout does not carry the default secret's key")
			}
			for _, want := range c.stderr {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
				}
			}
		})
	}
}

// report-expired publishes one valid event, masking a whole key.
func TestReportExpired(t *testing.T) {
	env := awstest.Start(t)
	bus, delivered := observedBus(t, env)
	a, out, errb := testApp(env, func() time.Time { return time.Date(2026, 11, 25, 10, 15, 29, 0, time.UTC) }, map[string]string{"STSROTATOR_EVENT_BUS": bus})
	r := execute(t, a, out, errb, "report-expired", "--target", "billing-reader", "--access-key-id", "ASIAABCDEFGHIJKL7XQZ",
		"--service", "s3", "--operation", "GetObject", "--app", "nightly-report", "--message", "The provided token has expired.")
	if r.code != ExitOK || strings.TrimSpace(r.stdout) == "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	got := delivered()
	if len(got) != 1 {
		t.Fatalf("%d events on %s, want 1", len(got), bus)
	}
	d, err := events.ParseExpiredToken([]byte(got[0]))
	if err != nil {
		t.Fatal(err)
	}
	want := events.ExpiredToken{SchemaVersion: events.SchemaVersion, Target: "billing-reader", AccessKeyID: "ASIA…7XQZ", Service: "s3", Operation: "GetObject",
		Region: awstest.Region, ErrorCode: "ExpiredToken", ErrorMessage: "The provided token has expired.",
		ObservedAt: time.Date(2026, 11, 25, 10, 15, 29, 0, time.UTC), Observer: events.Observer{App: "nightly-report", Host: "test-host", Via: "cli"}}
	if d != want {
		t.Fatalf("detail\n got %+v\nwant %+v", d, want)
	}

	// EC2's RequestExpired is an expired session too (and a skewed clock,
	// which the reactor tells apart); it is reported, not refused.
	r = execute(t, a, out, errb, "report-expired", "--target", "billing-reader", "--service", "EC2", "--operation", "DescribeInstances",
		"--error-code", "RequestExpired", "--message", "Request has expired.")
	if r.code != ExitOK {
		t.Fatalf("--error-code RequestExpired: exit %d, stderr %q", r.code, r.stderr)
	}
	if got = delivered(); len(got) != 2 {
		t.Fatalf("%d events on %s, want 2", len(got), bus)
	}
	if d, err = events.ParseExpiredToken([]byte(got[1])); err != nil || d.ErrorCode != "RequestExpired" {
		t.Fatalf("second report %+v: %v", d, err)
	}

	// A message pasted whole from a log, key and all, is sent with the key
	// masked instead of being refused, and the key is never printed.
	const wholeKey = "ASIAQWERTYUIOPASDF12"
	r = execute(t, a, out, errb, "report-expired", "--target", "billing-reader",
		"--message", "ExpiredToken: The security token included in the request is expired; key "+wholeKey+" at 10:15")
	if r.code != ExitOK {
		t.Fatalf("a message with a whole key: exit %d, stderr %q", r.code, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, wholeKey) {
		t.Fatalf("the whole key reached the output: stdout %q stderr %q", r.stdout, r.stderr)
	}
	if got = delivered(); len(got) != 3 || strings.Contains(got[2], wholeKey) {
		t.Fatalf("%d events; the third %q must carry the key masked", len(got), got[len(got)-1])
	}
	if d, err = events.ParseExpiredToken([]byte(got[2])); err != nil || !strings.Contains(d.ErrorMessage, "key ASIA…DF12 at 10:15") {
		t.Fatalf("third report %+v: %v", d, err)
	}

	// A key in a field that is not pasted error text is refused, with a
	// fix a CLI user can follow (no Go identifiers) and without echoing it.
	r = execute(t, a, out, errb, "report-expired", "--target", "billing-reader", "--app", "job "+wholeKey)
	if r.code != ExitUsage || !strings.Contains(r.stderr, "observer.app contains a whole access key ID") ||
		strings.Contains(r.stderr, wholeKey) || strings.Contains(r.stderr, "events.") || strings.Contains(r.stderr, "Publish") {
		t.Fatalf("--app with a whole key: exit %d, stderr %q", r.code, r.stderr)
	}
}

// Issue proof: with no bus given, a consumer in a reader account
// (210987654321) reports to the bus its secret's metadata names — the
// stsrotator account's default bus, addressed by ARN — and the report is
// delivered there (moto routes cross-account PutEvents by ARN). Without
// the metadata the report would land on the reader's own default bus,
// where nothing listens. A secret it cannot read is an error naming the
// fix, not a report sent nowhere.
func TestReportExpiredGoesToTheSecretsBus(t *testing.T) {
	v := value(41, time.Now().Add(time.Hour), time.Now().Add(40*time.Minute))
	rs := newReaderSecret(t, mototest.Start(t), v)
	reader, busArn, delivered, ownBus := rs.reader, rs.busArn, rs.delivered, rs.ownBus

	a, out, errb := testApp(nil, time.Now, map[string]string{})
	a.LoadAWS = func(context.Context, Globals) (aws.Config, error) { return reader, nil }
	r := execute(t, a, out, errb, "report-expired", "--secret-id", rs.arn, "--access-key-id", v.AccessKeyID, "--service", "s3")
	if r.code != ExitOK {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	got := delivered()
	if len(got) != 1 {
		t.Fatalf("%d reports on the stsrotator account's bus %s, want 1 (%d on the reader's own)", len(got), busArn, len(ownBus()))
	}
	if d, err := events.ParseExpiredToken([]byte(got[0])); err != nil || d.SecretID != rs.arn || d.AccessKeyID != v.MaskedKey() {
		t.Fatalf("report %+v: %v", d, err)
	}
	if n := len(ownBus()); n != 0 {
		t.Fatalf("%d reports on the reader's own default bus, want 0", n)
	}

	a, out, errb = testApp(nil, time.Now, map[string]string{})
	a.LoadAWS = func(context.Context, Globals) (aws.Config, error) { return reader, nil }
	r = execute(t, a, out, errb, "report-expired", "--secret-id", "arn:aws:secretsmanager:us-east-1:123456789012:secret:stsrotator/nope-AbCdEf")
	if r.code == ExitOK || !strings.Contains(r.stderr, "--event-bus") {
		t.Fatalf("an unreadable secret: exit %d, stderr %q; want a failure naming --event-bus", r.code, r.stderr)
	}
	// delivered and ownBus list every report so far: still the one.
	if n := len(delivered()) + len(ownBus()); n != 1 {
		t.Fatalf("an unreadable secret still sent %d reports", n-1)
	}
}
