package cli

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/shared/config"
)

// boto3Calls runs five STS calls with the real boto3 through a profile
// whose credential_process is the CLI behind a counting wrapper, and
// returns how many times boto3 ran it.
func boto3Calls(t *testing.T, env *awstest.Env, bin, secretID string) int {
	t.Helper()
	dir := t.TempDir()
	counter := filepath.Join(dir, "invocations")
	// The wrapper gives the CLI its own identity for reading the secret;
	// boto3 itself has none but the profile's.
	wrapper := filepath.Join(dir, "counted-stsrotator")
	script := fmt.Sprintf("#!/bin/sh\necho run >> %q\nexport %s\nexec %q \"$@\"\n", counter, strings.Join(binEnv(env, dir), " "), bin)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config")
	profile := fmt.Sprintf("[profile rotated]\nregion = %s\ncredential_process = %s credential-process --secret-id %s\n", awstest.Region, wrapper, secretID)
	if err := os.WriteFile(cfg, []byte(profile), 0o600); err != nil {
		t.Fatal(err)
	}
	py := `import boto3
sts = boto3.Session(profile_name="rotated").client("sts")
for _ in range(5):
    sts.get_caller_identity()
`
	cmd := exec.Command("python3", "-c", py)
	cmd.Env = append(consumerEnv(env, dir), "AWS_CONFIG_FILE="+cfg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("boto3: %v\n%s", err, stderr.String())
	}
	out, err := os.ReadFile(counter)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(out), "run")
}

// Issue 15 §1, with the real boto3: botocore refreshes credential_process
// credentials once fewer than 15 minutes are left, and re-runs the
// process on every call while the copy it gets back is still inside that
// window. With the validity the config now guarantees at the worst moment
// (refreshBefore less one sweep period, just before the rotator replaces
// the version) five calls run the CLI once; with 14 minutes left, as the
// old example's deploy-bot had for 28 % of its life, they run it six
// times.
func TestBoto3RunsCredentialProcessOncePerVersion(t *testing.T) {
	cfg, err := config.Load(filepath.Join(awstest.RepoRoot(t), "stsrotator.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	worst := time.Duration(1<<63 - 1)
	for _, tg := range cfg.Targets {
		worst = min(worst, tg.RefreshBefore-cfg.SweepInterval())
	}
	if worst <= config.DefaultConsumerRefreshWindow {
		t.Fatalf("the example config leaves only %s at worst, inside botocore's 15m window", worst)
	}
	env := awstest.Start(t)
	bin := buildCLI(t)
	now := time.Now()
	for _, c := range []struct {
		name string
		left time.Duration
		want int
	}{
		{"the least validity the example config lets a consumer see", worst - time.Minute, 1},
		{"14 minutes left, inside botocore's window", 14 * time.Minute, 6},
	} {
		t.Run(c.name, func(t *testing.T) {
			id := env.Unique(fmt.Sprintf("stsrotator/window-%d", int(c.left/time.Minute)))
			putValue(t, env, id, "window", value(int(c.left/time.Minute), now.Add(c.left), now.Add(c.left-time.Minute)))
			if got := boto3Calls(t, env, bin, id); got != c.want {
				t.Fatalf("with %s left, 5 boto3 calls ran credential-process %d times, want %d", c.left, got, c.want)
			}
		})
	}
}
