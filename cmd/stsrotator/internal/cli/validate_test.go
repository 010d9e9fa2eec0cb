package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stsrotator/stsrotator/infra/plan"
	"github.com/stsrotator/stsrotator/infra/plan/plantest"
	"github.com/stsrotator/stsrotator/internal/awstest"
)

// stsrotator validate runs synth's config checks (plan.Load, which
// infra/app's synth calls too) without a synth, and exits 0 only for a
// valid config.
func TestValidate(t *testing.T) {
	env := awstest.Start(t)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	example := filepath.Join(awstest.RepoRoot(t), "stsrotator.yaml")
	// Two field problems in one file: both are reported, each with its
	// line and fix.
	bad := write("bad.yaml", "version: 1\ntargets:\n  - name: a\n    roleArn: not-an-arn\n  - name: b\n    roleArn: arn:aws:iam::123456789012:role/B\n    durationSeconds: 99999\n")
	// Valid as a config, refused by the plan: more targets in one shard
	// than a nested stack can take (only synth's plan check sees this).
	var big strings.Builder
	big.WriteString("targets:\n")
	for i, n := 0, 0; n <= plan.MaxTargetsPerShard; i++ {
		if name := fmt.Sprintf("t%d", i); plan.ShardOf(name) == 7 {
			fmt.Fprintf(&big, "  - name: %s\n    roleArn: arn:aws:iam::123456789012:role/R\n", name)
			n++
		}
	}
	crowded := write("crowded.yaml", big.String())
	// Two problems in one target, of which one (the consumer-window floor)
	// is checked after every target is read: both are reported.
	sameTarget := write("same.yaml", "targets:\n  - name: a\n    roleArn: arn:aws:iam::12345:role/X\n    durationSeconds: 1800\n    refreshBefore: 10m\n")
	replicated := write("replicated.yaml", "targets:\n  - name: web\n    roleArn: arn:aws:iam::123456789012:role/Web\n    replicaRegions: [eu-west-1]\n")
	cases := []struct {
		why    string
		args   []string
		code   int
		stdout string
		stderr []string
	}{
		{"the repository's example config is valid", []string{"validate", "--config", example}, ExitOK, "is valid: 3 targets", nil},
		{"every field problem is reported, one a line, with line and fix", []string{"validate", "--config", bad}, ExitUsage, "",
			[]string{bad + ":4: targets[0](a).roleArn", bad + ":7: targets[1](b).durationSeconds", "fix:", "is not valid: 2 problems"}},
		{"every problem of one target is reported: a bad roleArn and refreshBefore 10m on 1800 s", []string{"validate", "--config", sameTarget}, ExitUsage, "",
			[]string{sameTarget + ":3: targets[0](a).roleArn", sameTarget + ":5: targets[0](a).refreshBefore: 10m leaves consumers inside the SDKs' 15m refresh window", "is not valid: 2 problems"}},
		{"--help does not offer AWS flags as if validate used AWS", []string{"validate", "--help"}, ExitOK, "--profile profile   unused: validate makes no AWS call", nil},
		{"a plan limit synth would hit is reported without a synth", []string{"validate", "--config", crowded}, ExitUsage, "", []string{"targets whose names hash to shard stack Shard007", "outputs, over AWS's limit of 200", "fix:"}},
		{"a stack name CloudFormation would refuse is reported", []string{"validate", "--config", example, "--stack", "9-bad_name"}, ExitUsage, "", []string{`--stack "9-bad_name": not a usable stack name`}},
		{"--region names the stack's region: a replica there is refused before a deploy", []string{"validate", "--config", replicated, "--region", "eu-west-1"}, ExitUsage, "",
			[]string{replicated + ":4: targets[0](web).replicaRegions[0]: eu-west-1 is the stack's own region (eu-west-1, from --region)", "fix: remove it from replicaRegions"}},
		{"the same config is valid for a stack in another region", []string{"validate", "--config", replicated, "--region", "us-east-1"}, ExitOK, "is valid: 1 target", nil},
		{"a missing file is a usage error with the fix", []string{"validate", "--config", filepath.Join(dir, "absent.yaml")}, ExitUsage, "", []string{"read config", "--config"}},
		{"no config anywhere says how to name one", []string{"validate"}, ExitUsage, "", []string{"no stsrotator.yaml in the working directory (fix: pass --config FILE)"}},
	}
	for _, c := range cases {
		t.Run(c.why, func(t *testing.T) {
			a, out, errb := testApp(env, time.Now, nil)
			r := execute(t, a, out, errb, c.args...)
			if r.code != c.code || !strings.Contains(r.stdout, c.stdout) {
				t.Fatalf("exit %d (want %d), stdout %q (want %q), stderr %q", r.code, c.code, r.stdout, c.stdout, r.stderr)
			}
			for _, want := range c.stderr {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
				}
			}
		})
	}
}

// Proves: validate refuses, with synth's own message (plan.Load, which
// synth calls), a config whose readers would cross a policy quota at
// deploy, and accepts the same config one reader short: a target's
// secret resource policy and the default bus's policy of reader accounts.
func TestValidateReaderPolicyEdges(t *testing.T) {
	env := awstest.Start(t)
	dir := t.TempDir()
	for _, c := range []struct {
		quota  string
		config func(n int) []byte
	}{
		{"Secrets Manager resource-based policy length", plantest.Readers},
		{"EventBridge event bus policy size", plantest.ReaderAccounts},
	} {
		t.Run(c.quota, func(t *testing.T) {
			n := 1
			for ; ; n++ {
				if _, err := plan.Load("x.yaml", c.config(n)); err != nil {
					break
				}
			}
			at, over := filepath.Join(dir, "at.yaml"), filepath.Join(dir, "over.yaml")
			if err := os.WriteFile(at, c.config(n-1), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(over, c.config(n), 0o600); err != nil {
				t.Fatal(err)
			}
			_, synthErr := plan.Load(over, c.config(n))
			a, out, errb := testApp(env, time.Now, nil)
			if r := execute(t, a, out, errb, "validate", "--config", at); r.code != ExitOK {
				t.Fatalf("at the edge (%d): exit %d, stderr %q", n-1, r.code, r.stderr)
			}
			a, out, errb = testApp(env, time.Now, nil)
			r := execute(t, a, out, errb, "validate", "--config", over)
			if r.code != ExitUsage || !strings.Contains(r.stderr, synthErr.Error()) || !strings.Contains(r.stderr, "over AWS's limit") {
				t.Fatalf("one over (%d): exit %d, stderr %q, want synth's %q", n, r.code, r.stderr, synthErr)
			}
		})
	}
}
