package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// signedCall is one request seen by a signingProxy: the AWS operation and
// the access key that signed it.
type signedCall struct{ op, key, secret string }

// signingProxy is a logging proxy in front of the emulator: it records
// which key signed each call, so a test can say whose identity read the
// secret and whose called STS.
type signingProxy struct {
	URL   string
	mu    sync.Mutex
	calls []signedCall
}

func startSigningProxy(t *testing.T, target string) *signingProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &signingProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		op := awstest.Operation(r, body)
		var in struct{ SecretId string }
		_ = json.Unmarshal(body, &in)
		_, rest, _ := strings.Cut(r.Header.Get("Authorization"), "Credential=")
		key, _, _ := strings.Cut(rest, "/")
		p.mu.Lock()
		p.calls = append(p.calls, signedCall{op, key, in.SecretId})
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// keysFor lists the keys that signed op, in order.
func (p *signingProxy) keysFor(op string) []string { return p.keysWhere(op, "") }

// readersOf lists the keys that signed a GetSecretValue of secret.
func (p *signingProxy) readersOf(secret string) []string {
	return p.keysWhere("GetSecretValue", secret)
}

// keysWhere lists the keys that signed op (of secret, unless "").
func (p *signingProxy) keysWhere(op, secret string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var keys []string
	for _, c := range p.calls {
		if c.op == op && (secret == "" || c.secret == secret) {
			keys = append(keys, c.key)
		}
	}
	return keys
}

// execRun is one finished `stsrotator exec`.
type execRun struct {
	code           int
	stdout, stderr string
}

func runExec(t *testing.T, bin string, env []string, stdin string, args ...string) execRun {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(bin, append([]string{"exec"}, args...)...)
	cmd.Env, cmd.Stdout, cmd.Stderr, cmd.Stdin = env, &out, &errb, strings.NewReader(stdin)
	_ = cmd.Run()
	_, _ = awstest.Logs.Write(errb.Bytes())
	return execRun{cmd.ProcessState.ExitCode(), out.String(), errb.String()}
}

// startExec starts `stsrotator exec args...` with pipes to the child's
// stdin and stdout.
func startExec(t *testing.T, bin string, env []string, args ...string) (*exec.Cmd, io.WriteCloser, *bufio.Scanner, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"exec"}, args...)...)
	cmd.Env = env
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	errb := &syncBuffer{}
	cmd.Stderr = errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, stdin, bufio.NewScanner(stdout), errb
}

// childEnv removes what would shadow the endpoint, keeps the rest, and
// sets the region only when none is set.
func TestExecChildEnv(t *testing.T) {
	cases := []struct {
		why            string
		parent         []string
		want, wantGone []string
		removed        []string
	}{
		{"every shadowing variable goes, the endpoint's are added", []string{"PATH=/bin", "AWS_ACCESS_KEY_ID=AKIA", "AWS_SECRET_ACCESS_KEY=s", "AWS_SESSION_TOKEN=t", "AWS_PROFILE=p", "AWS_DEFAULT_PROFILE=d",
			"AWS_WEB_IDENTITY_TOKEN_FILE=/f", "AWS_ROLE_ARN=arn", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=/tok", "AWS_CREDENTIAL_EXPIRATION=x", "AWS_REGION=eu-west-1", "AWS_DEFAULT_REGION=eu-west-1"},
			[]string{"PATH=/bin", "AWS_REGION=eu-west-1", "AWS_CONTAINER_CREDENTIALS_FULL_URI=u"}, []string{"AWS_DEFAULT_REGION=us-east-1", "AWS_REGION=us-east-1"},
			[]string{"AWS_ACCESS_KEY_ID", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CREDENTIAL_EXPIRATION", "AWS_DEFAULT_PROFILE",
				"AWS_PROFILE", "AWS_ROLE_ARN", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_WEB_IDENTITY_TOKEN_FILE"}},
		{"the removed names are listed sorted, whatever order the parent's environment has them in (issue 21's trial saw map order)",
			[]string{"AWS_SESSION_TOKEN=t", "AWS_PROFILE=p", "HOME=/h", "AWS_ACCESS_KEY_ID=AKIA", "AWS_SECRET_ACCESS_KEY=s", "AWS_ACCESS_KEY_ID=again"},
			[]string{"HOME=/h"}, []string{"AWS_ACCESS_KEY_ID=AKIA", "AWS_ACCESS_KEY_ID=again"},
			[]string{"AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}},
		{"the Go SDK's aliases and another endpoint's variables go too", []string{"AWS_ACCESS_KEY=a", "AWS_SECRET_KEY=b", "AWS_SECURITY_TOKEN=c", "AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:1/credentials", "AWS_CONTAINER_AUTHORIZATION_TOKEN=old"},
			[]string{"AWS_REGION=us-east-1", "AWS_DEFAULT_REGION=us-east-1", "AWS_CONTAINER_CREDENTIALS_FULL_URI=u"}, []string{"AWS_CONTAINER_AUTHORIZATION_TOKEN=old"},
			[]string{"AWS_ACCESS_KEY", "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_SECRET_KEY", "AWS_SECURITY_TOKEN"}},
		{"a region variable set is kept, the other is set (the AWS CLI v1 reads only AWS_DEFAULT_REGION)", []string{"AWS_DEFAULT_REGION=ap-south-1"}, []string{"AWS_DEFAULT_REGION=ap-south-1", "AWS_REGION=us-east-1"}, []string{"AWS_DEFAULT_REGION=us-east-1"}, nil},
		{"an empty AWS_REGION is replaced", []string{"AWS_REGION="}, []string{"AWS_REGION=us-east-1"}, []string{"AWS_REGION="}, nil},
		{"nothing to remove", []string{"HOME=/h"}, []string{"HOME=/h"}, nil, nil},
	}
	for _, c := range cases {
		env, removed := childEnv(c.parent, "us-east-1", "AWS_CONTAINER_CREDENTIALS_FULL_URI=u")
		for _, w := range c.want {
			if !slices.Contains(env, w) {
				t.Errorf("%s: env %v lacks %s", c.why, env, w)
			}
		}
		for _, g := range c.wantGone {
			if slices.Contains(env, g) {
				t.Errorf("%s: env %v has %s", c.why, env, g)
			}
		}
		if !slices.Equal(removed, c.removed) {
			t.Errorf("%s: removed %v, want %v", c.why, removed, c.removed)
		}
	}
}

// Issue 20: `stsrotator exec` runs a program with the target's
// credentials, refreshed for its whole life, through a private endpoint.
// Real children: boto3 and the AWS CLI v1 (their calls seen at a logging
// proxy in front of kumo), a long-running boto3 child across a rotation,
// exit statuses and signals.
func TestExec(t *testing.T) {
	env := awstest.Start(t)
	bin := buildCLI(t)
	proxy := startSigningProxy(t, env.URL)
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".aws"), 0o700); err != nil {
		t.Fatal(err)
	}
	// A profile the parent names, which must not reach the child.
	if err := os.WriteFile(filepath.Join(home, ".aws", "config"), []byte("[profile shadow]\nregion = "+awstest.Region+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := target(env, "exec-child")
	mint(t, env, good)
	cfgPath := writeConfig(t, good)
	want := currentValue(t, env, good.SecretName)
	parent := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home, "AWS_ENDPOINT_URL=" + proxy.URL, "AWS_EC2_METADATA_DISABLED=true",
		// exec's own identity, and the shadows a parent shell may hold.
		"AWS_ACCESS_KEY_ID=AKIAKUMOTESTKEY00000", "AWS_SECRET_ACCESS_KEY=kumo-test-secret",
		"AWS_PROFILE=shadow", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/credentials/other",
	}
	withRegion := append(slices.Clone(parent), "AWS_REGION="+awstest.Region)
	targetArgs := []string{"--target", good.Name, "--config", cfgPath}

	t.Run("a boto3 child gets the target's key from the endpoint, and no shadowing variable", func(t *testing.T) {
		script := `
import boto3, json, os
s = boto3.Session()
c = s.get_credentials()
s.client("sts").get_caller_identity()
print(json.dumps({"key": c.get_frozen_credentials().access_key, "method": c.method,
  "env": sorted(k for k in os.environ if k.startswith("AWS_")), "region": os.environ.get("AWS_REGION")}))`
		// No region in the parent: exec takes the secret's (from --region).
		r := runExec(t, bin, parent, "", append(slices.Clone(targetArgs), "--region", awstest.Region, "--", "python3", "-c", script)...)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		var got struct {
			Key, Method, Region string
			Env                 []string
		}
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatalf("child printed %q: %v", r.stdout, err)
		}
		if got.Key != want.AccessKeyID || got.Method != "container-role" || got.Region != awstest.Region {
			t.Fatalf("boto3 got key %s by %q in region %q; want the secret's %s from the container endpoint in %s", secretfmt.Mask(got.Key), got.Method, got.Region, want.MaskedKey(), awstest.Region)
		}
		for _, v := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
			if slices.Contains(got.Env, v) {
				t.Errorf("the parent's %s reached the child", v)
			}
		}
		if !strings.Contains(r.stderr, "removed from python3's environment, where they would take precedence over the target's credentials: AWS_ACCESS_KEY_ID, AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, AWS_PROFILE, AWS_SECRET_ACCESS_KEY") {
			t.Errorf("exec did not say what it removed:\n%s", r.stderr)
		}
		if keys := proxy.keysFor("GetCallerIdentity"); len(keys) == 0 || keys[len(keys)-1] != want.AccessKeyID {
			t.Fatalf("the child's STS call was signed with %v, want the secret's key", keys)
		}
		noSecrets(t, "exec stderr", r.stderr)
	})

	t.Run("an AWS CLI child signs with the target's key", func(t *testing.T) {
		r := runExec(t, bin, withRegion, "", append(slices.Clone(targetArgs), "--", "aws", "sts", "get-caller-identity")...)
		if r.code != 0 || !strings.Contains(r.stdout, `"Arn"`) {
			t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
		}
		if keys := proxy.keysFor("GetCallerIdentity"); keys[len(keys)-1] != want.AccessKeyID {
			t.Fatalf("the AWS CLI's call was signed with %s, want the secret's %s", secretfmt.Mask(keys[len(keys)-1]), want.MaskedKey())
		}
		for _, k := range proxy.keysFor("GetSecretValue") {
			if k != "AKIAKUMOTESTKEY00000" {
				t.Fatalf("exec read the secret signed with %s, not its own identity", secretfmt.Mask(k))
			}
		}
	})

	t.Run("exit statuses are the child's, 128+N for a signal, 127 for a missing command", func(t *testing.T) {
		for _, c := range []struct {
			argv []string
			code int
		}{
			{[]string{"sh", "-c", "exit 7"}, 7},
			{[]string{"sh", "-c", "kill -TERM $$"}, 128 + int(syscall.SIGTERM)},
			{[]string{"true"}, 0},
			{[]string{"/no/such/program"}, 127},
		} {
			r := runExec(t, bin, withRegion, "", append(slices.Clone(targetArgs), append([]string{"--"}, c.argv...)...)...)
			if r.code != c.code {
				t.Errorf("%v: exit %d, want %d (stderr %s)", c.argv, r.code, c.code, r.stderr)
			}
			if c.code != 127 && strings.Contains(r.stderr, "stsrotator exec:") && !strings.Contains(r.stderr, "removed from") {
				t.Errorf("%v: exec added a message to the child's status: %s", c.argv, r.stderr)
			}
		}
	})

	t.Run("signals reach the child and the endpoint stops with it", func(t *testing.T) {
		script := `
import os, signal, sys, time
# os.write: a handler may run while print still holds stdout.
def usr1(*_): os.write(1, b"usr1\n")
def term(*_): os.write(1, b"term\n"); sys.exit(3)
signal.signal(signal.SIGUSR1, usr1)
signal.signal(signal.SIGTERM, term)
print("ready " + os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"], flush=True)
for _ in range(600): time.sleep(0.1)
sys.exit(9)`
		cmd, _, lines, errb := startExec(t, bin, withRegion, append(slices.Clone(targetArgs), "--", "python3", "-c", script)...)
		next := func() string {
			if !lines.Scan() {
				t.Fatalf("the child ended early: %s", errb.String())
			}
			return lines.Text()
		}
		uri, ok := strings.CutPrefix(next(), "ready ")
		if !ok {
			t.Fatal("the child did not start")
		}
		_ = cmd.Process.Signal(syscall.SIGUSR1)
		if l := next(); l != "usr1" {
			t.Fatalf("after SIGUSR1 the child printed %q", l)
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if l := next(); l != "term" {
			t.Fatalf("after SIGTERM the child printed %q", l)
		}
		_ = cmd.Wait()
		if code := cmd.ProcessState.ExitCode(); code != 3 {
			t.Fatalf("exec exited %d, want the child's 3; stderr %s", code, errb.String())
		}
		if resp, err := http.Get(uri); err == nil {
			_ = resp.Body.Close()
			t.Fatalf("the endpoint still answers after the child ended (%d)", resp.StatusCode)
		}
	})

	t.Run("--env gives static variables and says when the child outlives them", func(t *testing.T) {
		short := target(env, "exec-env")
		now := time.Now().UTC()
		v := value(51, now.Add(3*time.Second), now.Add(-time.Minute))
		putValue(t, env, short.SecretName, short.Name, v)
		script := `
import os, sys, time
print(" ".join(sorted(k for k in os.environ if k.startswith("AWS_") and "REGION" not in k and k not in ("AWS_ENDPOINT_URL", "AWS_EC2_METADATA_DISABLED"))), flush=True)
time.sleep(float(sys.argv[1]))`
		quick := runExec(t, bin, withRegion, "", "--secret-id", short.SecretName, "--env", "--", "python3", "-c", script, "0")
		if quick.code != 0 || strings.Contains(quick.stderr, "still running") || !strings.Contains(quick.stderr, "they do not refresh") {
			t.Fatalf("a child done in time: exit %d\n%s", quick.code, quick.stderr)
		}
		long := runExec(t, bin, withRegion, "", "--secret-id", short.SecretName, "--env", "--", "python3", "-c", script, "6")
		if long.code != 0 || strings.TrimSpace(long.stdout) != "AWS_ACCESS_KEY_ID AWS_CREDENTIAL_EXPIRATION AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN" {
			t.Fatalf("exit %d, the child saw %q: want the four static variables and no endpoint\n%s", long.code, long.stdout, long.stderr)
		}
		if !strings.Contains(long.stderr, "expired at "+v.Expiration.Format(time.RFC3339)+" and it is still running") {
			t.Fatalf("exec did not say the child outlived its credentials:\n%s", long.stderr)
		}
		noSecrets(t, "exec stderr", long.stderr+quick.stderr)
	})

	t.Run("a long-running boto3 child signs with the rotated key without a restart", func(t *testing.T) {
		long := target(env, "exec-rotated")
		now := time.Now().UTC()
		// 12 minutes left: inside botocore's 15-minute advisory refresh
		// window, so it asks the endpoint again at each call.
		first := value(52, now.Add(12*time.Minute), now.Add(-time.Minute))
		putValue(t, env, long.SecretName, long.Name, first)
		second := value(53, now.Add(time.Hour), now.Add(40*time.Minute))
		script := `
import boto3, sys, time
s = boto3.Session(); sts = s.client("sts")
key = lambda: s.get_credentials().get_frozen_credentials().access_key
sts.get_caller_identity(); first = key(); print(first, flush=True)
sys.stdin.readline()
for _ in range(90):
    sts.get_caller_identity()
    if key() != first:
        sts.get_caller_identity(); print(key(), flush=True); sys.exit(0)
    time.sleep(1)
sys.exit(4)`
		cmd, stdin, lines, errb := startExec(t, bin, withRegion, "--secret-id", long.SecretName, "--", "python3", "-c", script)
		if !lines.Scan() || lines.Text() != first.AccessKeyID {
			t.Fatalf("the child started with %q: %s", lines.Text(), errb.String())
		}
		putVersion(t, env, long.SecretName, long.Name, second)
		_, _ = io.WriteString(stdin, "rotated\n")
		if !lines.Scan() || lines.Text() != second.AccessKeyID {
			t.Fatalf("the child went on with %q, want the rotated key: %s", secretfmt.Mask(lines.Text()), errb.String())
		}
		_ = cmd.Wait()
		if code := cmd.ProcessState.ExitCode(); code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		if keys := proxy.keysFor("GetCallerIdentity"); keys[len(keys)-1] != second.AccessKeyID {
			t.Fatalf("the child's last call was signed with %s, want the rotated %s", secretfmt.Mask(keys[len(keys)-1]), second.MaskedKey())
		}
		noSecrets(t, "exec stderr", errb.String())
	})
}

// botoConfigHasKeys reads a boto config as botocore's BotoProvider does.
func TestBotoConfigHasKeys(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		why, body string
		want      bool
	}{
		{"both keys under [Credentials]", "[Credentials]\naws_access_key_id = A\naws_secret_access_key = B\n", true},
		{"':' separates as well, names in any case", "[Credentials]\nAWS_ACCESS_KEY_ID: A=1\naws_secret_access_key:B\n", true},
		{"an id without a secret is not loaded", "[Credentials]\naws_access_key_id = A\n", false},
		{"keys in another section are not read", "[Boto]\naws_access_key_id = A\naws_secret_access_key = B\n", false},
		{"section names are case-sensitive", "[credentials]\naws_access_key_id = A\naws_secret_access_key = B\n", false},
		{"commented keys are not keys", "[Credentials]\n# aws_access_key_id = A\n; aws_secret_access_key = B\n", false},
		{"gsutil's GCS settings", "[Credentials]\ngs_oauth2_refresh_token = x\n", false},
	}
	for i, c := range cases {
		p := filepath.Join(dir, strconv.Itoa(i))
		if err := os.WriteFile(p, []byte(c.body), 0o600); err != nil {
			t.Fatal(err)
		}
		if got := botoConfigHasKeys(p); got != c.want {
			t.Errorf("%s: %v, want %v", c.why, got, c.want)
		}
	}
	for _, p := range []string{"/dev/zero", dir, filepath.Join(dir, "missing")} {
		if botoConfigHasKeys(p) {
			t.Errorf("%s: not a regular file, yet read as a boto config", p)
		}
	}
}
