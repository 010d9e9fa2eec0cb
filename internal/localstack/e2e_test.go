package localstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/processcreds"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/stsrotator/stsrotator/internal/awstest"
)

func TestMain(m *testing.M) { awstest.MainWithKumoPort(m) }

// The same path as `make local`, without a terminal and with a fast clock:
// synth → start → all minted → past refreshBefore the tick rotates → a
// report for the current key forces a rotation and an alert → a report
// for a stale key alerts only → credential-process's output works with
// the SDK's processcreds provider → nothing is left behind.
func TestLocalStackEndToEnd(t *testing.T) {
	root := awstest.RepoRoot(t)
	asm := synthesized(t)
	var port int
	if _, err := fmt.Sscan(os.Getenv("KUMO_PORT"), &port); err != nil {
		t.Fatal("KUMO_PORT not set")
	}
	ctx := awstest.Context(t)
	t0 := time.Now()
	s, err := Start(ctx, Options{Root: root, Assembly: asm, Port: port, WorkDir: t.TempDir(), FunctionLog: awstest.Logs})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = s.Close()
		}
	})
	var narration bytes.Buffer
	res, err := Demo(ctx, s, &narration, t0)
	t.Logf("narration:\n%s", narration.String())
	if err != nil {
		t.Fatal(err)
	}

	checks := []struct {
		why string
		ok  bool
	}{
		{"every target is minted by the first tick", len(res.Minted) == 3},
		{"past refreshBefore the tick rotates exactly the due target", fmt.Sprint(res.TickRotated) == "[deploy-bot]"},
		{"a report for the current key near expiry forces a rotation and alerts", strings.Contains(res.ForcedAlert, "rotated after ExpiredToken") && strings.Contains(res.ForcedAlert, "forced a rotation")},
		{"a report for a stale key alerts only", strings.Contains(res.StaleAlert, "stale consumer") && strings.Contains(res.StaleAlert, "no rotation")},
		{"the narration says when the first credential was minted", strings.Contains(narration.String(), "first credential minted")},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: result %+v", c.why, res)
		}
	}

	// The SDK's own credential_process provider runs the real CLI.
	for _, kv := range s.ClientEnv() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	creds, err := processcreds.NewProvider(s.CLIPath() + " credential-process --target " + res.ForcedTarget).Retrieve(ctx)
	if err != nil {
		t.Fatalf("processcreds with the CLI: %v", err)
	}
	env := awstest.Connect(s.Endpoint)
	if _, err := env.STS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}, func(o *sts.Options) { o.Credentials = aws.NewCredentialsCache(staticProvider{creds}) }); err != nil {
		t.Fatalf("kumo's STS refused the credentials credential-process printed: %v", err)
	}
	for _, tg := range s.Config.Targets {
		_, _ = env.Secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(tg.SecretName)})
	}
	if leaks := awstest.Leaks(narration.Bytes()); len(leaks) > 0 {
		t.Fatalf("the narration shows secret material: %v", leaks)
	}

	pids := s.Pids()
	closed = true
	if err := s.Close(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("function process %d is still running after shutdown", pid)
		}
	}
	if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
		t.Errorf("port %d is still taken after shutdown: %v", port, err)
	} else {
		_ = l.Close()
	}
}

var (
	synthOnce sync.Once
	synthDir  string
	synthErr  error
)

// synthesized runs `make synth` once per test binary, exactly as a user
// would, into a temporary assembly.
func synthesized(t *testing.T) string {
	synthOnce.Do(func() {
		synthDir, synthErr = os.MkdirTemp("", "stsrotator-assembly-")
		if synthErr != nil {
			return
		}
		cmd := exec.Command("make", "--no-print-directory", "synth", "CDK_ARGS=-o "+synthDir)
		cmd.Dir = awstest.RepoRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			synthErr = fmt.Errorf("make synth: %w\n%s", err, out)
		}
	})
	if synthErr != nil {
		t.Fatal(synthErr)
	}
	return synthDir
}

type staticProvider struct{ c aws.Credentials }

func (p staticProvider) Retrieve(context.Context) (aws.Credentials, error) { return p.c, nil }
