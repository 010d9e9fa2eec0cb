package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/stsrotator/stsrotator/infra/plan"
	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/lambdaenv"
	"github.com/stsrotator/stsrotator/shared/rotation"
)

// fakeLambda answers the Lambda Invoke REST call as the rotator would.
type fakeLambda struct {
	function string
	payload  rotateRequest
	status   int
	fnError  string
	body     string
}

func (f *fakeLambda) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// POST /2015-03-31/functions/{name}/invocations
	f.function = strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/2015-03-31/functions/"), "/invocations")
	b, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(b, &f.payload)
	if f.fnError != "" {
		w.Header().Set("X-Amz-Function-Error", f.fnError)
	}
	w.WriteHeader(f.status)
	_, _ = io.WriteString(w, f.body)
}

// exampleRotator is the lane the stack gives billing-reader in the
// repository's stsrotator.yaml (plan.FunctionFor).
const exampleRotator = "stsrotator-shard12-rotator0"

var withConfig = []string{"--config", "../../../../stsrotator.yaml"}

func TestRotate(t *testing.T) {
	const rotated = `{"mode":"target","summary":{"rotated":[{"target":"billing-reader","outcome":"rotated","reason":"forced","versionId":"0d9c7a5e-1b2c-4d3e","key":"ASIA…abcd","expires":"2026-11-25T20:00:00Z","validitySeconds":3599}],"fresh":0,"superseded":0,"failed":[]},"durationMs":812}`
	cases := []struct {
		why      string
		args     []string
		env      map[string]string
		lambda   fakeLambda
		code     int
		function string
		stdout   string
		stderr   string
	}{
		{"a rotation reports the new masked key, expiry and version", append([]string{"rotate", "billing-reader"}, withConfig...), nil,
			fakeLambda{status: 200, body: rotated}, ExitOK, exampleRotator,
			"billing-reader: rotated, new key ASIA…abcd, expires 2026-11-25 20:00Z (valid 59m59s), version 0d9c7a5e-1b2c-4d3e, in 812ms", ""},
		{"the function comes from the environment", []string{"rotate", "billing-reader"}, map[string]string{"STSROTATOR_ROTATOR_FUNCTION": "prod-rotator"},
			fakeLambda{status: 200, body: rotated}, ExitOK, "prod-rotator", "rotated", ""},
		{"--function beats the environment, and flags may follow the name", []string{"rotate", "billing-reader", "--function", "flag-rotator"}, map[string]string{"STSROTATOR_ROTATOR_FUNCTION": "prod-rotator"},
			fakeLambda{status: 200, body: rotated}, ExitOK, "flag-rotator", "rotated", ""},
		{"--json prints the rotator's response", append([]string{"rotate", "--json", "--target", "billing-reader"}, withConfig...), nil,
			fakeLambda{status: 200, body: rotated}, ExitOK, exampleRotator, `"durationMs":812`, ""},
		{"a function error exits 6 with its type and message", append([]string{"rotate", "billing-reader"}, withConfig...), nil,
			fakeLambda{status: 200, fnError: "Unhandled", body: `{"errorMessage":"target \"billing-reader\" is not in the config","errorType":"errorString"}`}, ExitRotationFailed, exampleRotator,
			"", `failed (Unhandled): errorString: target "billing-reader" is not in the config`},
		{"a failed rotation exits 6 with the rotator's reason", append([]string{"rotate", "billing-reader"}, withConfig...), nil,
			fakeLambda{status: 200, body: `{"mode":"target","summary":{"rotated":[],"fresh":0,"superseded":0,"failed":[{"target":"billing-reader","outcome":"failed","reason":"assume role: AccessDenied","validitySeconds":0}]},"durationMs":90}`},
			ExitRotationFailed, exampleRotator, "", "billing-reader: rotation failed: assume role: AccessDenied"},
		{"losing a race to another rotation is success", append([]string{"rotate", "billing-reader"}, withConfig...), nil,
			fakeLambda{status: 200, body: `{"mode":"target","summary":{"rotated":[],"fresh":0,"superseded":1,"failed":[]},"durationMs":90}`},
			ExitOK, exampleRotator, "another rotation replaced the version first", ""},
		{"Lambda refusing the call is an AWS failure", append([]string{"rotate", "billing-reader"}, withConfig...), nil,
			fakeLambda{status: 404, body: `{"Type":"User","message":"Function not found"}`}, ExitFailure, exampleRotator, "", "invoke rotator " + exampleRotator},
	}
	for _, c := range cases {
		t.Run(c.why, func(t *testing.T) {
			env := awstest.Start(t)
			f := c.lambda
			if f.status == 404 {
				f.fnError = ""
			}
			srv := httptest.NewServer(&f)
			defer srv.Close()
			a, out, errb := testApp(env, time.Now, c.env)
			a.LoadAWS = func(context.Context, Globals) (aws.Config, error) {
				cfg := env.Config.Copy()
				cfg.BaseEndpoint = aws.String(srv.URL)
				cfg.RetryMaxAttempts = 1
				return cfg, nil
			}
			r := execute(t, a, out, errb, c.args...)
			if r.code != c.code || !strings.Contains(r.stdout, c.stdout) || !strings.Contains(r.stderr, c.stderr) {
				t.Fatalf("exit %d (want %d)\nstdout %q (want %q)\nstderr %q (want %q)", r.code, c.code, r.stdout, c.stdout, r.stderr, c.stderr)
			}
			if f.function != c.function {
				t.Fatalf("invoked %q, want %q", f.function, c.function)
			}
			if f.payload != (rotateRequest{Target: "billing-reader", Force: true, Reason: "stsrotator rotate by tester@test-host"}) {
				t.Fatalf("payload %+v", f.payload)
			}
		})
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

// rotate against the real rotator binary under kumo's Lambda Runtime API,
// found from the config the way the stack names it: the first call
// rotates, an immediate second one is held back by the write interval.
func TestRotateThroughKumo(t *testing.T) {
	env := awstest.Start(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "stsrotator.yaml")
	src := fmt.Sprintf("targets:\n  - name: billing-reader\n    roleArn: arn:aws:iam::000000000000:role/BillingReadOnly\n    secretName: %s\n", env.Unique("stsrotator/billing-reader"))
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
	name, _ := p.FunctionFor(plan.DefaultStackName, "billing-reader")
	env.RunFunction(t, name, awstest.BuildFunction(t, awstest.RepoRoot(t), "rotator"),
		[]string{lambdaenv.ConfigPath + "=" + cfgPath, lambdaenv.VerifyMode + "=" + string(rotation.VerifyCaller)}, nil)

	cases := []struct{ why, stdout string }{
		{"the first forced rotation mints and reports the masked key", "billing-reader: rotated, new key ASIA…"},
		{"a second one within 10 minutes is held back, and says why", "not rotated: written less than 10 minutes ago"},
	}
	for _, c := range cases {
		a, out, errb := testApp(env, time.Now, nil)
		r := execute(t, a, out, errb, "rotate", "billing-reader", "--config", cfgPath)
		if r.code != ExitOK || !strings.Contains(r.stdout, c.stdout) {
			t.Fatalf("%s: exit %d, stdout %q, stderr %q", c.why, r.code, r.stdout, r.stderr)
		}
	}
}
