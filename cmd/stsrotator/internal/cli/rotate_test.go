package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stsrotator/stsrotator/infra/plan"
	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/lambdaenv"
	"github.com/stsrotator/stsrotator/shared/rotation"
)

// withConfig points at the repository's example config.
var withConfig = []string{"--config", "../../../../stsrotator.yaml"}

// startRotator runs the real rotator binary under kumo's Runtime API as
// the lane a stack named stack would give billing-reader, and returns the
// config it uses, the function's name and its output.
func startRotator(t *testing.T, env *awstest.Env, stack string, verify rotation.VerifyMode) (string, string, *awstest.Buffer) {
	t.Helper()
	cfgPath := filepath.Join(t.TempDir(), "stsrotator.yaml")
	src := fmt.Sprintf("targets:\n  - name: billing-reader\n    roleArn: arn:aws:iam::000000000000:role/BillingReadOnly\n    secretName: %s\n", env.Unique(stack+"/billing-reader"))
	if err := os.WriteFile(cfgPath, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.New(cfg, []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	name, _ := p.FunctionFor(stack, "billing-reader")
	logs := &awstest.Buffer{}
	env.RunFunction(t, name, awstest.BuildFunction(t, awstest.RepoRoot(t), "rotator"),
		[]string{lambdaenv.ConfigPath + "=" + cfgPath, lambdaenv.VerifyMode + "=" + string(verify)}, logs)
	return cfgPath, name, logs
}

// rotate against the real rotator binary under kumo's Lambda Runtime API.
// The cases run in order against one rotator: the first forced rotation
// mints, later ones within ten minutes are held back by the write interval.
func TestRotateThroughKumo(t *testing.T) {
	env := awstest.Start(t)
	stack := env.Unique("cli")
	cfgPath, fn, logs := startRotator(t, env, stack, rotation.VerifyCaller)
	_, strictFn, _ := startRotator(t, env, env.Unique("strict"), rotation.VerifyIdentity)
	byConfig := []string{"--config", cfgPath, "--stack", stack}
	cases := []struct {
		why    string
		args   []string
		env    map[string]string
		code   int
		stdout string
		stderr string
	}{
		{"the rotator is found from the config; the first rotation reports the new masked key, expiry and version",
			append([]string{"rotate", "billing-reader"}, byConfig...), nil, ExitOK, "billing-reader: rotated, new key ASIA…", ""},
		{"a second one within 10 minutes is held back, and says why",
			append([]string{"rotate", "billing-reader"}, byConfig...), nil, ExitOK, "not rotated: written less than 10 minutes ago", ""},
		{"--json prints the rotator's response",
			append([]string{"rotate", "--json", "--target", "billing-reader"}, byConfig...), nil, ExitOK, `"mode":"target"`, ""},
		{"the function comes from the environment",
			[]string{"rotate", "billing-reader"}, map[string]string{lambdaenv.RotatorFunction: fn}, ExitOK, "billing-reader: not rotated", ""},
		{"--function beats the environment, and flags may follow the name",
			[]string{"rotate", "billing-reader", "--function", fn}, map[string]string{lambdaenv.RotatorFunction: "no-such-rotator"}, ExitOK, "billing-reader: not rotated", ""},
		{"a rotation the rotator could not verify exits 6 with its reason",
			[]string{"rotate", "billing-reader", "--function", strictFn}, nil, ExitRotationFailed, "", "billing-reader: verify credentials for arn:aws:iam::000000000000:role/BillingReadOnly: identity is"},
		{"a function error exits 6 with its type and message",
			[]string{"rotate", "nope", "--function", fn}, nil, ExitRotationFailed, "", `unknown target "nope"`},
		{"a function that is not deployed is not found, with the fix (deploy, or check --stack/--function/--region), not a raw 404",
			[]string{"rotate", "billing-reader", "--function", "no-such-rotator"}, nil, ExitNotFound, "", "rotator function no-such-rotator does not exist in this account and region (fix: deploy the stack with cdk deploy, or check --stack"},
	}
	for _, c := range cases {
		a, out, errb := testApp(env, time.Now, c.env)
		r := execute(t, a, out, errb, c.args...)
		if r.code != c.code || !strings.Contains(r.stdout, c.stdout) || !strings.Contains(r.stderr, c.stderr) {
			t.Fatalf("%s: exit %d (want %d)\nstdout %q (want %q)\nstderr %q (want %q)", c.why, r.code, c.code, r.stdout, c.stdout, r.stderr, c.stderr)
		}
	}
	// The rotator logs who asked, from the payload the CLI sent.
	if !strings.Contains(logs.String(), `"why":"stsrotator rotate by tester@test-host"`) {
		t.Fatalf("the rotator did not receive the CLI's reason:\n%s", logs.String())
	}
}

// Without --function, rotate finds the rotator from the config; it says
// how to proceed when it cannot.
func TestRotateNeedsToFindTheRotator(t *testing.T) {
	cases := []struct {
		why    string
		args   []string
		code   int
		stderr string
	}{
		{"no config and no --function names both ways out", []string{"rotate", "billing-reader"}, ExitUsage, "pass --config, run where stsrotator.yaml is, or name it with --function"},
		{"a target the config does not declare lists the valid ones", append([]string{"rotate", "nope"}, withConfig...), ExitNotFound, "valid targets: billing-reader, deploy-bot, audit-s3"},
	}
	for _, c := range cases {
		env := awstest.Start(t)
		a, out, errb := testApp(env, time.Now, nil)
		r := execute(t, a, out, errb, c.args...)
		if r.code != c.code || !strings.Contains(r.stderr, c.stderr) {
			t.Errorf("%s: exit %d (want %d), stderr %q (want %q)", c.why, r.code, c.code, r.stderr, c.stderr)
		}
	}
}

// Issue 15 §2: `stsrotator rotate` on a secret that already had 100
// versions written in the last 24 hours is held back by the rotator, and
// the CLI says so and when the next write is allowed, instead of the
// ten-minute message.
func TestRotateHeldByVersionQuota(t *testing.T) {
	env := awstest.Start(t)
	stack := env.Unique("held")
	cfgPath, _, _ := startRotator(t, env, stack, rotation.VerifyCaller)
	now := time.Now()
	v := value(1, now.Add(50*time.Minute), now.Add(25*time.Minute))
	v.Meta.IssuedAt = now.Add(-20 * time.Minute)
	for i := range 100 {
		v.Meta.Writes = append(v.Meta.Writes, now.Add(-20*time.Minute-time.Duration(99-i)*13*time.Minute))
	}
	putValue(t, env, env.Unique(stack+"/billing-reader"), "billing-reader", v)
	a, out, errb := testApp(env, time.Now, nil)
	r := execute(t, a, out, errb, "rotate", "billing-reader", "--config", cfgPath, "--stack", stack)
	for _, want := range []string{"billing-reader: not rotated: forced with ", "but held back: 100 versions written in the last 24h and a forced rotation may add one only while fewer than 55 are", "next write is allowed at "} {
		if r.code != ExitOK || !strings.Contains(r.stdout, want) {
			t.Fatalf("exit %d, stdout %q, stderr %q; want %q", r.code, r.stdout, r.stderr, want)
		}
	}
	if strings.Contains(r.stdout, "less than 10 minutes ago") {
		t.Fatalf("a quota hold is not the ten-minute guard: %q", r.stdout)
	}
}
