package localstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
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

// TestMain is awstest.MainWithKumoPort plus one step: the assembly the
// tests synthesised (tens of MB of function packages in the OS temp
// directory) is removed when they end, and the run fails if it cannot be.
// awstest.Main exits as soon as its leak check is done, leaving no later
// point for that, so the re-executed binary runs the same steps here.
func TestMain(m *testing.M) {
	if os.Getenv("KUMO_PORT") == "" {
		// Re-executes this binary with KUMO_PORT set and exits with its
		// code; only that run synthesises anything.
		awstest.MainWithKumoPort(m)
	}
	code := m.Run()
	if err := removeSynthesized(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
		code = 1
	}
	if code == 0 {
		// awstest.Main's leak check, unchanged.
		logs := awstest.Logs.Bytes()
		if leaks := awstest.Leaks(logs); len(leaks) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: %d secret values appear in test logs: %v\n", len(leaks), leaks)
			code = 1
		} else {
			fmt.Fprintf(os.Stderr, "leak check: %d log bytes scanned for %d secret values, none found\n", len(logs), awstest.SeenSecrets())
		}
	}
	os.Exit(code)
}

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
	work := t.TempDir()
	s, err := Start(ctx, Options{Root: root, Assembly: asm, Port: port, WorkDir: work, FunctionLog: awstest.Logs})
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

	// The leftover check below would pass vacuously if the stack built
	// somewhere else: the CLI must be one of the binaries in work.
	if rel, err := filepath.Rel(work, s.CLIPath()); err != nil || !filepath.IsLocal(rel) {
		t.Fatalf("the stack built its CLI at %s, outside its work dir %s", s.CLIPath(), work)
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
	// Nothing else writes into work in this test, so whatever is there
	// is the stack's: the host binaries it built, its dev clock.
	if left, err := os.ReadDir(work); err != nil {
		t.Errorf("read the stack's work dir after shutdown: %v", err)
	} else if len(left) > 0 {
		var names []string
		for _, e := range left {
			names = append(names, e.Name())
		}
		t.Errorf("the stack left %v in its work dir %s after shutdown (built binaries or the dev clock)", names, work)
	}
}

var (
	synthOnce sync.Once
	synthDir  string
	synthErr  error
)

// synthesized runs `make synth` once per test binary, exactly as a user
// would, into a temporary assembly that TestMain removes.
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

// removeSynthesized removes the assembly synthesized made, if any, and
// says so if it is still there.
func removeSynthesized() error {
	if synthDir == "" {
		return nil
	}
	if err := os.RemoveAll(synthDir); err != nil {
		return fmt.Errorf("the synthesized assembly %s is left behind: %w", synthDir, err)
	}
	switch _, err := os.Stat(synthDir); {
	case err == nil:
		return fmt.Errorf("the synthesized assembly %s is still there after removal", synthDir)
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("check that the synthesized assembly %s is gone: %w", synthDir, err)
	}
	return nil
}

type staticProvider struct{ c aws.Credentials }

func (p staticProvider) Retrieve(context.Context) (aws.Credentials, error) { return p.c, nil }
