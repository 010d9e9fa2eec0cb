package cli

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
	"github.com/aws/aws-sdk-go-v2/credentials/processcreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// buildCLI builds the command exactly as users install it.
func buildCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "stsrotator")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/stsrotator")
	cmd.Dir = awstest.RepoRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build stsrotator: %v\n%s", err, out)
	}
	return bin
}

// binEnv is a clean environment pointing the CLI's own identity at kumo:
// nothing from the test machine's AWS setup leaks in.
func binEnv(env *awstest.Env, home string, extra ...string) []string {
	return append([]string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home,
		"AWS_REGION=" + awstest.Region, "AWS_ENDPOINT_URL=" + env.URL,
		"AWS_ACCESS_KEY_ID=AKIAKUMOTESTKEY00000", "AWS_SECRET_ACCESS_KEY=kumo-test-secret",
		"AWS_EC2_METADATA_DISABLED=true",
	}, extra...)
}

// signedBy records which key and token signed the calls to kumo, so
// "STS accepted the credentials" means these credentials, not any.
type signedBy struct {
	base http.RoundTripper
	mu   sync.Mutex
	key  string
	tok  string
}

func (s *signedBy) RoundTrip(r *http.Request) (*http.Response, error) {
	auth := r.Header.Get("Authorization")
	if _, rest, ok := strings.Cut(auth, "Credential="); ok {
		s.mu.Lock()
		s.key, _, _ = strings.Cut(rest, "/")
		s.tok = r.Header.Get("X-Amz-Security-Token")
		s.mu.Unlock()
	}
	return s.base.RoundTrip(r)
}

// callerIdentity calls kumo's STS with creds and fails unless it answers
// and the request was signed with exactly the secret's credentials.
func callerIdentity(t *testing.T, env *awstest.Env, creds aws.CredentialsProvider, want secretfmt.Value) {
	t.Helper()
	rec := &signedBy{base: env.Transport}
	cfg := env.Config.Copy()
	cfg.Credentials = creds
	cfg.HTTPClient = &http.Client{Transport: rec}
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(awstest.Context(t), &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(out.Arn) == "" {
		t.Fatalf("kumo STS refused the credentials: %v", err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.key != want.AccessKeyID || rec.tok != want.SessionToken {
		t.Fatalf("STS call signed with %s, want the secret's key %s and its session token", secretfmt.Mask(rec.key), want.MaskedKey())
	}
}

func currentValue(t *testing.T, env *awstest.Env, secret string) secretfmt.Value {
	t.Helper()
	a, out, errb := testApp(env, time.Now, nil)
	if r := execute(t, a, out, errb, "credential-process", "--secret-id", secret); r.code != 0 {
		t.Fatalf("read %s: %s", secret, r.stderr)
	}
	v, err := secretfmt.Parse([]byte(out.String()))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

// The built binary, run the way the AWS CLI and SDKs run it.
func TestBuiltBinary(t *testing.T) {
	env := awstest.Start(t)
	bin := buildCLI(t)
	home := t.TempDir()
	good, old := target(env, "good"), target(env, "old")
	mint(t, env, good)
	now := time.Now().UTC()
	putValue(t, env, old.SecretName, old.Name, value(31, now.Add(-time.Minute), now.Add(-21*time.Minute)))
	cfgPath := writeConfig(t, good, old)
	want := currentValue(t, env, good.SecretName)

	// Issue proof: the SDK's own processcreds provider, running
	// `credential_process = stsrotator credential-process --target NAME`,
	// yields credentials kumo's STS accepts.
	t.Run("processcreds", func(t *testing.T) {
		command := "env -i " + shellJoin(append(binEnv(env, home), bin, "credential-process", "--target", good.Name, "--config", cfgPath))
		p := processcreds.NewProvider(command)
		creds, err := p.Retrieve(awstest.Context(t))
		if err != nil {
			t.Fatalf("processcreds: %v", err)
		}
		if creds.AccessKeyID != want.AccessKeyID || !creds.CanExpire || !creds.Expires.Equal(want.Expiration) {
			t.Fatalf("processcreds read %s expiring %s, want %s expiring %s", secretfmt.Mask(creds.AccessKeyID), creds.Expires, want.MaskedKey(), want.Expiration)
		}
		callerIdentity(t, env, p, want)
	})

	// Issue proof: credential-process on an expired secret exits non-zero
	// and prints nothing to stdout, one line to stderr.
	t.Run("expired secret", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(bin, "credential-process", "--target", old.Name, "--config", cfgPath)
		cmd.Env, cmd.Stdout, cmd.Stderr = binEnv(env, home), &stdout, &stderr
		err := cmd.Run()
		_, _ = awstest.Logs.Write(stderr.Bytes())
		if code := cmd.ProcessState.ExitCode(); code != ExitExpired || stdout.Len() != 0 || strings.Count(stderr.String(), "\n") != 1 {
			t.Fatalf("exit %d (%v), stdout %q, stderr %q; want exit 5, no stdout, one stderr line", code, err, stdout.String(), stderr.String())
		}
		noSecrets(t, "stderr", stderr.String())
	})

	// A default profile whose own credential_process is stsrotator would
	// start itself forever (there is no rest of the chain to fall back
	// to); it must fail at once instead.
	t.Run("recursion guard", func(t *testing.T) {
		loopHome := t.TempDir()
		if err := os.MkdirAll(filepath.Join(loopHome, ".aws"), 0o700); err != nil {
			t.Fatal(err)
		}
		conf := fmt.Sprintf("[default]\nregion = %s\ncredential_process = %s credential-process --target %s --config %s\n", awstest.Region, bin, good.Name, cfgPath)
		if err := os.WriteFile(filepath.Join(loopHome, ".aws", "config"), []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(bin, "credential-process", "--target", good.Name, "--config", cfgPath)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + loopHome, "AWS_ENDPOINT_URL=" + env.URL, "AWS_EC2_METADATA_DISABLED=true"}
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		_ = cmd.Run()
		_, _ = awstest.Logs.Write(stderr.Bytes())
		if cmd.ProcessState.ExitCode() == 0 || stdout.Len() != 0 || !strings.Contains(stderr.String(), "runs stsrotator credential-process itself") {
			t.Fatalf("exit %d, stdout %q, stderr %q", cmd.ProcessState.ExitCode(), stdout.String(), stderr.String())
		}
	})

	// Issue proof: the SDK's endpointcreds provider reads serve's endpoint
	// and kumo's STS accepts what it gets; a request without the token is
	// refused.
	t.Run("serve", func(t *testing.T) {
		cmd := exec.Command(bin, "serve", "--target", good.Name, "--config", cfgPath)
		cmd.Env = binEnv(env, home)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr syncBuffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		defer func() {
			_ = cmd.Process.Kill()
			_, _ = awstest.Logs.Write([]byte(stderr.String()))
		}()
		lines := bufio.NewScanner(stdout)
		vars := map[string]string{}
		for len(vars) < 2 && lines.Scan() {
			k, v, _ := strings.Cut(strings.TrimPrefix(lines.Text(), "export "), "=")
			vars[k] = v
		}
		uri, token := vars["AWS_CONTAINER_CREDENTIALS_FULL_URI"], vars["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
		if !strings.HasPrefix(uri, "http://127.0.0.1:") || len(token) < 32 {
			t.Fatalf("serve printed %v; stderr %s", vars, stderr.String())
		}
		go func() { _, _ = io.Copy(io.Discard, stdout) }()

		p := endpointcreds.New(uri, func(o *endpointcreds.Options) { o.AuthorizationToken = token })
		creds, err := p.Retrieve(awstest.Context(t))
		if err != nil {
			t.Fatalf("endpointcreds: %v", err)
		}
		if creds.AccessKeyID != want.AccessKeyID || !creds.Expires.Equal(want.Expiration) {
			t.Fatalf("endpointcreds read %s expiring %s", secretfmt.Mask(creds.AccessKeyID), creds.Expires)
		}
		callerIdentity(t, env, p, want)

		for _, tok := range []string{"", "not-the-token"} {
			req, _ := http.NewRequest(http.MethodGet, uri, nil)
			if tok != "" {
				req.Header.Set("Authorization", tok)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || strings.Contains(string(body), want.AccessKeyID) {
				t.Fatalf("token %q: status %d body %s, want 401 without credentials", tok, resp.StatusCode, body)
			}
		}
		_ = cmd.Process.Signal(syscall.SIGINT)
		if err := <-exited; err != nil {
			t.Fatalf("serve did not stop cleanly on SIGINT: %v; stderr %s", err, stderr.String())
		}
		noSecrets(t, "serve stderr", stderr.String())
	})
}
