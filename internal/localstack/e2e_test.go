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
	"github.com/stsrotator/stsrotator/shared/rotation"
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
// for a stale key alerts only → the clock keeps moving forward and every
// target is rotated before it expires → credential-process's output works
// with the SDK's processcreds provider → nothing is left behind.
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

	// The revocation check the narration printed works from another
	// shell, as printed, while the stack runs.
	if res.Revoke.Check != "" {
		if out, err := s.Shell(ctx, res.Revoke.Check); err != nil || !strings.Contains(out, "IN FORCE") {
			t.Errorf("the narrated check %q, run as printed after the script: %v\n%s", res.Revoke.Check, err, out)
		}
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
		{"the script revokes a target: the scoped policy on its role (moto), a rotation issued after the cutoff, --cleanup refused",
			res.Revoke.Skipped == "" && strings.Contains(res.Revoke.Output, "Rotated: new key") && strings.Contains(res.Revoke.Policy, `"aws:userid":"*:stsrotator-`+res.Revoke.Target+`"`) &&
				strings.Contains(res.Revoke.Cleanup, "refused: sessions issued before the cutoff")},
		{"the narrated revocation check, run as printed, reaches moto's IAM and shows the revocation in force",
			strings.Contains(narration.String(), "$ "+res.Revoke.Check) && strings.Contains(res.Revoke.Check, "AWS_ENDPOINT_URL_IAM=") &&
				strings.Contains(res.Revoke.CheckOutput, "IN FORCE") && !strings.Contains(res.Revoke.CheckOutput, "UNKNOWN")},
		{"the narration shows every rotation and alert as an EventBridge event, the revocation's with why revoke",
			count(res.Events, "Credentials Rotated") >= 6 && count(res.Events, "Alert") == 2 && strings.Contains(narration.String(), "(why: revoke)") &&
				strings.Contains(narration.String(), "event Alert: stsrotator: ")},
		// Issue 6's budget, from Start (host builds included; the assembly
		// was synthesized once in TestMain) to the first minted credential.
		{"the first credential is minted within 10 s", res.FirstMint > 0 && res.FirstMint <= 10*time.Second},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: result %+v", c.why, res)
		}
	}

	triesWork(ctx, t, s, res)
	keepsRotating(ctx, t, s)

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
		// Created as the deployed stack creates it: with the tags
		// `stsrotator status` finds managed secrets by.
		d, err := env.Secrets.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(tg.SecretName)})
		if err != nil {
			t.Fatal(err)
		}
		tags := map[string]string{}
		for _, kv := range d.Tags {
			tags[aws.ToString(kv.Key)] = aws.ToString(kv.Value)
		}
		if tags[rotation.TagManagedBy] != rotation.ManagedBy || tags[rotation.TagTarget] != tg.Name {
			t.Errorf("secret %s has tags %v, want the stack's %s and %s", tg.SecretName, tags, rotation.TagManagedBy, rotation.TagTarget)
		}
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
	for _, addr := range []string{fmt.Sprintf("127.0.0.1:%d", port), strings.TrimPrefix(s.shift.URL, "http://")} {
		if l, err := net.Listen("tcp", addr); err != nil {
			t.Errorf("%s is still taken after shutdown: %v", addr, err)
		} else {
			_ = l.Close()
		}
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

// keepsRotating is `make local` once the script is done: the functions'
// clock keeps the lead the script gave it, a tick runs at once and then
// one per schedule period. Moving the clock forward a period at a time
// (the wall clock's part, which a test cannot wait for) for 150 minutes,
// every target's current credentials must be valid before every tick,
// i.e. each is rotated before it expires, and each at least twice, so the
// check cannot pass on a clock that did not move.
func keepsRotating(ctx context.Context, t *testing.T, s *Stack) {
	t.Helper()
	lead := s.Offset()
	if err := s.SetClock(0); err == nil {
		t.Errorf("SetClock(0) after the script turned the functions' clock back from %s ahead: the script's versions now look issued in the future", lead)
		return
	}
	every := s.Assembly.Lanes[0].Every
	const horizon = 150 * time.Minute
	var narration bytes.Buffer
	n := &Narrator{Out: &narration, Stack: s}
	rotations := map[string]int{}
	for elapsed := time.Duration(0); elapsed <= horizon; elapsed += every {
		if elapsed > 0 {
			if err := s.Advance(every); err != nil {
				t.Fatal(err)
			}
		}
		// Validity only shrinks between ticks, so just before one is
		// where a late rotation shows.
		for _, r := range s.Status(ctx) {
			switch {
			case r.Err != nil:
				t.Fatalf("%s after the script: read %s: %v", elapsed, r.Target, r.Err)
			case r.Left <= 0:
				t.Errorf("%s after the script (clock %s ahead), %s expired %s ago before a rotation: issued %s, expired %s",
					elapsed, s.Offset(), r.Target, -r.Left, r.Issued.Format(time.RFC3339), r.Expires.Format(time.RFC3339))
			}
		}
		sum, err := n.Sweep(ctx)
		if err != nil {
			t.Fatalf("%s after the script: %v", elapsed, err)
		}
		for _, r := range sum.Failed {
			t.Errorf("%s after the script: %s failed: %s", elapsed, r.Target, r.Reason)
		}
		for _, r := range sum.Rotated {
			rotations[r.Target]++
		}
	}
	for _, tg := range s.Config.Targets {
		if rotations[tg.Name] < 2 {
			t.Errorf("%s was rotated %d times in %s after the script; its %s sessions need at least 2", tg.Name, rotations[tg.Name], horizon, tg.Duration)
		}
	}
	if t.Failed() {
		t.Logf("after the script:\n%s", narration.String())
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

func count(xs []string, x string) int {
	n := 0
	for _, v := range xs {
		if v == x {
			n++
		}
	}
	return n
}
