package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"gopkg.in/ini.v1"
	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/syntax"
)

// The AWS_PROFILE recursion guard (issue 20). `AWS_PROFILE=p aws ...` runs
// p's credential_process with AWS_PROFILE=p still set; when p's resolution
// reaches stsrotator credential-process (p's own credential_process, or
// that of a source_profile p assumes a role from), the child would resolve
// p again and start itself forever. The child therefore walks the profile
// the way the SDK resolves it, and when the walk ends in stsrotator it
// reads the secret with the rest of the default chain, exactly as it does
// under `aws --profile p`, which does not export the profile. Whether a
// credential_process line runs stsrotator is decided by splitting it with
// the rules of the shell that runs it, not by looking at its first field.

// The variables that select a shared-config profile, in the order the AWS
// CLI and the Go SDK read them.
const (
	envProfile        = "AWS_PROFILE"
	envDefaultProfile = "AWS_DEFAULT_PROFILE"
)

// profileWalk is the way the SDK resolves one profile's credentials, as far
// as it can lead to a credential_process.
type profileWalk struct {
	// steps names each profile in order and how the next was reached:
	// "admin", "source_profile billing".
	steps []string
	// process is the credential_process line the walk ends in; "" when it
	// ends in static keys, SSO, web identity, credential_source, or no
	// profile.
	process string
	// reaches is whether process runs stsrotator credential-process.
	reaches bool
	// hasCredentials: the walk ends in a source other than a
	// credential_process (keys, SSO, web identity, credential_source).
	hasCredentials bool
	// hasWebIdentity: that source is a web_identity_token_file.
	hasWebIdentity bool
}

// String is the chain for messages: `profile admin → source_profile billing
// → credential_process "stsrotator credential-process ..."`.
func (w profileWalk) String() string {
	s := "profile " + strings.Join(w.steps, " → ")
	if w.process != "" {
		s += fmt.Sprintf(" → credential_process %q", w.process)
	}
	return printable(s)
}

// walkProfile follows name the way aws-sdk-go-v2's resolveCredsFromProfile
// does (config/resolve_credentials.go): a role profile's source_profile
// first, then the profile's static keys, credential_source, web identity,
// SSO, and only then credential_process. The profile is loaded with the
// SDK's own LoadSharedConfigProfile, from the files the SDK would read
// (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE, else ~/.aws), so a
// source_profile cycle or a missing profile is the SDK's error, returned
// as is.
func (a *App) walkProfile(ctx context.Context, name string) (profileWalk, error) {
	sc, err := awsconfig.LoadSharedConfigProfile(ctx, name, func(o *awsconfig.LoadSharedConfigOptions) {
		if f := a.Getenv("AWS_CONFIG_FILE"); f != "" {
			o.ConfigFiles = []string{f}
		}
		if f := a.Getenv("AWS_SHARED_CREDENTIALS_FILE"); f != "" {
			o.CredentialsFiles = []string{f}
		}
	})
	if err != nil {
		return profileWalk{}, err
	}
	w := profileWalk{steps: []string{name}}
	cur := &sc
	for cur.Source != nil && len(w.steps) < 64 {
		cur = cur.Source
		w.steps = append(w.steps, "source_profile "+cur.Profile)
	}
	switch {
	case cur.Credentials.HasKeys(), cur.CredentialSource != "", cur.WebIdentityTokenFile != "",
		cur.SSOStartURL != "", cur.SSOSessionName != "", cur.LoginSession != "":
		w.hasCredentials, w.hasWebIdentity = true, cur.WebIdentityTokenFile != ""
		return w, nil
	}
	w.process = cur.CredentialProcess
	w.reaches = runsCredentialProcess(w.process, runtime.GOOS, a.Getenv)
	if raw := a.rawCredentialProcess(cur.Profile); raw != "" && raw != w.process {
		// The Go SDK's ini reader drops a leading and a trailing double
		// quote of a value (and so mangles `"/opt/my tools/stsrotator"
		// credential-process --target "a b"`); botocore and the
		// JavaScript SDK run the line as written, so that is the one
		// that decides whether the caller started this process.
		w.process = raw
		w.reaches = w.reaches || runsCredentialProcess(raw, runtime.GOOS, a.Getenv)
	}
	return w, nil
}

// rawCredentialProcess is the profile's credential_process value as
// botocore's raw config parser and the JavaScript SDK read it from the
// config file: surrounding quotes and any " # text" kept. gopkg.in/ini.v1
// is told to keep both; "" when there is no such value.
func (a *App) rawCredentialProcess(profile string) string {
	path := a.Getenv("AWS_CONFIG_FILE")
	if path == "" {
		home := a.Getenv("HOME")
		if home == "" {
			var err error
			if home, err = os.UserHomeDir(); err != nil {
				return ""
			}
		}
		path = filepath.Join(home, ".aws", "config")
	}
	f, err := ini.LoadSources(ini.LoadOptions{Loose: true, IgnoreInlineComment: true, PreserveSurroundedQuote: true,
		AllowNestedValues: true, SkipUnrecognizableLines: true, AllowShadows: false}, path)
	if err != nil {
		return ""
	}
	for _, name := range []string{"profile " + profile, profile} {
		if name == profile && profile != "default" {
			continue // the config file names other profiles "profile NAME"
		}
		if sec, err := f.GetSection(name); err == nil && sec.HasKey("credential_process") {
			return strings.TrimSpace(sec.Key("credential_process").String())
		}
	}
	return ""
}

// runsCredentialProcess tells whether a credential_process line, run by
// the SDK on goos, runs stsrotator credential-process: some command in it
// (after unwrapping env, exec, command, nohup, sh -c and cmd /c) is a
// program named stsrotator* (any directory, any suffix such as .exe) whose
// arguments include credential-process. A line that does not parse is not
// recognised: the nested process's guard still stops a loop.
func runsCredentialProcess(line, goos string, getenv func(string) string) bool {
	cmds, err := commandLines(line, goos, getenv)
	if err != nil {
		return false
	}
	for _, words := range cmds {
		if runsStsrotator(words, goos, getenv, 0) {
			return true
		}
	}
	return false
}

// commandLines splits a credential_process line into the commands it
// runs, each as its program and arguments, by the rules of what runs it:
//   - aws-sdk-go-v2 (processcreds.executeCredentialProcess) and the
//     JavaScript SDK v3 (child_process.exec) run the line with `sh -c`, and
//     on Windows `cmd.exe /C`; botocore splits it with shlex.split in POSIX
//     mode, and on Windows with the rules of CommandLineToArgvW
//     (botocore/compat.py compat_shell_split).
//
// So POSIX shell grammar (parsed with mvdan.cc/sh, a maintained shell
// parser: quotes, escapes, NAME=value prefixes, redirections, `a && b`,
// $VAR and ~ expanded from the environment the SDK passes on), and on
// Windows the Microsoft C runtime's argument rules, where `"C:\Program
// Files\..."` is one word and backslashes are literal.
func commandLines(line, goos string, getenv func(string) string) ([][]string, error) {
	if goos == "windows" {
		return [][]string{windowsWords(line)}, nil
	}
	f, err := syntax.NewParser().Parse(strings.NewReader(line), "")
	if err != nil {
		return nil, err
	}
	cfg := &expand.Config{Env: expand.FuncEnviron(getenv)}
	var out [][]string
	var failed error
	syntax.Walk(f, func(n syntax.Node) bool {
		call, ok := n.(*syntax.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		words, err := expand.Fields(cfg, call.Args...)
		if err != nil {
			failed = err
			return true
		}
		out = append(out, words)
		return true
	})
	if len(out) == 0 && failed != nil {
		return nil, failed
	}
	return out, nil
}

// windowsWords splits a command line as the Microsoft C runtime does
// ("Parsing C command-line arguments", learn.microsoft.com/cpp/c-language/
// parsing-c-command-line-arguments): the program name ends at the next
// quote if it starts with one, else at white space, backslashes literal;
// in the arguments a quote toggles quoting, "" inside quotes is a quote,
// 2n backslashes before a quote are n backslashes, 2n+1 are n and a
// literal quote, and other backslashes are literal.
func windowsWords(line string) []string {
	var words []string
	i := 0
	skip := func() {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
	}
	skip()
	if i < len(line) {
		var prog strings.Builder
		if line[i] == '"' {
			i++
			for i < len(line) && line[i] != '"' {
				prog.WriteByte(line[i])
				i++
			}
			i++ // the closing quote, if any
		}
		for i < len(line) && line[i] != ' ' && line[i] != '\t' {
			prog.WriteByte(line[i])
			i++
		}
		words = append(words, prog.String())
	}
	for {
		skip()
		if i >= len(line) {
			return words
		}
		var w strings.Builder
		quoted := false
		for i < len(line) && (quoted || (line[i] != ' ' && line[i] != '\t')) {
			switch c := line[i]; c {
			case '\\':
				n := 0
				for i < len(line) && line[i] == '\\' {
					n++
					i++
				}
				if i < len(line) && line[i] == '"' {
					w.WriteString(strings.Repeat(`\`, n/2))
					if n%2 == 1 {
						w.WriteByte('"')
						i++
					}
					continue
				}
				w.WriteString(strings.Repeat(`\`, n))
			case '"':
				if quoted && i+1 < len(line) && line[i+1] == '"' {
					w.WriteByte('"')
					i += 2
					continue
				}
				quoted = !quoted
				i++
			default:
				w.WriteByte(c)
				i++
			}
		}
		words = append(words, w.String())
	}
}

// runsStsrotator tells whether one command (program and arguments) runs
// stsrotator credential-process, looking through the wrappers people put
// in front of it.
func runsStsrotator(words []string, goos string, getenv func(string) string, depth int) bool {
	if len(words) == 0 || depth > 8 {
		return false
	}
	prog := programName(words[0])
	args := words[1:]
	switch prog {
	case "env":
		// GNU and BSD env: options, NAME=value assignments, then the
		// command; -S splits its argument into words (POSIX rules).
		for len(args) > 0 {
			a := args[0]
			switch {
			case a == "--":
				args = args[1:]
				for len(args) > 0 && isAssignment(args[0]) {
					args = args[1:]
				}
				return runsStsrotator(args, goos, getenv, depth+1)
			case a == "-u" || a == "-C" || a == "-P" || a == "--unset" || a == "--chdir":
				args = args[min(2, len(args)):]
			case a == "-S" || a == "--split-string":
				if len(args) < 2 {
					return false
				}
				return runsStsrotator(append(posixWords(args[1], getenv), args[2:]...), goos, getenv, depth+1)
			case strings.HasPrefix(a, "--split-string="):
				return runsStsrotator(append(posixWords(strings.TrimPrefix(a, "--split-string="), getenv), args[1:]...), goos, getenv, depth+1)
			case strings.HasPrefix(a, "-S"):
				return runsStsrotator(append(posixWords(strings.TrimPrefix(a, "-S"), getenv), args[1:]...), goos, getenv, depth+1)
			case strings.HasPrefix(a, "-") || isAssignment(a):
				args = args[1:]
			default:
				return runsStsrotator(args, goos, getenv, depth+1)
			}
		}
		return false
	case "exec", "command", "nohup":
		for len(args) > 0 && strings.HasPrefix(args[0], "-") {
			args = args[1:]
		}
		return runsStsrotator(args, goos, getenv, depth+1)
	case "sh", "bash", "dash", "zsh", "ksh":
		for i, a := range args {
			if strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && strings.Contains(a, "c") && i+1 < len(args) {
				return runsCredentialProcess(args[i+1], "linux", getenv)
			}
		}
		return false
	case "cmd":
		for i, a := range args {
			if strings.EqualFold(a, "/c") || strings.EqualFold(a, "/k") {
				return runsStsrotator(args[i+1:], goos, getenv, depth+1)
			}
		}
		return false
	}
	return strings.HasPrefix(prog, "stsrotator") && containsWord(args, "credential-process")
}

// posixWords splits s into words by POSIX shell rules (env -S); nil if
// it does not parse.
func posixWords(s string, getenv func(string) string) []string {
	cmds, err := commandLines(s, "linux", getenv)
	if err != nil || len(cmds) == 0 {
		return nil
	}
	return cmds[0]
}

// programName is a program's file name, lower-cased, without its
// directory (either separator: a Windows path can reach a POSIX parser)
// or an .exe suffix.
func programName(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		p = p[i+1:]
	}
	return strings.TrimSuffix(strings.ToLower(p), ".exe")
}

func containsWord(words []string, w string) bool {
	for _, x := range words {
		if x == w {
			return true
		}
	}
	return false
}

// isAssignment is a NAME=value word.
func isAssignment(w string) bool {
	name, _, ok := strings.Cut(w, "=")
	if !ok || name == "" {
		return false
	}
	for i, c := range name {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// readIdentity decides which identity credential-process reads its secret
// with, so that it never resolves a profile that runs itself. It returns
// the description of that identity (for the nested guard's message) and
// whether AWS_PROFILE/AWS_DEFAULT_PROFILE must be dropped; a profile that
// leads back with nothing else to fall back to is an error naming the
// chain.
func (a *App) readIdentity(ctx context.Context, g Globals) (who string, dropProfile bool, err error) {
	const fix = "fix: add --profile NAME to the credential_process line, naming a profile with its own credentials (keys, SSO, a role from another source), or export AWS_ACCESS_KEY_ID and friends for stsrotator to read with"
	if g.Profile != "" {
		// --profile is resolved as given: the SDK then ignores the
		// environment's keys (resolveCredentialChain, sharedProfileSet).
		w, werr := a.walkProfile(ctx, g.Profile)
		if werr == nil && w.reaches {
			return "", false, coded(ExitUsage, fmt.Errorf("the profile used to read the secret runs stsrotator credential-process itself: --profile %s: %s (%s)", g.Profile, w, fix))
		}
		return "--profile " + g.Profile, false, nil
	}
	if a.Getenv("AWS_ACCESS_KEY_ID") != "" && a.Getenv("AWS_SECRET_ACCESS_KEY") != "" {
		// The SDK takes the environment's keys before any profile.
		return "the environment's AWS_ACCESS_KEY_ID", false, nil
	}
	if a.Getenv("AWS_WEB_IDENTITY_TOKEN_FILE") != "" {
		return "the environment's AWS_WEB_IDENTITY_TOKEN_FILE", false, nil
	}
	var led string
	if name, from := a.Getenv(envProfile), envProfile; name != "" || a.Getenv(envDefaultProfile) != "" {
		if name == "" {
			name, from = a.Getenv(envDefaultProfile), envDefaultProfile
		}
		w, werr := a.walkProfile(ctx, name)
		if werr != nil || !w.reaches {
			return from + "=" + name, false, nil
		}
		// AWS_PROFILE=billing aws ...: this process is (part of)
		// billing's resolution; read the secret as `aws --profile
		// billing` would have left it: without the profile.
		dropProfile, led = true, from+"="+name+": "+w.String()
	}
	def, derr := a.walkProfile(ctx, "default")
	var missing awsconfig.SharedConfigProfileNotExistError
	if derr != nil && !errors.As(derr, &missing) {
		return "", false, coded(ExitUsage, fmt.Errorf("read the default profile: %w", derr))
	}
	if derr == nil && def.reaches {
		if led != "" {
			return "", false, coded(ExitUsage, fmt.Errorf("the profile used to read the secret runs stsrotator credential-process itself: %s; and without it, the default %s too (%s)", led, def, fix))
		}
		return "", false, coded(ExitUsage, fmt.Errorf("the profile used to read the secret runs stsrotator credential-process itself: the default %s (%s)", def, fix))
	}
	if led != "" {
		return "the default chain without " + led, true, nil
	}
	return "the default chain", false, nil
}
