package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/lambdaenv"
	"github.com/stsrotator/stsrotator/shared/metrics"
	"github.com/stsrotator/stsrotator/shared/rotation"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

func TestMain(m *testing.M) { awstest.Main(m) }

// testConfig names secrets per test run because kumo's state is shared by
// every emulator in the process.
func testConfig(env *awstest.Env) string {
	return fmt.Sprintf(`
targets:
  - name: alpha
    roleArn: arn:aws:iam::000000000000:role/Alpha
    secretName: %s
  - name: beta
    roleArn: arn:aws:iam::000000000000:role/Beta
    secretName: %s
`, env.Unique("alpha"), env.Unique("beta"))
}

func newHandler(t *testing.T, env *awstest.Env) *Handler {
	cfg, err := config.Parse("t.yaml", []byte(testConfig(env)))
	if err != nil {
		t.Fatal(err)
	}
	emit := metrics.NewWriter(awstest.Logs, time.Now)
	log := awstest.Logger(nil)
	return &Handler{
		Engine:      &rotation.Engine{STS: env.STS, Secrets: env.Secrets, Now: time.Now, Log: log, Emit: emit, Verify: rotation.VerifyCaller},
		Config:      cfg,
		Concurrency: 2,
		Log:         log,
		Emit:        emit,
		Now:         time.Now,
	}
}

func TestHandleEvents(t *testing.T) {
	env := awstest.Start(t)
	h := newHandler(t, env)
	ctx := awstest.Context(t)
	sweep, err := os.ReadFile("testdata/schedule.json")
	if err != nil {
		t.Fatal(err)
	}
	force, err := os.ReadFile("testdata/force-one.json")
	if err != nil {
		t.Fatal(err)
	}

	resp, err := h.Handle(ctx, sweep)
	if err != nil || resp.Mode != "sweep" || len(resp.Summary.Rotated) != 2 {
		t.Fatalf("the schedule's {} sweeps every target: %+v, %v", resp, err)
	}
	// Forced rotation is held back inside the 10-minute write interval...
	resp, err = h.Handle(ctx, force)
	if err != nil || resp.Mode != "target" || resp.Summary.Fresh != 1 {
		t.Fatalf("a forced request right after a write is held back: %+v, %v", resp, err)
	}
	// ...and goes through once the interval has passed.
	later := time.Now().Add(11 * time.Minute)
	h.Engine.Now = func() time.Time { return later }
	resp, err = h.Handle(ctx, force)
	if err != nil || len(resp.Summary.Rotated) != 1 || resp.Summary.Rotated[0].Target != "alpha" {
		t.Fatalf("a forced request names one target and rotates only it: %+v, %v", resp, err)
	}
}

func TestHandleRejectsBadInput(t *testing.T) {
	env := awstest.Start(t)
	h := newHandler(t, env)
	cases := []struct{ why, in, want string }{
		{"an unknown target lists the valid ones", `{"target":"gamma"}`, `unknown target "gamma"; valid targets: alpha, beta`},
		{"an unknown field is named with the accepted shape", `{"tagret":"alpha"}`, `unknown field "tagret"`},
		{"malformed JSON says what to send", `{"target":`, `send {} to sweep every target`},
		{"a wrong type is refused", `{"target":7}`, "cannot unmarshal number"},
		{"forcing every target at once is refused", `{"force":true}`, "force and revokedBefore need a target"},
		{"two JSON values are refused", `{} {}`, "more than one JSON value"},
		{"revoking every target at once is refused", `{"revokedBefore":"2026-11-30T09:00:00Z"}`, "force and revokedBefore need a target"},
		{"a revocation cutoff in the future is refused before anything is read", `{"target":"alpha","force":true,"revokedBefore":"2999-01-01T00:00:00Z"}`, "revokedBefore 2999-01-01T00:00:00Z is"},
		{"an unknown cause is refused before anything is written", `{"target":"alpha","why":"because"}`, `why "because" is not one of`},
	}
	for _, c := range cases {
		t.Run(c.why, func(t *testing.T) {
			env.Transport.Reset()
			_, err := h.Handle(awstest.Context(t), json.RawMessage(c.in))
			if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want ErrBadInput containing %q", err, c.want)
			}
			if n := env.Transport.Total(); n != 0 {
				t.Fatalf("bad input made %d AWS calls; it must do nothing", n)
			}
		})
	}
}

func FuzzParseEvent(f *testing.F) {
	for _, s := range []string{`{}`, `null`, ``, `{"target":"a","force":true,"reason":"r"}`, `[]`, `{"target":1}`,
		`{"target":"a","target":"b"}`, `{"revokedBefore":"+275760-09-13T00:00:00Z"}`, `[[[[[[[[`, `{"reason":"\r\n\u001b"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		_, err := parseEvent(in)
		if err != nil && !errors.Is(err, ErrBadInput) {
			t.Fatalf("error does not wrap ErrBadInput: %v", err)
		}
		// Every rejection says what was wrong, beyond "bad input", and
		// quotes the input only cut short.
		if err != nil && len(err.Error()) <= len(ErrBadInput.Error())+3 {
			t.Fatalf("rejection gives no reason: %q", err)
		}
		if err != nil && len(err.Error()) > MaxReasonLen+512 {
			t.Fatalf("rejection is %d bytes long", len(err.Error()))
		}
	})
}

// The real binary, built from this package for the host, runs under
// kumo's Lambda Runtime API, sweeps, and writes valid secrets to kumo.
func TestBootstrapUnderRuntimeAPI(t *testing.T) {
	env := awstest.Start(t)
	bin := awstest.BuildFunction(t, awstest.RepoRoot(t), "rotator")
	cfgPath := filepath.Join(t.TempDir(), lambdaenv.ConfigFile)
	if err := os.WriteFile(cfgPath, []byte(testConfig(env)), 0o600); err != nil {
		t.Fatal(err)
	}
	out := &awstest.Buffer{}
	name := env.Unique("rotator")
	const bus = "arn:aws:events:us-east-1:000000000000:event-bus/default"
	fn := env.RunFunction(t, name, bin, []string{
		lambdaenv.ConfigPath + "=" + cfgPath,
		lambdaenv.VerifyMode + "=" + string(rotation.VerifyCaller),
		lambdaenv.EventBus + "=" + bus,
	}, out)
	t.Logf("init (process start to first Runtime API poll): %s", fn.Init)

	payload, fnErr, err := env.Invoke(awstest.Context(t), name, []byte(`{}`))
	if err != nil || fnErr != "" {
		t.Fatalf("invoke: %v %s %s\nlogs:\n%s", err, fnErr, payload, out.String())
	}
	var resp rotation.Response
	if err := json.Unmarshal(payload, &resp); err != nil || len(resp.Summary.Rotated) != 2 {
		t.Fatalf("response %s: %v", payload, err)
	}
	for _, s := range []string{env.Unique("alpha"), env.Unique("beta")} {
		got, err := env.Secrets.GetSecretValue(awstest.Context(t), &secretsmanager.GetSecretValueInput{SecretId: aws.String(s)})
		if err != nil {
			t.Fatal(err)
		}
		if v, err := secretfmt.Parse([]byte(aws.ToString(got.SecretString))); err != nil || v.Meta.ReportBus != bus {
			t.Fatalf("%s: reportBus %q (want %q): %v", s, v.Meta.ReportBus, bus, err)
		}
	}
	// Lambda's JSON log format: every line the function prints is JSON.
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if !json.Valid([]byte(line)) {
			t.Fatalf("log line is not JSON: %s", line)
		}
	}
	if !strings.Contains(out.String(), `"msg":"rotated"`) || !strings.Contains(out.String(), `"Namespace":"stsrotator"`) {
		t.Fatalf("want rotation logs and EMF metrics, got:\n%s", out.String())
	}

	// Bad input through the real runtime: a function error naming what is valid.
	payload, fnErr, err = env.Invoke(awstest.Context(t), name, []byte(`{"target":"nope"}`))
	if err != nil || fnErr == "" || !strings.Contains(string(payload), "valid targets: alpha, beta") {
		t.Fatalf("bad input through the runtime: %v %q %s", err, fnErr, payload)
	}
}

// What an invoker holding only lambda:InvokeFunction can send that is no
// invocation: deeply nested or oversized JSON, times that overflow or are
// no times, duplicate keys naming an unknown target, a target name with a
// look-alike letter, a "revoke" cause no cutoff backs (the event would
// announce a revocation). Each is refused as ErrBadInput before any AWS call,
// with a bounded message, and none panics or hangs (Lambda allows a
// 6 MB payload). These attacks failed; the test keeps them failing.
func TestAbuse_MalformedInvocations(t *testing.T) {
	env := awstest.Start(t)
	h := newHandler(t, env)
	deep := strings.Repeat(`{"reason":`, 100000) + `""` + strings.Repeat("}", 100000)
	cases := []struct{ why, in, want string }{
		{"100,000 nested objects", deep, "send {}"},
		{"6 MB of nested arrays", strings.Repeat("[", 6<<20), "send {}"},
		{"a 6 MB unknown key is quoted cut", `{"` + strings.Repeat("k", 6<<20) + `":1}`, "unknown field"},
		{"a cutoff past year 9999", `{"target":"alpha","revokedBefore":"+275760-09-13T00:00:00Z"}`, "send {}"},
		{"a cutoff that is NaN", `{"target":"alpha","revokedBefore":NaN}`, "send {}"},
		{"a cutoff as an overflowing number", `{"target":"alpha","revokedBefore":1e400}`, "send {}"},
		{"a cutoff with hour 24", `{"target":"alpha","revokedBefore":"2026-12-05T24:00:00Z"}`, "send {}"},
		{"a cutoff far ahead by its offset", `{"target":"alpha","force":true,"revokedBefore":"9999-12-31T23:59:59-23:59"}`, "revokedBefore"},
		{"force as a string", `{"target":"alpha","force":"true"}`, "send {}"},
		{"duplicate keys: the last names an unknown target", `{"target":"alpha","target":"gamma"}`, `unknown target "gamma"`},
		{"a Cyrillic a in the target name", `{"target":"аlpha","force":true}`, "unknown target"},
		{"a NUL in the target name", `{"target":"alpha\u0000","force":true}`, "unknown target"},
		{"sourceKey on a target rotator", `{"sourceKey":true}`, "does not manage the IAM user's key"},
		{"a revocation announced without a cutoff", `{"target":"alpha","force":true,"why":"revoke"}`, `why "revoke" needs revokedBefore`},
	}
	for _, c := range cases {
		t.Run(c.why, func(t *testing.T) {
			env.Transport.Reset()
			_, err := h.Handle(awstest.Context(t), json.RawMessage(c.in))
			if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %.300v, want ErrBadInput containing %q", err, c.want)
			}
			if len(err.Error()) > 4<<10 {
				t.Fatalf("the refusal is %d bytes long", len(err.Error()))
			}
			if n := env.Transport.Total(); n != 0 {
				t.Fatalf("bad input made %d AWS calls; it must do nothing", n)
			}
		})
	}
}
