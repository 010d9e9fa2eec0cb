package rotation

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/processcreds"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/metrics"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

func TestMain(m *testing.M) { awstest.Main(m) }

const testConfig = `
targets:
  - name: alpha
    roleArn: arn:aws:iam::000000000000:role/Alpha
    sessionTags: {team: a}
  - name: beta
    roleArn: arn:aws:iam::000000000000:role/Beta
    externalId: ext-beta
    durationSeconds: 2700
  - name: gamma
    roleArn: arn:aws:iam::000000000000:role/path/Gamma
    sessionPolicy: {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}
`

func loadTargets(t testing.TB, env *awstest.Env) []config.Target {
	cfg, err := config.Parse("test.yaml", []byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	for i := range cfg.Targets {
		cfg.Targets[i].SecretName = env.Unique(cfg.Targets[i].SecretName)
	}
	return cfg.Targets
}

func newEngine(env *awstest.Env, clk *awstest.Clock) *Engine {
	return &Engine{
		STS: env.STS, Secrets: env.Secrets, Now: clk.Now,
		Log:    awstest.Logger(nil),
		Emit:   metrics.NewWriter(awstest.Logs, clk.Now),
		Verify: VerifyCaller, // kumo answers GetCallerIdentity as its root account
	}
}

func versions(t testing.TB, env *awstest.Env, secret string) int {
	t.Helper()
	out, err := env.Secrets.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(secret)})
	if err != nil {
		t.Fatalf("describe %s: %v", secret, err)
	}
	return len(out.VersionIdsToStages)
}

func secretValue(t testing.TB, env *awstest.Env, secret string) (string, secretfmt.Value) {
	t.Helper()
	out, err := env.Secrets.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(secret)})
	if err != nil {
		t.Fatalf("get %s: %v", secret, err)
	}
	v, err := secretfmt.Parse([]byte(aws.ToString(out.SecretString)))
	if err != nil {
		t.Fatalf("stored value of %s is not valid: %v", secret, err)
	}
	return aws.ToString(out.SecretString), v
}

// The core loop over the real SDK and wire protocols: mint, verify, store,
// stay idempotent, rotate when due.
func TestSweepAgainstKumo(t *testing.T) {
	env := awstest.Start(t)
	ctx := awstest.Context(t)
	clk := awstest.NewClock(time.Now())
	eng := newEngine(env, clk)
	eng.ReportBus = "arn:aws:events:us-east-1:000000000000:event-bus/default"
	targets := loadTargets(t, env)

	// Capture what STS returned so the stored Expiration can be compared
	// with it, not with our own arithmetic.
	var mu sync.Mutex
	stsExpiry := map[string]time.Time{}
	eng.STS = recordingSTS{STS: env.STS, record: func(in *sts.AssumeRoleInput, out *sts.AssumeRoleOutput) {
		mu.Lock()
		defer mu.Unlock()
		stsExpiry[aws.ToString(out.Credentials.AccessKeyId)] = aws.ToTime(out.Credentials.Expiration)
	}}

	_, sum := eng.Sweep(ctx, targets, 4, Request{Why: "test"})
	if len(sum.Rotated) != 3 || !sum.OK() {
		t.Fatalf("first sweep: want 3 rotated, got %+v", sum)
	}
	for _, tg := range targets {
		raw, v := secretValue(t, env, tg.SecretName)
		want := stsExpiry[v.AccessKeyID]
		if !v.Expiration.Equal(want.Truncate(time.Second)) {
			t.Errorf("%s: stored Expiration %s, STS said %s", tg.Name, v.Expiration, want)
		}
		if v.Meta.Target != tg.Name || v.Meta.RoleArn != tg.RoleArn || v.Meta.Identity == "" || v.Meta.ReportBus != eng.ReportBus {
			t.Errorf("%s: metadata %+v", tg.Name, v.Meta)
		}
		if want := v.Expiration.Add(-tg.RefreshBefore); !v.Meta.RefreshAt.Equal(want) {
			t.Errorf("%s: refreshAt %s, want %s", tg.Name, v.Meta.RefreshAt, want)
		}
		creds := processCreds(t, raw)
		if creds.AccessKeyID != v.AccessKeyID || !creds.Expires.Equal(v.Expiration) {
			t.Errorf("%s: processcreds read %s/%s", tg.Name, secretfmt.Mask(creds.AccessKeyID), creds.Expires)
		}
		if n := versions(t, env, tg.SecretName); n != 1 {
			t.Errorf("%s: %d versions after the first sweep, want 1", tg.Name, n)
		}
	}

	env.Transport.Reset()
	_, sum = eng.Sweep(ctx, targets, 4, Request{Why: "test"})
	if len(sum.Rotated) != 0 || sum.Fresh != 3 {
		t.Fatalf("second sweep: want 3 fresh, got %+v", sum)
	}
	if n := env.Transport.Calls("PutSecretValue") + env.Transport.Calls("CreateSecret") + env.Transport.Calls("AssumeRole"); n != 0 {
		t.Fatalf("second sweep made %d write/assume calls, want 0", n)
	}

	// Every target refreshes 26m before expiry (the default that keeps
	// botocore's 15m window): beta 19m into its 45m session, alpha and
	// gamma 34m into their 1h sessions.
	clk.Add(15 * time.Minute)
	if _, sum = eng.Sweep(ctx, targets, 4, Request{}); len(sum.Rotated) != 0 {
		t.Fatalf("at +15m nothing is due, got %+v", sum)
	}
	clk.Add(6 * time.Minute)
	_, sum = eng.Sweep(ctx, targets, 4, Request{Why: "test"})
	if len(sum.Rotated) != 1 || sum.Rotated[0].Target != "beta" {
		t.Fatalf("at +21m only beta is due, got %+v", sum)
	}
	// beta is left out from here: kumo's STS stamps Expiration on the wall
	// clock, which this test's clock has now overtaken.
	clk.Add(20 * time.Minute)
	_, sum = eng.Sweep(ctx, []config.Target{targets[0], targets[2]}, 4, Request{Why: "test"})
	if len(sum.Rotated) != 2 || sum.Rotated[0].Target != "alpha" || sum.Rotated[1].Target != "gamma" {
		t.Fatalf("at +41m alpha and gamma are due, got %+v", sum)
	}
	for _, tg := range targets {
		if n := versions(t, env, tg.SecretName); n != 2 {
			t.Errorf("%s: %d versions, want 2", tg.Name, n)
		}
	}
}

// AssumeRole is sent every option the target declares.
func TestAssumeRoleCarriesEveryOption(t *testing.T) {
	env := awstest.Start(t)
	clk := awstest.NewClock(time.Now())
	eng := newEngine(env, clk)
	var got []*sts.AssumeRoleInput
	var mu sync.Mutex
	eng.STS = recordingSTS{STS: env.STS, record: func(in *sts.AssumeRoleInput, _ *sts.AssumeRoleOutput) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, in)
	}}
	cfg, err := config.Parse("t.yaml", []byte(`
rotator: {jitter: 0s}
targets:
  - name: full
    roleArn: arn:aws:iam::000000000000:role/Full
    externalId: ext-123
    durationSeconds: 1200
    refreshBefore: 5m
    consumerRefreshWindow: 0s
    sessionName: my.session
    sessionPolicy: '{"Statement":[]}'
    policyArns: [arn:aws:iam::aws:policy/ReadOnlyAccess]
    sessionTags: {team: t1}
    sourceIdentity: alice
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Targets[0].SecretName = env.Unique(cfg.Targets[0].SecretName)
	if r := eng.Rotate(awstest.Context(t), cfg.Targets[0], Request{}); r.Outcome != Rotated {
		t.Fatalf("%+v", r)
	}
	in := got[0]
	checks := []struct{ why, got, want string }{
		{"role", aws.ToString(in.RoleArn), "arn:aws:iam::000000000000:role/Full"},
		{"external id", aws.ToString(in.ExternalId), "ext-123"},
		{"duration", fmt.Sprint(aws.ToInt32(in.DurationSeconds)), "1200"},
		{"session name", aws.ToString(in.RoleSessionName), "my.session"},
		{"session policy", aws.ToString(in.Policy), `{"Statement":[]}`},
		{"policy arns", aws.ToString(in.PolicyArns[0].Arn), "arn:aws:iam::aws:policy/ReadOnlyAccess"},
		{"session tags", aws.ToString(in.Tags[0].Key) + "=" + aws.ToString(in.Tags[0].Value), "team=t1"},
		{"source identity", aws.ToString(in.SourceIdentity), "alice"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: sent %q, want %q", c.why, c.got, c.want)
		}
	}
}

// Two invocations racing on the same due target leave one new version,
// and running the same request again after it finished writes nothing.
func TestDuplicateInvocationAddsNoVersion(t *testing.T) {
	env := awstest.Start(t)
	ctx := awstest.Context(t)
	clk := awstest.NewClock(time.Now())
	eng := newEngine(env, clk)
	tg := loadTargets(t, env)[0]
	if r := eng.Rotate(ctx, tg, Request{}); r.Outcome != Rotated {
		t.Fatalf("first mint: %+v", r)
	}
	clk.Add(11 * time.Minute) // past the 10-minute write interval
	var wg sync.WaitGroup
	results := make([]Result, 2)
	for i := range results {
		wg.Add(1)
		go func() { defer wg.Done(); results[i] = eng.Rotate(ctx, tg, Request{Force: true}) }()
	}
	wg.Wait()
	if n := versions(t, env, tg.SecretName); n != 2 {
		t.Fatalf("two racing invocations left %d versions, want 2 (the first mint and one replacement); results %+v", n, results)
	}
	for _, req := range []Request{{Force: true}, {}} {
		again := eng.Rotate(ctx, tg, req)
		if again.Outcome != Fresh || versions(t, env, tg.SecretName) != 2 {
			t.Fatalf("replayed invocation %+v: %+v, versions %d", req, again, versions(t, env, tg.SecretName))
		}
	}
}

// One target's AssumeRole failure leaves the others rotated and its own
// previous value untouched.
func TestFailureIsolatedToItsTarget(t *testing.T) {
	env := awstest.Start(t)
	ctx := awstest.Context(t)
	clk := awstest.NewClock(time.Now())
	eng := newEngine(env, clk)
	targets := loadTargets(t, env)
	if _, sum := eng.Sweep(ctx, targets, 3, Request{}); len(sum.Rotated) != 3 {
		t.Fatalf("setup sweep: %+v", sum)
	}
	beta := targets[1].SecretName
	before, _ := secretValue(t, env, beta)

	env.Transport.Fault = func(op string, body []byte) *http.Response {
		if op == "AssumeRole" && strings.Contains(string(body), "role%2FBeta") {
			return awstest.QueryError(403, "AccessDenied", "User is not authorized to perform: sts:AssumeRole on resource Beta")
		}
		return nil
	}
	clk.Add(55 * time.Minute) // everything is due; beta has even expired
	_, sum := eng.Sweep(ctx, targets, 3, Request{})
	if len(sum.Rotated) != 2 || len(sum.Failed) != 1 || sum.Failed[0].Target != "beta" {
		t.Fatalf("want alpha+gamma rotated and beta failed, got %+v", sum)
	}
	if !strings.Contains(sum.Failed[0].Reason, "AccessDenied") {
		t.Fatalf("failure reason must carry the AWS error code: %q", sum.Failed[0].Reason)
	}
	after, _ := secretValue(t, env, beta)
	if after != before || versions(t, env, beta) != 1 {
		t.Fatal("a failed rotation touched the target's existing secret")
	}
}

// A hand-edited, broken secret is repaired on the next run.
func TestRepairsGarbage(t *testing.T) {
	env := awstest.Start(t)
	ctx := awstest.Context(t)
	clk := awstest.NewClock(time.Now())
	eng := newEngine(env, clk)
	tg := loadTargets(t, env)[0]
	if _, err := env.Secrets.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(tg.SecretName), SecretString: aws.String("not json")}); err != nil {
		t.Fatal(err)
	}
	r := eng.Rotate(ctx, tg, Request{})
	if r.Outcome != Rotated || !strings.Contains(r.Reason, "unusable") {
		t.Fatalf("want a repair, got %+v", r)
	}
	secretValue(t, env, tg.SecretName) // fails the test if still invalid
}

// The strict identity check, which kumo cannot exercise because it answers
// every GetCallerIdentity as its root account: a stub STS plays AWS's
// documented behaviour, Secrets Manager stays real.
func TestStrictIdentityVerification(t *testing.T) {
	const role = "arn:aws:iam::123456789012:role/team/App"
	good := "arn:aws:sts::123456789012:assumed-role/App/stsrotator-app"
	cases := []struct {
		why      string
		identity string
		gciErr   error
		want     Outcome
	}{
		{"the expected assumed-role ARN is accepted", good, nil, Rotated},
		{"a different session is refused", "arn:aws:sts::123456789012:assumed-role/App/other", nil, Failed},
		{"a different account is refused", "arn:aws:sts::999999999999:assumed-role/App/stsrotator-app", nil, Failed},
		{"credentials STS rejects are refused", "", &stubAPIError{"InvalidClientTokenId", "The security token included in the request is invalid"}, Failed},
	}
	for _, c := range cases {
		t.Run(c.why, func(t *testing.T) {
			env := awstest.Start(t)
			clk := awstest.NewClock(time.Now())
			eng := newEngine(env, clk)
			eng.Verify = VerifyIdentity
			stub := &identitySTS{assumedArn: good, identity: c.identity, err: c.gciErr, now: clk.Now}
			eng.STS = stub
			tg := config.Target{Name: "app", RoleArn: role, SessionName: "stsrotator-app", Duration: time.Hour, RefreshBefore: 20 * time.Minute, SecretName: env.Unique("stsrotator/app")}
			r := eng.Rotate(awstest.Context(t), tg, Request{})
			if r.Outcome != c.want {
				t.Fatalf("got %+v, want %s", r, c.want)
			}
			if stub.usedKey != stub.issuedKey {
				t.Fatalf("GetCallerIdentity was called with %q, not the new credentials", secretfmt.Mask(stub.usedKey))
			}
			_, err := env.Secrets.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(tg.SecretName)})
			if written := err == nil; written != (c.want == Rotated) {
				t.Fatalf("secret written=%v for outcome %s: unverified credentials must never be stored", written, r.Outcome)
			}
		})
	}
}

type recordingSTS struct {
	STS
	record func(*sts.AssumeRoleInput, *sts.AssumeRoleOutput)
}

func (r recordingSTS) AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, opts ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	out, err := r.STS.AssumeRole(ctx, in, opts...)
	if err == nil {
		r.record(in, out)
	}
	return out, err
}

type identitySTS struct {
	assumedArn, identity string
	err                  error
	now                  func() time.Time
	issuedKey, usedKey   string
}

func (s *identitySTS) AssumeRole(_ context.Context, in *sts.AssumeRoleInput, _ ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	s.issuedKey = "ASIASTUBSTUBSTUB0001"
	return &sts.AssumeRoleOutput{
		AssumedRoleUser: &ststypes.AssumedRoleUser{Arn: aws.String(s.assumedArn), AssumedRoleId: aws.String("AROASTUB:" + aws.ToString(in.RoleSessionName))},
		Credentials: &ststypes.Credentials{AccessKeyId: aws.String(s.issuedKey), SecretAccessKey: aws.String("stubsecretstubsecret"),
			SessionToken: aws.String("stubtokenstubtoken"), Expiration: aws.Time(s.now().Add(time.Hour))},
	}, nil
}

func (s *identitySTS) GetCallerIdentity(ctx context.Context, _ *sts.GetCallerIdentityInput, opts ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
	var o sts.Options
	for _, f := range opts {
		f(&o)
	}
	if o.Credentials != nil {
		c, err := o.Credentials.Retrieve(ctx)
		if err != nil {
			return nil, err
		}
		s.usedKey = c.AccessKeyID
	}
	if s.err != nil {
		return nil, s.err
	}
	return &sts.GetCallerIdentityOutput{Arn: aws.String(s.identity), Account: aws.String("123456789012")}, nil
}

type stubAPIError struct{ code, msg string }

func (e *stubAPIError) Error() string                 { return e.code + ": " + e.msg }
func (e *stubAPIError) ErrorCode() string             { return e.code }
func (e *stubAPIError) ErrorMessage() string          { return e.msg }
func (e *stubAPIError) ErrorFault() smithy.ErrorFault { return smithy.FaultClient }

func processCreds(t testing.TB, raw string) aws.Credentials {
	t.Helper()
	path := t.TempDir() + "/secret.json"
	if err := os.WriteFile(path, []byte(raw), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := processcreds.NewProvider("cat " + path).Retrieve(context.Background())
	if err != nil {
		t.Fatalf("processcreds rejected the stored secret: %v", err)
	}
	return c
}
