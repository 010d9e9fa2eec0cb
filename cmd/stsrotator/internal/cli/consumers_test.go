package cli

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stsrotator/stsrotator/internal/awstest"
)

// served is one running `stsrotator serve`.
type served struct {
	// vars are the variables serve printed to export; unset the names it
	// printed to unset.
	vars   map[string]string
	unset  []string
	stderr *syncBuffer
	stop   func()
}

// startServe runs the built CLI's serve and reads the lines it prints for
// the shell.
func startServe(t *testing.T, bin string, env []string, args ...string) *served {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve"}, args...)...)
	cmd.Env = env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &served{vars: map[string]string{}, stderr: &syncBuffer{}}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	s.stop = func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGINT)
		if err := <-exited; err != nil {
			t.Errorf("serve did not stop cleanly on SIGINT: %v; stderr %s", err, s.stderr.String())
		}
		_, _ = awstest.Logs.Write([]byte(s.stderr.String()))
	}
	t.Cleanup(s.stop)
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		line := lines.Text()
		if name, ok := strings.CutPrefix(line, "unset "); ok {
			s.unset = append(s.unset, name)
			break // the last line serve prints with a token file
		}
		k, v, _ := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if uq, err := unquoteShell(v); err == nil {
			v = uq
		}
		s.vars[k] = v
		if k == EnvContainerToken {
			break // the last line serve prints without a token file
		}
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	if s.vars[EnvContainerFullURI] == "" {
		t.Fatalf("serve printed %v; stderr %s", s.vars, s.stderr.String())
	}
	return s
}

// unquoteShell undoes shellQuote's single quotes.
func unquoteShell(v string) (string, error) {
	out, err := exec.Command("sh", "-c", "printf %s "+v).Output()
	return string(out), err
}

// freePort finds a loopback port nobody listens on, for a serve that must
// come back on the same one.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// consumerEnv is a clean environment for a real AWS client: no
// credentials of its own, the region both ways the AWS CLI v1 and boto3
// read it, kumo as the endpoint.
func consumerEnv(env *awstest.Env, home string, extra ...string) []string {
	return append([]string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home,
		"AWS_DEFAULT_REGION=" + awstest.Region, "AWS_REGION=" + awstest.Region, "AWS_ENDPOINT_URL=" + env.URL,
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=" + filepath.Join(home, "no-config"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "no-credentials"),
	}, extra...)
}

// awsCLI runs the real AWS CLI v1 and returns its stdout, failing the test
// with its stderr if it fails.
func awsCLI(t *testing.T, env []string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("aws", args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// Issue 15 §6: a client started against serve keeps working when serve
// restarts, because both read the token from a file. The client is the
// real AWS CLI (botocore reads AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE at
// each fetch and refuses a token with a newline).
func TestServeTokenFileSurvivesRestart(t *testing.T) {
	env := awstest.Start(t)
	bin := buildCLI(t)
	home := t.TempDir()
	good := target(env, "restarted")
	mint(t, env, good)
	cfgPath := writeConfig(t, good)
	port := strconv.Itoa(freePort(t))
	tokenFile := filepath.Join(t.TempDir(), "serve.token")
	args := []string{"--target", good.Name, "--config", cfgPath, "--port", port, "--token-file", tokenFile}

	first := startServe(t, bin, binEnv(env, home), args...)
	if first.vars[EnvContainerTokenFile] != tokenFile || first.vars[EnvContainerToken] != "" || strings.Join(first.unset, " ") != EnvContainerToken {
		t.Fatalf("serve printed %v, unset %v: want the token file exported instead of the token, and the token unset", first.vars, first.unset)
	}
	client := consumerEnv(env, home, EnvContainerFullURI+"="+first.vars[EnvContainerFullURI], EnvContainerTokenFile+"="+tokenFile)
	if out := awsCLI(t, client, "sts", "get-caller-identity"); !strings.Contains(out, `"Arn"`) {
		t.Fatalf("aws sts get-caller-identity printed %s", out)
	}
	first.stop()
	if !strings.Contains(first.stderr.String(), "GET /credentials 200 key ASIA") {
		t.Fatalf("the AWS CLI did not take its credentials from serve: %s", first.stderr.String())
	}

	second := startServe(t, bin, binEnv(env, home), args...)
	if second.vars[EnvContainerFullURI] != first.vars[EnvContainerFullURI] {
		t.Fatalf("serve came back on %s, not %s", second.vars[EnvContainerFullURI], first.vars[EnvContainerFullURI])
	}
	if out := awsCLI(t, client, "sts", "get-caller-identity"); !strings.Contains(out, `"Arn"`) {
		t.Fatalf("after the restart, aws sts get-caller-identity printed %s", out)
	}
	second.stop()
	if !strings.Contains(second.stderr.String(), "GET /credentials 200 key ASIA") {
		t.Fatalf("after the restart the AWS CLI did not get credentials from serve: %s", second.stderr.String())
	}
	noSecrets(t, "serve stderr", first.stderr.String()+second.stderr.String())
}
