package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"regexp"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go/middleware"
	"github.com/spf13/cobra"

	"github.com/stsrotator/stsrotator/cmd/stsrotator/internal/preflight"
	"github.com/stsrotator/stsrotator/shared/sourcekey"
	"github.com/stsrotator/stsrotator/shared/suggest"
)

// Exit codes are a contract with scripts: they only ever gain new values.
const (
	ExitOK = 0
	// ExitFailure: AWS or the network failed (access denied, throttling,
	// unreachable endpoint), or the command failed in a way not listed
	// below.
	ExitFailure = 1
	// ExitUsage: unknown command or flag, missing argument, no region, or
	// a config file that does not load.
	ExitUsage = 2
	// ExitNotFound: the target is not declared, or its secret does not
	// exist.
	ExitNotFound = 3
	// ExitInvalid: the secret is not a usable stsrotator value.
	ExitInvalid = 4
	// ExitExpired: the credentials have expired, or will within
	// --min-validity.
	ExitExpired = 5
	// ExitRotationFailed: rotate reached the service, which could not
	// rotate the target.
	ExitRotationFailed = 6
	// ExitUnhealthy: status found at least one secret expired, invalid,
	// missing or unreadable; doctor found a problem.
	ExitUnhealthy = 7
	// ExitBlocked: preflight found something that blocks the deploy.
	ExitBlocked = 8
	// ExitRevokedUnrotated: revoke put the revocation in force but the
	// forced rotation failed, so the target has no valid credentials
	// until a rotation succeeds.
	ExitRevokedUnrotated = 9
	// ExitCleanupRefused: revoke --cleanup found sessions the revocation
	// still denies (they have not all expired yet); nothing was removed.
	ExitCleanupRefused = 10
	// ExitCutoffAhead: revoke found a revocation in force whose cutoff is
	// more than a few seconds ahead of AWS's clock (written by a writer
	// whose clock ran ahead); it denies every session issued before it,
	// so revoke neither moves it back nor waits for it: nothing written,
	// no rotation requested.
	ExitCutoffAhead = 11
	// ExitCheckFailed: status --revocations could not read the
	// revocations of at least one target (UNKNOWN): the check did not
	// happen, so it must not pass.
	ExitCheckFailed = 12
	// ExitNotRotated: rotate reached the rotator, which held the write
	// back: the secret was written less than 10 minutes ago and its
	// credentials are still valid (AWS's write-rate guidance), or
	// Secrets Manager's version quota is used up. The message says when
	// a rotation will be allowed; the current credentials stand.
	ExitNotRotated = 13
)

// Environment variables the CLI reads besides the SDK's own.
const (
	// EnvTimings makes credential-process report its phases on stderr.
	EnvTimings = "STSROTATOR_TIMINGS"
	// envGuard is set while credential-process runs, so a profile whose
	// own credential_process is stsrotator fails at once instead of
	// starting itself forever.
	envGuard = "STSROTATOR_IN_CREDENTIAL_PROCESS"
)

// App runs commands. New fills every field for a real process.
type App struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	Setenv         func(string, string) error
	Unsetenv       func(string) error
	Now            func() time.Time
	// Wall is this machine's clock, which AWS's timestamps (a version's
	// CreatedDate, a revocation's cutoff) are compared with. It differs
	// from Now only under make local's dev clock, where Now runs ahead
	// with the functions' clock; nil means Now.
	Wall     func() time.Time
	Hostname func() (string, error)
	Username func() string
	// LoadAWS builds the SDK configuration from the global flags.
	LoadAWS func(context.Context, Globals) (aws.Config, error)
	// Listen opens serve's socket.
	Listen func(network, addr string) (net.Listener, error)
	// Tick paces status --watch; stop releases it.
	Tick func(time.Duration) (ticks <-chan time.Time, stop func())
	// Stat tells whether the default config file exists.
	Stat func(string) (os.FileInfo, error)
	// ServeLimits bound serve's connections; zero fields take
	// DefaultServeLimits.
	ServeLimits ServeLimits
	// PreflightClients builds preflight's read-only clients.
	PreflightClients func(aws.Config) preflight.Clients
	// Stdin answers revoke's confirmation question.
	Stdin io.Reader
	// ServerTime reads AWS's clock (the Date header) from a response's
	// metadata; revoke takes its cutoff from it, never from Now.
	ServerTime func(middleware.Metadata) (time.Time, bool)
	// Sleep waits (revoke waits for AWS's clock to pass its cutoff).
	Sleep func(context.Context, time.Duration) error
	// SocketOwner finds the uid owning a loopback TCP socket (serve and
	// exec's checks against other local users); nil for the platform's.
	SocketOwner func(local, remote string) (int, error)

	// collecting, when set, receives every flag set a command declares,
	// and parse stops the command there: completion reads each command's
	// real flags this way (spec).
	collecting *[]*flagSet
}

// New returns an App wired to the process.
func New(stdout, stderr io.Writer) *App {
	return &App{
		Stdout: stdout, Stderr: stderr,
		Getenv: os.Getenv, Setenv: os.Setenv, Unsetenv: os.Unsetenv, Now: cliClock(), Wall: time.Now, Hostname: os.Hostname,
		Username: func() string {
			if u, err := user.Current(); err == nil && u.Username != "" {
				return u.Username
			}
			return os.Getenv("USER")
		},
		LoadAWS: LoadAWS,
		Listen:  net.Listen,
		Tick: func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		},
		Stat:             os.Stat,
		PreflightClients: PreflightClients,
		Stdin:            os.Stdin,
		ServerTime:       awsmiddleware.GetServerTime,
		Sleep:            sourcekey.Wait,
	}
}

// wallNow is Wall's time, or Now's without one.
func (a *App) wallNow() time.Time {
	if a.Wall == nil {
		return a.Now()
	}
	return a.Wall()
}

// Globals are the flags every command accepts.
type Globals struct {
	Profile, Region, EndpointURL, Config string
}

// LoadAWS resolves the standard AWS configuration (environment, shared
// config and credentials files, AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL),
// with the flags taking precedence.
func LoadAWS(ctx context.Context, g Globals) (aws.Config, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx, g.loadOptions()...)
	if err != nil {
		return aws.Config{}, coded(ExitUsage, fmt.Errorf("load AWS configuration: %w", err))
	}
	if g.EndpointURL != "" {
		cfg.BaseEndpoint = aws.String(g.EndpointURL)
	}
	if cfg.Region == "" {
		return aws.Config{}, coded(ExitUsage, errors.New("no AWS region (fix: pass --region, set AWS_REGION, or set region in the profile)"))
	}
	return cfg, nil
}

// loadOptions are the global flags as the SDK's load options.
func (g Globals) loadOptions() []func(*awsconfig.LoadOptions) error {
	var opts []func(*awsconfig.LoadOptions) error
	if g.Profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(g.Profile))
	}
	if g.Region != "" {
		opts = append(opts, awsconfig.WithRegion(g.Region))
	}
	return opts
}

// exitError carries the exit code a failure maps to.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func coded(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

func codeOf(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return ExitFailure
}

// errHelp ends a command that printed its help on request.
var errHelp = errors.New("help shown")

type command struct {
	name, summary string
	run           func(a *App, ctx context.Context, args []string) error
}

func commands() []command {
	return []command{
		{"credential-process", "print the AWS credential_process JSON for a target", (*App).credentialProcess},
		{"env", "print the credentials as shell exports, dotenv or JSON", (*App).env},
		{"status", "every managed secret at a glance, most urgent first", (*App).status},
		{"rotate", "ask the deployed service to rotate a target now", (*App).rotate},
		{"serve", "a loopback container-credentials endpoint for SDKs", (*App).serve},
		{"exec", "run a command with the target's credentials, refreshed for its whole life", (*App).execCmd},
		{"report-expired", "publish an ExpiredToken Observed event for a target", (*App).reportExpired},
		{"preflight", "check an account for what a deploy assumes but cannot create", (*App).preflight},
		{"revoke", "deny a leaked target's older sessions, then rotate it", (*App).revoke},
		{"trust", "print the exact trust policy a target's role needs", (*App).trust},
		{"validate", "run every config check synth runs, without a synth", (*App).validate},
		{"update", "keep one profile of ~/.aws/credentials fresh", (*App).update},
		{"doctor", "say where this environment's AWS credentials come from, and what is wrong", (*App).doctor},
		{"version", "print the build's version", (*App).version},
		{"completion", "print the shell completion script for bash, zsh or fish", (*App).completion},
	}
}

// Run executes one command line and returns the process exit code.
func (a *App) Run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		a.usage(a.Stderr)
		return ExitUsage
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help":
		a.usage(a.Stdout)
		return ExitOK
	case "-v", "-version", "--version":
		name = "version"
	case cobra.ShellCompRequestCmd, cobra.ShellCompNoDescRequestCmd:
		// The completion scripts' hidden request (completion.go).
		return a.complete(args)
	case "help":
		if len(args) == 1 {
			a.usage(a.Stdout)
			return ExitOK
		}
		name, args = args[1], []string{args[1], "--help"}
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		err := c.run(a, ctx, args[1:])
		switch {
		case err == nil:
			return ExitOK
		case errors.Is(err, errHelp):
			return ExitOK
		case errors.Is(err, errSilent):
			return codeOf(err)
		}
		// One line: credential_process shows stderr to the user as is.
		fmt.Fprintf(a.Stderr, "stsrotator %s: %s\n", name, oneLine(err.Error()))
		return codeOf(err)
	}
	hint := "run stsrotator help"
	options := commandNames()
	if strings.HasPrefix(name, "-") {
		// Before a command only --help and --version are flags.
		options = []string{"--help", "--version"}
	}
	if s := suggest.Closest(name, options); s != "" {
		hint = "did you mean stsrotator " + s + "? run stsrotator help for every command"
	} else if strings.HasPrefix(name, "-") {
		// `stsrotator --target x` from a user who has not picked a
		// command yet: say where the flag goes.
		hint = "flags go after the command, e.g. stsrotator status " + printable(name) + " …; run stsrotator help for every command"
	}
	fmt.Fprintf(a.Stderr, "stsrotator: unknown command %q (%s)\n", printable(name), hint)
	return ExitUsage
}

func commandNames() []string {
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	return names
}

func (a *App) usage(w io.Writer) {
	fmt.Fprint(w, `stsrotator uses the AWS credentials that stsrotator keeps fresh in Secrets Manager.

Usage: stsrotator <command> [flags]

Commands:
`)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	_ = tw.Flush()
	fmt.Fprint(w, `
Every command takes --profile, --region, --endpoint-url and --config, and
reads the standard AWS environment (AWS_PROFILE, AWS_REGION,
AWS_ENDPOINT_URL, ...); update's --profile is the profile it writes, and
--read-profile the one it reads with. Run stsrotator <command> --help for
its flags.

stsrotator --version (or -v) is stsrotator version.

Exit codes: 0 ok, 1 AWS or other failure, 2 usage, 3 not found, 4 invalid
secret, 5 expired, 6 rotation failed, 7 status or doctor found a problem,
8 preflight found something that blocks the deploy, 9 revoked but the
forced rotation failed, 10 revoke --cleanup refused (too early), 11 revoke
found a cutoff in force ahead of AWS's clock, 12 status --revocations
could not read a target's revocations, 13 rotate held back (written less
than 10 minutes ago and still valid, or the version quota; it says when to
retry).
`)
}

// flagSet is a command's flags plus the global ones every command takes.
type flagSet struct {
	*flag.FlagSet
	g              Globals
	name, synopsis string
	about          string
	// targetArg says the one positional argument may name the target
	// (rotate NAME), for completion.
	targetArg bool
	// positional lists the values the one positional argument takes,
	// for completion.
	positional []string
}

// flags starts a command's flag set with the global flags. Parse errors
// are reported by Run, not by the flag package, so they go to stderr once
// and --help goes to stdout.
func (a *App) flags(name, synopsis, about string) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), name: name, synopsis: synopsis, about: about}
	fs.SetOutput(io.Discard)
	if a.collecting != nil {
		*a.collecting = append(*a.collecting, fs)
	}
	fs.StringVar(&fs.g.Profile, "profile", "", "AWS shared config `profile` for this command's AWS calls (default: AWS_PROFILE, else default)")
	fs.StringVar(&fs.g.Region, "region", "", "AWS `region` (default: AWS_REGION or the profile's)")
	fs.StringVar(&fs.g.EndpointURL, "endpoint-url", "", "AWS endpoint `URL` for every service (default: AWS_ENDPOINT_URL)")
	fs.StringVar(&fs.g.Config, "config", "", "stsrotator config `file` mapping targets to secrets (default: $"+envConfig+", else ./"+defaultConfig+" if present)")
	return fs
}

// parse accepts flags before and after positional arguments, as users
// type them ("rotate NAME --json").
func (a *App) parse(fs *flagSet, args []string) ([]string, error) {
	if a.collecting != nil {
		return nil, errHelp
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				a.help(fs, a.Stdout)
				return nil, errHelp
			}
			return nil, coded(ExitUsage, fmt.Errorf("%s%s%s (run stsrotator %s --help)", doubleDash(err.Error()), durationHint(fs, err), flagHint(fs, err), fs.name))
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// badValue is the flag package's error for a value that does not parse.
var badValue = regexp.MustCompile(`^invalid value ".*" for flag -([A-Za-z][A-Za-z0-9-]*): `)

// durationHint adds an example to a duration flag's parse error: Go's
// durations need a unit, so a bare "5" is refused.
func durationHint(fs *flagSet, err error) string {
	m := badValue.FindStringSubmatch(err.Error())
	if m == nil {
		return ""
	}
	f := fs.Lookup(m[1])
	if f == nil {
		return ""
	}
	if g, ok := f.Value.(flag.Getter); ok {
		if _, ok := g.Get().(time.Duration); ok {
			return "; give a duration with its unit, e.g. --" + m[1] + " 15m (or 90s, 1h30m)"
		}
	}
	return ""
}

// undefinedFlag is the flag package's error for a flag the set lacks.
var undefinedFlag = regexp.MustCompile(`^flag provided but not defined: -+(.+)$`)

// flagHint names the flag an unknown one most likely misspells.
func flagHint(fs *flagSet, err error) string {
	m := undefinedFlag.FindStringSubmatch(err.Error())
	if m == nil {
		return ""
	}
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	if s := suggest.Closest(m[1], names); s != "" {
		return "; did you mean --" + s + "?"
	}
	return ""
}

// oneTarget takes the target from --target or, as an alias, the one
// positional argument ("rotate NAME"), and refuses both or neither.
func oneTarget(fs *flagSet, flagValue string, pos []string) (string, error) {
	switch {
	case len(pos) > 1 || (len(pos) == 1 && flagValue != ""):
		return "", coded(ExitUsage, fmt.Errorf("name one target: --target NAME, or NAME alone (run stsrotator %s --help)", fs.name))
	case len(pos) == 1:
		return pos[0], nil
	case flagValue == "":
		return "", coded(ExitUsage, fmt.Errorf("name the target: stsrotator %s --target NAME", fs.name))
	}
	return flagValue, nil
}

// profileFor says what the command uses --profile's identity for.
func (fs *flagSet) profileFor(what string) {
	fs.Lookup("profile").Usage = "AWS shared config `profile` to " + what + " with (default: AWS_PROFILE, else default)"
}

// flagName is a flag as the flag package names it in its errors ("-target").
var flagName = regexp.MustCompile(`(^|[\s:])-([A-Za-z][A-Za-z0-9-]+)`)

// doubleDash rewrites the flag package's error messages to name flags the
// way --help and the docs spell them: "flag needs an argument: --target".
// A one-letter flag (-v) stays as typed: no command has one, and "--v"
// is not what the user wrote.
func doubleDash(msg string) string {
	return flagName.ReplaceAllString(msg, "${1}--${2}")
}

func (a *App) help(fs *flagSet, w io.Writer) {
	fmt.Fprintf(w, "Usage: stsrotator %s %s\n\n%s\n\nFlags:\n", fs.name, fs.synopsis, strings.TrimSpace(fs.about))
	type row struct{ name, usage string }
	var rows []row
	fs.VisitAll(func(f *flag.Flag) {
		kind, usage := flag.UnquoteUsage(f)
		n := "--" + f.Name
		if kind != "" {
			n += " " + kind
		}
		if f.DefValue != "" && f.DefValue != "false" && !strings.Contains(usage, "default") {
			usage += " (default " + f.DefValue + ")"
		}
		rows = append(rows, row{n, usage})
	})
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].name < rows[j].name })
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintf(tw, "  %s\t%s\n", r.name, r.usage)
	}
	_ = tw.Flush()
}

func noArgs(fs *flagSet, pos []string) error {
	if len(pos) > 0 {
		return coded(ExitUsage, fmt.Errorf("unexpected argument %q (run stsrotator %s --help)", pos[0], fs.name))
	}
	return nil
}

// oneLine is an error message as one printable line: credential_process
// shows stderr to the user as is, and messages can quote what others
// control (request paths, tags).
func oneLine(s string) string {
	return printable(strings.Join(strings.Fields(s), " "))
}
