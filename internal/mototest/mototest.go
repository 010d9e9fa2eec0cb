package mototest

import (
	"context"
	_ "embed"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/stsrotator/stsrotator/internal/emulator"
)

// Region is the region every client built here uses.
const Region = "us-east-1"

// Account is the account moto answers for by default (its
// DEFAULT_ACCOUNT_ID).
const Account = "123456789012"

// InstallHint is the fix printed when moto cannot be started.
const InstallHint = "python3 -m pip install 'moto[server]==5.2.1'"

// Server is one moto process listening on 127.0.0.1.
type Server struct {
	// URL is the endpoint, e.g. http://127.0.0.1:41234.
	URL string
	// Port is URL's port.
	Port int

	cmd  *exec.Cmd
	logs *emulator.Buffer
}

// Start runs a fresh moto server for the test and stops it at cleanup.
// It fails the test (with the install line) when python3 or moto is
// missing; it never skips.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s, err := Launch(context.Background())
	if err != nil {
		tb.Fatalf("mototest: %v", err)
	}
	tb.Cleanup(func() {
		s.Close()
		if tb.Failed() {
			tb.Logf("moto log (last 4 KiB):\n%s", s.Tail(4096))
		}
	})
	return s
}

//go:embed server.py
var serverPy string

// Launch starts moto outside a test (the caller must Close it).
func Launch(ctx context.Context) (*Server, error) {
	py, err := exec.LookPath("python3")
	if err != nil {
		return nil, fmt.Errorf("python3 not on PATH: moto needs it (fix: install Python 3, then %s)", InstallHint)
	}
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("pick a loopback port: %w", err)
	}
	logs := &emulator.Buffer{}
	// server.py is moto's own server with one documented gap fixed
	// (UpdateSecretVersionStage; see the file and docs/local.md).
	cmd := exec.Command(py, "-c", serverPy, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.Env = os.Environ()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start moto: %w (fix: %s)", err, InstallHint)
	}
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Port: port, cmd: cmd, logs: logs}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/moto-api/", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				go func() { <-exited }() // reap after Close
				return s, nil
			}
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("moto exited before it listened (%v): %s (fix: %s)", err, logs.Tail(2048), InstallHint)
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			return nil, fmt.Errorf("moto did not answer on %s within 30s: %s", s.URL, logs.Tail(2048))
		}
	}
}

// Close stops the moto process.
func (s *Server) Close() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
	}
}

// Reset drops every resource moto holds (POST /moto-api/reset).
func (s *Server) Reset(ctx context.Context) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/moto-api/reset", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reset moto: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reset moto: status %d", resp.StatusCode)
	}
	return nil
}

// Config is an SDK config pointed at this server with static test
// credentials of the given access key (moto maps unknown keys to
// Account). Pass "" for the default test key.
func (s *Server) Config(accessKeyID string) aws.Config {
	if accessKeyID == "" {
		accessKeyID = "AKIAMOTOTESTKEY00000"
	}
	return aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider(accessKeyID, "moto-test-secret", ""),
		BaseEndpoint: aws.String(s.URL),
	}
}

// Env is the environment a child process (the AWS CLI, boto3, the cdk
// CLI, a function binary) needs to talk to this server.
func (s *Server) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=AKIAMOTOTESTKEY00000",
		"AWS_SECRET_ACCESS_KEY=moto-test-secret",
		"AWS_REGION=" + Region,
		"AWS_DEFAULT_REGION=" + Region,
		"AWS_ENDPOINT_URL=" + s.URL,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// Tail is the last n bytes of moto's own log.
func (s *Server) Tail(n int) string { return s.logs.Tail(n) }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
