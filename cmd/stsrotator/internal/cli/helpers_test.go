package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/internal/mototest"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/metrics"
	"github.com/stsrotator/stsrotator/shared/rotation"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

func TestMain(m *testing.M) { awstest.Main(m) }

// syncBuffer is safe for serve's concurrent log lines.
type syncBuffer = awstest.Buffer

// run is one in-process command line against kumo.
type run struct {
	code           int
	stdout, stderr string
}

// testApp is an App whose AWS calls go to env, whose clock is now and
// whose environment is env vars only, so nothing on the test machine leaks
// in.
func testApp(env *awstest.Env, now func() time.Time, vars map[string]string) (*App, *syncBuffer, *syncBuffer) {
	out, errb := &syncBuffer{}, &syncBuffer{}
	a := New(out, errb)
	a.Now, a.Wall = now, nil
	a.Getenv = func(k string) string { return vars[k] }
	a.Setenv = func(string, string) error { return nil }
	a.Unsetenv = func(string) error { return nil }
	a.Hostname = func() (string, error) { return "test-host", nil }
	a.Username = func() string { return "tester" }
	a.Stat = func(string) (os.FileInfo, error) { return nil, os.ErrNotExist }
	a.LoadAWS = func(_ context.Context, g Globals) (aws.Config, error) {
		cfg := env.Config.Copy()
		if g.Region != "" {
			cfg.Region = g.Region
		}
		return cfg, nil
	}
	return a, out, errb
}

// execute runs args and sends everything but credential output to the
// leak-checked log sink.
func execute(t *testing.T, a *App, out, errb *syncBuffer, args ...string) run {
	t.Helper()
	code := a.Run(awstest.Context(t), args)
	r := run{code: code, stdout: out.String(), stderr: errb.String()}
	_, _ = awstest.Logs.Write([]byte(r.stderr))
	if len(args) > 0 && args[0] != "credential-process" && args[0] != "env" {
		_, _ = awstest.Logs.Write([]byte(r.stdout))
	}
	return r
}

// value builds a secret version with distinct, leak-detectable material.
func value(n int, expires, refreshAt time.Time) secretfmt.Value {
	return secretfmt.Value{
		AccessKeyID:     fmt.Sprintf("ASIACLITESTKEY%06d", n),
		SecretAccessKey: fmt.Sprintf("cliSecretKeyValue%020d", n),
		SessionToken:    fmt.Sprintf("cliSessionTokenValue%020d", n),
		Expiration:      expires.UTC().Truncate(time.Second),
		Meta: secretfmt.Metadata{Target: "t", RoleArn: "arn:aws:iam::000000000000:role/T",
			IssuedAt: expires.Add(-time.Hour).UTC(), RefreshAt: refreshAt.UTC()},
	}
}

// putRaw creates a managed secret holding body.
func putRaw(t *testing.T, env *awstest.Env, name, target, body string) {
	t.Helper()
	_, err := env.Secrets.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: aws.String(name), SecretString: aws.String(body),
		Tags: []smtypes.Tag{{Key: aws.String(rotation.TagManagedBy), Value: aws.String(rotation.ManagedBy)}, {Key: aws.String(rotation.TagTarget), Value: aws.String(target)}},
	})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	awstest.Remember([]byte(body))
}

func putValue(t *testing.T, env *awstest.Env, name, target string, v secretfmt.Value) {
	t.Helper()
	v.Meta.Target = target
	b, err := secretfmt.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	putRaw(t, env, name, target, string(b))
}

// mint writes real credentials from kumo's STS into the target's secret,
// the way the deployed rotator does.
func mint(t *testing.T, env *awstest.Env, tg config.Target) {
	t.Helper()
	eng := &rotation.Engine{STS: env.STS, Secrets: env.Secrets, Now: time.Now, Log: awstest.Logger(nil),
		Emit: metrics.NewWriter(awstest.Logs, time.Now), Verify: rotation.VerifyCaller}
	if r := eng.Rotate(awstest.Context(t), tg, rotation.Request{Why: "test"}); r.Outcome != rotation.Rotated {
		t.Fatalf("mint %s: %+v", tg.Name, r)
	}
}

func target(env *awstest.Env, name string) config.Target {
	return config.Target{Name: name, RoleArn: "arn:aws:iam::000000000000:role/" + name, SessionName: "stsrotator-" + name,
		Duration: time.Hour, RefreshBefore: 20 * time.Minute, SecretName: env.Unique("stsrotator/" + name)}
}

// writeConfig writes a config mapping each target to its (unique) secret.
func writeConfig(t *testing.T, tgs ...config.Target) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("targets:\n")
	for _, tg := range tgs {
		fmt.Fprintf(&b, "  - name: %s\n    roleArn: %s\n    secretName: %s\n", tg.Name, tg.RoleArn, tg.SecretName)
	}
	path := filepath.Join(t.TempDir(), "stsrotator.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(path); err != nil {
		t.Fatalf("test config does not load: %v", err)
	}
	return path
}

// noSecrets fails if any secret material that crossed the wire is in s.
func noSecrets(t *testing.T, what, s string) {
	t.Helper()
	if leaks := awstest.Leaks([]byte(s)); len(leaks) > 0 {
		t.Fatalf("%s contains secret material %v", what, leaks)
	}
}

// observedBus is awstest.Env.ObservedBus with this package's bus name.
func observedBus(t *testing.T, env *awstest.Env) (string, func() []string) {
	return env.ObservedBus(t, "cli-reports")
}

// readerSecret is target audit-reader's secret in moto's stsrotator
// account (123456789012), its reportBus that account's default bus by ARN
// as the stack writes it, seen from a reader account (210987654321): moto
// routes cross-account PutEvents by ARN.
type readerSecret struct {
	arn    string
	reader aws.Config
	busArn string
	// delivered and ownBus list every report so far on the stsrotator
	// account's bus and on the reader's own default bus.
	delivered, ownBus func() []string
}

// newReaderSecret stores v (its Meta.Target and Meta.ReportBus set here)
// as the readerSecret.
func newReaderSecret(t *testing.T, moto *mototest.Server, v secretfmt.Value) readerSecret {
	t.Helper()
	const stsrotatorAccount, readerAccount = "123456789012", "210987654321"
	owner, reader := moto.Config(stsrotatorAccount), moto.Config(readerAccount)
	busArn, delivered := moto.ReportInbox(t, owner, stsrotatorAccount)
	_, ownBus := moto.ReportInbox(t, reader, readerAccount)
	v.Meta.Target, v.Meta.ReportBus = "audit-reader", busArn
	body, _ := secretfmt.Marshal(v)
	awstest.Remember(body)
	sec, err := secretsmanager.NewFromConfig(owner).CreateSecret(awstest.Context(t), &secretsmanager.CreateSecretInput{
		Name: aws.String("stsrotator/audit-reader"), SecretString: aws.String(string(body))})
	if err != nil {
		t.Fatal(err)
	}
	return readerSecret{arn: aws.ToString(sec.ARN), reader: reader, busArn: busArn, delivered: delivered, ownBus: ownBus}
}
