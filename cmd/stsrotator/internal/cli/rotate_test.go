package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda"

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
		{"issue 21: a second one within 10 minutes is held back: exit 13, why, and from when it is allowed",
			append([]string{"rotate", "--target", "billing-reader"}, byConfig...), nil, ExitNotRotated, "", "billing-reader: not rotated: written less than 10 minutes ago and still valid: last written "},
		{"the refusal says what to do: when to run it again, and revoke for leaked credentials",
			append([]string{"rotate", "billing-reader"}, byConfig...), nil, ExitNotRotated, "", "(fix: run stsrotator rotate --target billing-reader again at 20"},
		{"--json prints the rotator's response, and still exits 13",
			append([]string{"rotate", "--json", "--target", "billing-reader"}, byConfig...), nil, ExitNotRotated, `"mode":"target"`, "not rotated"},
		{"the function comes from the environment",
			[]string{"rotate", "billing-reader"}, map[string]string{lambdaenv.RotatorFunction: fn}, ExitNotRotated, "", "billing-reader: not rotated"},
		{"--function beats the environment, and flags may follow the name",
			[]string{"rotate", "billing-reader", "--function", fn}, map[string]string{lambdaenv.RotatorFunction: "no-such-rotator"}, ExitNotRotated, "", "billing-reader: not rotated"},
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
	// The target's own metadata: a version naming another target or role
	// is unusable and replaced at once (rotation.Foreign).
	v.Meta.IssuedAt, v.Meta.Target, v.Meta.RoleArn = now.Add(-20*time.Minute), "billing-reader", ""
	for i := range 100 {
		v.Meta.Writes = append(v.Meta.Writes, now.Add(-20*time.Minute-time.Duration(99-i)*13*time.Minute))
	}
	putValue(t, env, env.Unique(stack+"/billing-reader"), "billing-reader", v)
	a, out, errb := testApp(env, time.Now, nil)
	r := execute(t, a, out, errb, "rotate", "billing-reader", "--config", cfgPath, "--stack", stack)
	for _, want := range []string{"billing-reader: not rotated: forced with ", "but held back: 100 versions written in the last 24h and a forced rotation may add one only while fewer than 55 are", "next write is allowed at ", "(fix: run stsrotator rotate --target billing-reader again at "} {
		if r.code != ExitNotRotated || !strings.Contains(r.stderr, want) {
			t.Fatalf("exit %d, stdout %q, stderr %q; want %q", r.code, r.stdout, r.stderr, want)
		}
	}
	if strings.Contains(r.stderr, "less than 10 minutes ago") {
		t.Fatalf("a quota hold is not the ten-minute guard: %q", r.stdout)
	}
}

// fixedRotator answers every Invoke with one response.
// Issue 21's trial: under make local's dev clock (the CLI's Now, 41
// minutes ahead) the rotator's "again at" time is on that clock; the
// refusal says it on the user's own clock (Wall), as status does, and the
// relative "in 9m18s" is left as it is true on both.
func TestRotateRefusalSaysWhenOnTheUsersClock(t *testing.T) {
	wall := time.Date(2026, 12, 5, 0, 40, 52, 0, time.UTC)
	shift := 41 * time.Minute
	allowed := wall.Add(shift).Add(9*time.Minute + 18*time.Second) // 01:31:10 on the demo clock
	for _, c := range []struct {
		why  string
		s    rotation.Summary
		want []string
	}{
		{"the write interval",
			rotation.Summary{Fresh: 1, Waiting: []rotation.Result{{Target: "app", Outcome: rotation.Fresh, Reason: "last written 42s ago; AWS advises at most one write per secret per 10m, next write allowed in 9m18s", WriteAllowedAt: allowed}}},
			[]string{"next write allowed in 9m18s", "again at 2026-12-05T00:50:10Z or later"}},
		{"the version quota, whose reason names the time too",
			rotation.Summary{Fresh: 1, Held: []rotation.Result{{Target: "app", Outcome: rotation.Fresh, Reason: "held back: …, so the next write is allowed at 2026-12-05T01:31:10Z (in 9m18s)", HeldUntil: allowed}}},
			[]string{"the next write is allowed at 2026-12-05T00:50:10Z (in 9m18s)", "again at 2026-12-05T00:50:10Z or later"}},
	} {
		a := New(io.Discard, io.Discard)
		a.Hostname = func() (string, error) { return "h", nil }
		a.Username = func() string { return "u" }
		a.Now = func() time.Time { return wall.Add(shift) }
		a.Wall = func() time.Time { return wall }
		err := a.invokeRotate(context.Background(), fixedRotator{rotation.Response{Mode: "target", Summary: c.s}}, "fn", "app", false)
		if err == nil {
			t.Errorf("%s: exit 0, want %d", c.why, ExitNotRotated)
			continue
		}
		ok := codeOf(err) == ExitNotRotated && !strings.Contains(err.Error(), "01:31:10")
		for _, w := range c.want {
			ok = ok && strings.Contains(err.Error(), w)
		}
		if !ok {
			t.Errorf("%s: got %v\nwant exit %d with %q and no demo-clock time", c.why, err, ExitNotRotated, c.want)
		}
	}
}

type fixedRotator struct{ resp rotation.Response }

func (f fixedRotator) Invoke(context.Context, *lambda.InvokeInput, ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	payload, err := json.Marshal(f.resp)
	return &lambda.InvokeOutput{Payload: payload}, err
}

// Issue 21: rotate's exit status says whether the credentials were
// replaced, whatever rotator version answered.
func TestRotateExitSaysWhetherItRotated(t *testing.T) {
	at := time.Date(2026, 12, 4, 23, 57, 12, 0, time.UTC)
	cases := []struct {
		why    string
		s      rotation.Summary
		code   int
		stdout string
		stderr string
	}{
		{"a rotation exits 0", rotation.Summary{Rotated: []rotation.Result{{Target: "app", Outcome: rotation.Rotated, Key: "ASIA…abcd"}}}, ExitOK, "app: rotated, new key ASIA…abcd", ""},
		{"another writer's version standing is success", rotation.Summary{Superseded: 1}, ExitOK, "another rotation replaced the version first", ""},
		{"the write interval: exit 13 with the time it is allowed",
			rotation.Summary{Fresh: 1, Waiting: []rotation.Result{{Target: "app", Outcome: rotation.Fresh, Reason: "last written 3m ago; AWS advises at most one write per secret per 10m, next write allowed in 7m", WriteAllowedAt: at}}},
			ExitNotRotated, "", "app: not rotated: written less than 10 minutes ago and still valid: last written 3m ago; AWS advises at most one write per secret per 10m, next write allowed in 7m (fix: run stsrotator rotate --target app again at 2026-12-04T23:57:12Z or later"},
		{"the version quota: exit 13 with the time it is allowed",
			rotation.Summary{Fresh: 1, Held: []rotation.Result{{Target: "app", Outcome: rotation.Fresh, Reason: "forced with 50m left, but held back: …", HeldUntil: at}}},
			ExitNotRotated, "", "app: not rotated: forced with 50m left, but held back: … (fix: run stsrotator rotate --target app again at 2026-12-04T23:57:12Z or later"},
		{"a rotator that does not say when still exits 13, with the ten-minute rule",
			rotation.Summary{Fresh: 1}, ExitNotRotated, "", "app: not rotated: written less than 10 minutes ago and still valid (AWS advises at most one write per secret per 10 minutes) (fix: run stsrotator rotate --target app again in 10 minutes"},
		{"a failure is still exit 6", rotation.Summary{Failed: []rotation.Result{{Target: "app", Outcome: rotation.Failed, Reason: "assume role: AccessDenied"}}}, ExitRotationFailed, "", "app: rotation failed: assume role: AccessDenied"},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		a := New(&out, &errb)
		a.Hostname = func() (string, error) { return "h", nil }
		a.Username = func() string { return "u" }
		err := a.invokeRotate(context.Background(), fixedRotator{rotation.Response{Mode: "target", Summary: c.s}}, "fn", "app", false)
		if code := codeOf(err); err == nil {
			code = ExitOK
			if c.code != ExitOK {
				t.Errorf("%s: exit 0, want %d", c.why, c.code)
			}
		} else if code != c.code || !strings.Contains(err.Error(), c.stderr) {
			t.Errorf("%s: exit %d (want %d): %v\nwant %q", c.why, code, c.code, err, c.stderr)
		}
		if !strings.Contains(out.String(), c.stdout) {
			t.Errorf("%s: stdout %q, want %q", c.why, out.String(), c.stdout)
		}
	}
}
