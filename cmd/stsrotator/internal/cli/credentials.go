package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/stsrotator/stsrotator/shared/credprovider"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// DefaultMinValidity is the least validity credential-process and env
// hand out: less would fail in the caller's hands before its SDK thinks
// of refreshing.
const DefaultMinValidity = time.Minute

type credFlags struct {
	target, secretID string
	minValidity      time.Duration
}

func (c *credFlags) register(fs *flagSet) {
	fs.StringVar(&c.target, "target", "", "config target `name` (its secret is stsrotator/NAME unless the config names another)")
	fs.StringVar(&c.secretID, "secret-id", "", "read this secret `name or ARN` instead of a target's")
	fs.DurationVar(&c.minValidity, "min-validity", DefaultMinValidity, "refuse credentials with less than this `duration` left")
}

// phases records where credential-process spends its time, for
// STSROTATOR_TIMINGS and the benchmark that reads it.
type phases struct {
	now   func() time.Time
	last  time.Time
	parts []string
}

func (p *phases) mark(name string) {
	if p == nil {
		return
	}
	t := p.now()
	p.parts = append(p.parts, fmt.Sprintf("%s=%.2fms", name, float64(t.Sub(p.last).Microseconds())/1000))
	p.last = t
}

// fetch reads the credentials for the command's target, mapping every
// failure to its exit code.
func (a *App) fetch(ctx context.Context, fs *flagSet, c credFlags, ph *phases) (aws.Credentials, error) {
	r, err := a.resolve(fs.g, c.target, c.secretID)
	if err != nil {
		return aws.Credentials{}, err
	}
	cfg, err := a.LoadAWS(ctx, fs.g)
	if err != nil {
		return aws.Credentials{}, err
	}
	ph.mark("config")
	p := credprovider.New(secretsmanager.NewFromConfig(cfg), r.Target, credprovider.WithSecretID(r.SecretID), credprovider.WithClock(a.Now))
	creds, err := p.Retrieve(ctx)
	ph.mark("get")
	return a.checked(r, p, c.minValidity)(creds, err)
}

// orTarget is a target for a fix hint: the one named on the command line,
// else the one in the secret's metadata, else a placeholder.
func orTarget(t string) string {
	if t != "" {
		return t
	}
	return "TARGET"
}

func (a *App) credentialProcess(ctx context.Context, args []string) error {
	var ph *phases
	if a.Getenv(EnvTimings) != "" {
		ph = &phases{now: a.Now, last: a.Now()}
	}
	var c credFlags
	fs := a.flags("credential-process", "--target NAME | --secret-id ID", `
Prints exactly the JSON that AWS credential_process defines, so this line in
~/.aws/config gives the AWS CLI and every SDK the target's credentials:

  [profile billing]
  credential_process = stsrotator credential-process --secret-id ARN --region REGION

(the line cdk deploy prints as AwsConfig<Name>). Which identity reads the
secret: the profile given with --profile; else, when AWS_PROFILE (or
AWS_DEFAULT_PROFILE) names a profile whose resolution runs stsrotator
credential-process, its own credential_process or a source_profile's
(AWS_PROFILE=billing aws ..., whose environment this command inherits),
as under aws --profile billing: the rest of the default chain without
that profile: AWS_ACCESS_KEY_ID and friends, the default profile, SSO,
container and instance roles; else the whole default chain. A profile
that would start this command again is refused, naming the chain of
profiles that leads back. On a missing, malformed or expired secret it
prints nothing to stdout, one line to stderr, and exits 3, 4 or 5.`)
	c.register(fs)
	fs.profileFor("read the secret")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if err := noArgs(fs, pos); err != nil {
		return err
	}
	if outer := a.Getenv(envGuard); outer != "" {
		// A credential_process this process could not see through (a
		// wrapper script, an alias) started it again.
		if outer == "1" {
			outer = "a profile"
		}
		return coded(ExitUsage, fmt.Errorf("the profile used to read the secret runs stsrotator credential-process itself: the stsrotator credential-process that started this one read its secret as %s, whose resolution ran stsrotator credential-process again (fix: pass --profile with a profile that has its own credentials)", printable(outer)))
	}
	who, dropProfile, err := a.readIdentity(ctx, fs.g)
	if err != nil {
		return err
	}
	_ = a.Setenv(envGuard, who)
	if dropProfile {
		// AWS_PROFILE=billing aws ...: the AWS CLI runs billing's
		// credential_process (this command) with AWS_PROFILE=billing still
		// set. Reading the secret as billing would run this command again;
		// the secret is read with the rest of the default chain instead,
		// as under aws --profile billing, which does not export it.
		_ = a.Unsetenv(envProfile)
		_ = a.Unsetenv(envDefaultProfile)
	}
	creds, err := a.fetch(ctx, fs, c, ph)
	if err != nil {
		return err
	}
	out, err := secretfmt.ProcessJSON(secretfmt.Value{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey,
		SessionToken: creds.SessionToken, Expiration: creds.Expires})
	if err != nil {
		return coded(ExitInvalid, err)
	}
	if _, err := a.Stdout.Write(append(out, '\n')); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	if ph != nil {
		ph.mark("print")
		fmt.Fprintf(a.Stderr, "timings: %s\n", strings.Join(ph.parts, " "))
	}
	return nil
}

func (a *App) env(ctx context.Context, args []string) (err error) {
	var c credFlags
	format := "env"
	defer func() {
		if err != nil && !errors.Is(err, errHelp) && format == "env" {
			err = refuseEnv(a.Stdout, err)
		}
	}()
	fs := a.flags("env", "--target NAME [--format env|dotenv|json]", `
Prints the target's credentials as the standard AWS environment variables:

  eval "$(stsrotator env --target billing-reader)"          # this shell
  stsrotator env --target billing-reader --format dotenv > .env
  stsrotator env --target billing-reader --format json

When it cannot hand out credentials (missing, malformed or expired secret,
any error) the default format still prints shell code: it unsets the four
variables, so no older credentials stay in force, then fails with the exit
code, so the eval above stops a set -e script. dotenv values are quoted the
way the npm dotenv package (and loaders following its rules) reads them
back; python-dotenv's rules differ, and real credentials need no quoting.

Environment variables do not refresh: the process using them must be done
before AWS_CREDENTIAL_EXPIRATION. For long-running programs use
credential_process or serve.`)
	c.register(fs)
	fs.profileFor("read the secret")
	fs.StringVar(&format, "format", "env", "output `format`: env (export lines), dotenv (KEY=value) or json")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if err := noArgs(fs, pos); err != nil {
		return err
	}
	if format != "env" && format != "dotenv" && format != "json" {
		return coded(ExitUsage, fmt.Errorf("--format %q: want env, dotenv or json", format))
	}
	creds, err := a.fetch(ctx, fs, c, nil)
	if err != nil {
		return err
	}
	return writeEnv(a.Stdout, format, creds)
}

// EnvVars are the variables env sets, in the order it prints them.
var EnvVars = []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CREDENTIAL_EXPIRATION"}

// refuseEnv is env's answer when it has no credentials to give: shell code
// for `eval "$(stsrotator env ...)"` that unsets the variables an earlier
// eval exported, so the shell cannot go on signing with them, and then
// fails with the command's exit code, which stops a set -e script. A
// subshell's exit does not close an interactive shell. The reason is on
// stderr, as for every command.
func refuseEnv(w io.Writer, err error) error {
	if _, werr := fmt.Fprintf(w, "unset %s\n(exit %d)\n", strings.Join(EnvVars, " "), codeOf(err)); werr != nil {
		return fmt.Errorf("%w (and writing the unset lines failed: %v)", err, werr)
	}
	return err
}

func writeEnv(w io.Writer, format string, creds aws.Credentials) error {
	vals := []string{creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken, creds.Expires.UTC().Format(time.RFC3339)}
	var b strings.Builder
	switch format {
	case "json":
		m := map[string]string{}
		for i, k := range EnvVars {
			m[k] = vals[i]
		}
		out, err := json.Marshal(m)
		if err != nil {
			return err
		}
		b.Write(out)
		b.WriteByte('\n')
	case "dotenv":
		for i, k := range EnvVars {
			q, err := dotenvQuote(vals[i])
			if err != nil {
				return coded(ExitInvalid, fmt.Errorf("%s: %w (fix: use --format env or json, which carry any value)", k, err))
			}
			fmt.Fprintf(&b, "%s=%s\n", k, q)
		}
	default:
		for i, k := range EnvVars {
			fmt.Fprintf(&b, "export %s=%s\n", k, shellQuote(vals[i]))
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	return nil
}

// dotenvBare is what a dotenv value may hold unquoted: everything real
// credentials contain (base64 and RFC 3339), and nothing the dotenv
// package treats specially (#, quotes, surrounding spaces, newlines).
var dotenvBare = regexp.MustCompile(`^[A-Za-z0-9+/=_.:-]+$`)

// dotenvQuote writes v so the dotenv package (npm dotenv, whose reading
// rules the other dotenv loaders follow) reads back exactly v: bare when
// that is safe; else in single quotes, which it takes literally; else in
// double quotes, where it turns \n and \r into line breaks and nothing else;
// else in backquotes. It reads a raw CR as a line break, so none is
// written raw. A value none of these can carry is refused rather than
// written so that it reads back as something else.
func dotenvQuote(v string) (string, error) {
	switch {
	case dotenvBare.MatchString(v):
		return v, nil
	case !utf8.ValidString(v):
		// Read back as U+FFFD, not as the bytes written.
		return "", errors.New("the value is not valid UTF-8, which a dotenv file cannot carry")
	case strings.ContainsAny(v, "\u2028\u2029"):
		// JavaScript's line terminators: dotenv's fast parser ends a line
		// at them.
		return "", errors.New("the value holds a Unicode line separator, which a dotenv file cannot carry")
	case !strings.ContainsAny(v, "'\r\n"):
		return "'" + v + "'", nil
	case !strings.ContainsAny(v, `"\`):
		return `"` + strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(v) + `"`, nil
	case !strings.ContainsAny(v, "`\r\n"):
		return "`" + v + "`", nil
	}
	return "", errors.New("the value mixes quotes, backslashes and line breaks in a way a dotenv file cannot carry")
}

// shellQuote makes any value one word for POSIX shells.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
