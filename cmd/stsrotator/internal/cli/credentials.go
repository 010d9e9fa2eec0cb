package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/stsrotator/stsrotator/shared/credprovider"
	"github.com/stsrotator/stsrotator/shared/humantime"
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
	switch {
	case errors.Is(err, credprovider.ErrNotFound):
		return aws.Credentials{}, coded(ExitNotFound, err)
	case errors.Is(err, secretfmt.ErrInvalid):
		return aws.Credentials{}, coded(ExitInvalid, err)
	case errors.Is(err, credprovider.ErrExpired):
		return aws.Credentials{}, coded(ExitExpired, err)
	case err != nil:
		return aws.Credentials{}, err
	}
	if left := creds.Expires.Sub(a.Now()); left < c.minValidity {
		return aws.Credentials{}, coded(ExitExpired, fmt.Errorf("secret %s: key %s has %s, under --min-validity %s (fix: stsrotator status; stsrotator rotate %s)",
			r.SecretID, secretfmt.Mask(creds.AccessKeyID), humantime.Left(a.Now(), creds.Expires), humantime.Span(c.minValidity), orTarget(r)))
	}
	return creds, nil
}

func orTarget(r ref) string {
	if r.Target != "" {
		return r.Target
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
  credential_process = stsrotator credential-process --target billing-reader --profile base

Use --profile (or a base profile without credential_process) for the identity
that reads the secret. On a missing, malformed or expired secret it prints
nothing to stdout, one line to stderr, and exits 3, 4 or 5.`)
	c.register(fs)
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if err := noArgs(fs, pos); err != nil {
		return err
	}
	if a.Getenv(envGuard) != "" {
		return coded(ExitUsage, errors.New("the profile used to read the secret runs stsrotator credential-process itself (fix: pass --profile with a profile that has its own credentials)"))
	}
	_ = a.Setenv(envGuard, "1")
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

func (a *App) env(ctx context.Context, args []string) error {
	var c credFlags
	var format string
	fs := a.flags("env", "--target NAME [--format env|dotenv|json]", `
Prints the target's credentials as the standard AWS environment variables:

  eval "$(stsrotator env --target billing-reader)"          # this shell
  stsrotator env --target billing-reader --format dotenv > .env
  stsrotator env --target billing-reader --format json

Environment variables do not refresh: the process using them must be done
before AWS_CREDENTIAL_EXPIRATION. For long-running programs use
credential_process or serve.`)
	c.register(fs)
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

func writeEnv(w io.Writer, format string, creds aws.Credentials) error {
	vars := [][2]string{
		{"AWS_ACCESS_KEY_ID", creds.AccessKeyID},
		{"AWS_SECRET_ACCESS_KEY", creds.SecretAccessKey},
		{"AWS_SESSION_TOKEN", creds.SessionToken},
		{"AWS_CREDENTIAL_EXPIRATION", creds.Expires.UTC().Format(time.RFC3339)},
	}
	var b strings.Builder
	switch format {
	case "json":
		m := map[string]string{}
		for _, v := range vars {
			m[v[0]] = v[1]
		}
		out, err := json.Marshal(m)
		if err != nil {
			return err
		}
		b.Write(out)
		b.WriteByte('\n')
	case "dotenv":
		for _, v := range vars {
			fmt.Fprintf(&b, "%s=%s\n", v[0], v[1])
		}
	default:
		for _, v := range vars {
			fmt.Fprintf(&b, "export %s=%s\n", v[0], shellQuote(v[1]))
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	return nil
}

// shellQuote makes any value one word for POSIX shells.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
