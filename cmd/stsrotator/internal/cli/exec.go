package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/stsrotator/stsrotator/shared/humantime"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// ShadowingVars are the variables that, set in a child's environment,
// would make an SDK's default credential chain pick something before the
// container endpoint exec gives it, or describe credentials other than the
// target's. From botocore's credential providers (credentials.py: the
// environment, web identity, container and original-EC2 providers) and
// aws-sdk-go-v2's config.EnvConfig (which also reads AWS_ACCESS_KEY and
// AWS_SECRET_KEY); exec removes each one set and says which.
var ShadowingVars = []string{
	"AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY",
	"AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_CREDENTIAL_EXPIRATION", "AWS_ACCOUNT_ID",
	"AWS_PROFILE", "AWS_DEFAULT_PROFILE",
	"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME",
	EnvContainerRelativeURI, EnvContainerFullURI, EnvContainerToken, EnvContainerTokenFile,
	"AWS_CREDENTIAL_FILE",
}

// EnvContainerRelativeURI is ECS's own container-credentials variable
// (a path on 169.254.170.2); every SDK takes it before the full URI.
const EnvContainerRelativeURI = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"

// childEnv is parent with every ShadowingVars entry removed and add
// appended; removed lists the names taken out, sorted: a parent's
// environment comes in whatever order the program that built it chose
// (often a map's), and the line naming them should read the same each
// run. Each of
// AWS_REGION (read by the SDKs) and AWS_DEFAULT_REGION (the only one the
// AWS CLI v1 reads) that parent leaves unset or empty is set to region.
func childEnv(parent []string, region string, add ...string) (env, removed []string) {
	has := map[string]bool{}
	for _, kv := range parent {
		k, v, _ := strings.Cut(kv, "=")
		if slices.Contains(ShadowingVars, k) {
			if !slices.Contains(removed, k) {
				removed = append(removed, k)
			}
			continue
		}
		if v != "" {
			has[k] = true
		}
		env = append(env, kv)
	}
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION"} {
		if !has[k] && region != "" {
			env = append(slices.DeleteFunc(env, func(kv string) bool { return kv == k+"=" }), k+"="+region)
		}
	}
	slices.Sort(removed)
	return append(env, add...), removed
}

func (a *App) execCmd(ctx context.Context, args []string) error {
	var target, secretID string
	var envMode bool
	fs := a.flags("exec", "--target NAME [--env] [--] COMMAND [ARGS...]", `
Runs COMMAND with the target's credentials for its whole life. exec serves
them on a private loopback endpoint (the same machinery as serve, with a
token made for this run) and gives the child

  AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:PORT/credentials
  AWS_CONTAINER_AUTHORIZATION_TOKEN=...

which every AWS SDK and the AWS CLI read and refresh from on their own.
Variables that would take precedence in the SDKs' default chain
(AWS_ACCESS_KEY_ID, AWS_SESSION_TOKEN, AWS_PROFILE, AWS_ROLE_ARN, ...) are
removed from the child's environment, and exec says which on stderr (names
only). AWS_REGION and AWS_DEFAULT_REGION are each set to the secret's region
when unset. Signals are passed to the child; exec exits with the
child's status (128+N when a signal N ended it) and the endpoint stops
with it; on Linux, if exec itself is killed outright (SIGKILL, OOM), the
child gets SIGTERM rather than run on against a port anyone may take. No shell is involved: COMMAND is run with ARGS as given.

--env gives the child static AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_SESSION_TOKEN and AWS_CREDENTIAL_EXPIRATION instead, for tools that
read nothing else; they do not refresh, and exec says so on stderr when the
child outlives them.

  stsrotator exec --target billing-reader -- python3 long_job.py
  stsrotator exec --target billing-reader --env -- terraform plan`)
	fs.profileFor("read the secret")
	fs.StringVar(&target, "target", "", "config target `name`")
	fs.StringVar(&secretID, "secret-id", "", "use this secret `name or ARN` instead of a target's")
	fs.BoolVar(&envMode, "env", false, "give the child static credential variables (no refresh) instead of an endpoint")
	// The flags end at the command: what follows is the child's.
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			a.help(fs, a.Stdout)
			return errHelp
		}
		return coded(ExitUsage, fmt.Errorf("%s (run stsrotator exec --help)", doubleDash(err.Error())))
	}
	argv := fs.Args()
	if len(argv) == 0 {
		return coded(ExitUsage, errors.New("name the command to run: stsrotator exec --target NAME -- COMMAND [ARGS...]"))
	}
	r, err := a.resolve(fs.g, target, secretID)
	if err != nil {
		return err
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(a.Stderr, "stsrotator exec: "+format+"\n", args...)
	}
	// The child's environment starts from this one as it was, before
	// readerFor drops endpoint variables from the process.
	parentEnv := os.Environ()
	cfg, cache, err := a.readerFor(ctx, fs.g, r, logf)
	if err != nil {
		return err
	}
	creds, err := cache.Retrieve(ctx)
	if err != nil {
		return coded(codeForRead(err), err)
	}
	var add []string
	stop := func() {}
	if envMode {
		add = []string{"AWS_ACCESS_KEY_ID=" + creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + creds.SecretAccessKey,
			"AWS_SESSION_TOKEN=" + creds.SessionToken, "AWS_CREDENTIAL_EXPIRATION=" + creds.Expires.UTC().Format(time.RFC3339)}
	} else {
		token, err := newToken()
		if err != nil {
			return err
		}
		ln, err := a.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("listen on 127.0.0.1: %w", err)
		}
		rep := a.serveReporter(cfg)
		rep.logf = logf
		// Each fetch is not worth a line on the child's stderr; refusals
		// and failures are.
		quiet := func(format string, args ...any) {
			if !strings.Contains(format, " 200 key ") {
				logf(format, args...)
			}
		}
		srv := newServer(&endpoint{src: cache, token: token, host: ln.Addr().String(), log: quiet, onError: rep.observe}, a.ServeLimits, logf)
		done := make(chan struct{})
		go func() { defer close(done); _ = srv.Serve(limitConns(ln, maxServeConns)) }()
		stop = func() {
			_ = srv.Close()
			<-done
			cache.wait()
			rep.wait()
		}
		add = []string{EnvContainerFullURI + "=http://" + ln.Addr().String() + CredentialsPath, EnvContainerToken + "=" + token}
	}
	defer stop()
	env, removed := childEnv(parentEnv, cfg.Region, add...)
	if f := envValue(env, envBotoConfig); f != "" && botoConfigHasKeys(f) {
		// Only when it holds AWS keys: gsutil's boto config (GCS settings)
		// is none of exec's business.
		env = slices.DeleteFunc(env, func(kv string) bool { return strings.HasPrefix(kv, envBotoConfig+"=") })
		removed = append(removed, envBotoConfig)
	}
	if len(removed) > 0 {
		logf("removed from %s's environment, where they would take precedence over the target's credentials: %s", argv[0], strings.Join(removed, ", "))
	}
	for _, shadow := range []string{defaultProfileShadows(ctx, env), botoConfigShadows(env)} {
		if shadow != "" {
			logf("warning: %s", shadow)
		}
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr = env, os.Stdin, a.Stdout, a.Stderr
	if !envMode {
		var release func()
		cmd.SysProcAttr, release = bindChild(cmd.SysProcAttr)
		defer release()
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, forwardedSignals...)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		code := ExitFailure
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			code = 127 // as a shell says "command not found"
		} else if errors.Is(err, os.ErrPermission) {
			code = 126
		}
		return coded(code, fmt.Errorf("start %s: %w", argv[0], err))
	}
	var outlived sync.Once
	if envMode {
		// The static copy cannot refresh: say when the child outlives it.
		t := time.AfterFunc(creds.Expires.Sub(a.Now()), func() {
			outlived.Do(func() {
				logf("the credentials given to %s expired at %s and it is still running; its AWS calls now fail with ExpiredToken (fix: run it without --env, so it gets credentials that refresh)",
					argv[0], creds.Expires.UTC().Format(time.RFC3339))
			})
		})
		defer t.Stop()
		logf("gave %s static credentials (key %s) that expire at %s, in %s; they do not refresh", argv[0], secretfmt.Mask(creds.AccessKeyID), creds.Expires.UTC().Format(time.RFC3339), humantime.Span(creds.Expires.Sub(a.Now())))
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	for {
		select {
		case s := <-sigs:
			_ = cmd.Process.Signal(s)
		case err := <-waited:
			return childExit(cmd.ProcessState, err)
		}
	}
}

// childExit is exec's result for the child's end: nil for 0, else its
// status (128+N for a signal N), with nothing more to print.
func childExit(ps *os.ProcessState, err error) error {
	if ps == nil {
		return fmt.Errorf("wait for the command: %w", err)
	}
	code := exitStatus(ps)
	if code == 0 {
		return nil
	}
	return coded(code, errSilent)
}

// errSilent ends a command whose exit code says everything (exec passing
// on its child's status): Run prints no message for it.
var errSilent = errors.New("exit status passed on")

// defaultProfileShadows says what in the shared config files the child
// will read would be picked before the endpoint: the SDKs read the
// default profile's credentials (keys, role, SSO, credential_process)
// before container credentials, and exec cannot remove a file.
func defaultProfileShadows(ctx context.Context, env []string) string {
	get := func(k string) string { return envValue(env, k) }
	sc, err := awsconfig.LoadSharedConfigProfile(ctx, "default", func(o *awsconfig.LoadSharedConfigOptions) {
		if f := get("AWS_CONFIG_FILE"); f != "" {
			o.ConfigFiles = []string{f}
		}
		if f := get("AWS_SHARED_CREDENTIALS_FILE"); f != "" {
			o.CredentialsFiles = []string{f}
		}
	})
	if err != nil {
		return ""
	}
	var what string
	switch {
	case sc.Credentials.HasKeys():
		what = "access keys"
	case sc.CredentialProcess != "":
		what = "a credential_process"
	case sc.RoleARN != "":
		what = "a role_arn"
	case sc.WebIdentityTokenFile != "":
		what = "a web_identity_token_file"
	case sc.SSOAccountID != "" || sc.SSOSessionName != "":
		what = "SSO settings"
	default:
		return ""
	}
	return "the default profile in the shared AWS config files has " + what + ", which the SDKs take before the endpoint exec serves (fix: point AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE at files without it for this command, or move those settings to a named profile)"
}

// envValue is k's value in env (the last setting wins, as in exec.Cmd).
func envValue(env []string, k string) string {
	for _, kv := range slices.Backward(env) {
		if v, ok := strings.CutPrefix(kv, k+"="); ok {
			return v
		}
	}
	return ""
}

// envBotoConfig names the boto config file botocore's BotoProvider reads
// instead of /etc/boto.cfg and ~/.boto. That provider comes before the
// container endpoint in botocore's chain (credentials.py,
// create_credential_resolver: env, assume-role, the profile's providers,
// OriginalEC2Provider, BotoProvider, container, instance metadata), so
// keys in a boto config shadow exec's endpoint for boto3 and the AWS CLI.
const envBotoConfig = "BOTO_CONFIG"

// botoConfigShadows says which default boto config file, when BOTO_CONFIG
// is unset, holds AWS keys the child's botocore would take before exec's
// endpoint.
func botoConfigShadows(env []string) string {
	if envValue(env, envBotoConfig) != "" {
		return ""
	}
	files := []string{"/etc/boto.cfg"}
	if home := envValue(env, "HOME"); home != "" {
		files = append(files, filepath.Join(home, ".boto"))
	}
	for _, f := range files {
		if botoConfigHasKeys(f) {
			return f + " holds AWS keys under [Credentials], which botocore (boto3, the AWS CLI) takes before the endpoint exec serves (fix: run exec with BOTO_CONFIG=/dev/null, or remove the keys)"
		}
	}
	return ""
}

// botoConfigHasKeys says whether the boto config at path holds what
// BotoProvider loads: aws_access_key_id and aws_secret_access_key in the
// [Credentials] section (option names match in any case, as configparser
// lowercases them). Only a regular file, and its first MiB, is read, as
// botocore reads only a regular file (os.path.isfile): BOTO_CONFIG=/dev/zero
// or a FIFO must not hang exec.
func botoConfigHasKeys(path string) bool {
	info, err := os.Stat(path)
	if err != nil || !info.Mode().IsRegular() {
		return false
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, 1<<20))
	section, found := "", map[string]bool{}
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && strings.HasSuffix(line, "]"):
			section = strings.TrimSpace(line[1 : len(line)-1])
		case section == "Credentials":
			// configparser splits at the first = or :.
			if i := strings.IndexAny(line, "=:"); i > 0 {
				found[strings.ToLower(strings.TrimSpace(line[:i]))] = true
			}
		}
	}
	return found["aws_access_key_id"] && found["aws_secret_access_key"]
}
