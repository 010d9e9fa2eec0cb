package credprovider

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/internal/faults"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/metrics"
	"github.com/stsrotator/stsrotator/shared/rotation"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// Issue figures: a secret edited by hand into garbage. A consumer that
// holds credentials keeps serving them, without hammering Secrets Manager,
// until their own Expiration and never past it; a consumer starting
// meanwhile gets an error that names the secret and what is wrong with it;
// the rotator's next run repairs the secret and both consumers pick the
// repair up on their next re-read.
func TestResilienceHandEditedGarbage(t *testing.T) {
	cases := []struct {
		why     string
		garbage func(valid string) *secretsmanager.PutSecretValueInput
		// says is what the consumer's error must tell a human.
		says string
	}{
		{"a note typed over the JSON", func(string) *secretsmanager.PutSecretValueInput {
			return &secretsmanager.PutSecretValueInput{SecretString: aws.String("rotated by hand, ask Bob")}
		}, "not JSON"},
		{"JSON without credentials", func(string) *secretsmanager.PutSecretValueInput {
			return &secretsmanager.PutSecretValueInput{SecretString: aws.String(`{"note":"edited in the console"}`)}
		}, "Version is 0"},
		{"the value cut short by a bad paste", func(valid string) *secretsmanager.PutSecretValueInput {
			return &secretsmanager.PutSecretValueInput{SecretString: aws.String(valid[:len(valid)/2])}
		}, "ends early"},
		{"credentials without a session token", func(valid string) *secretsmanager.PutSecretValueInput {
			return &secretsmanager.PutSecretValueInput{SecretString: aws.String(strings.Replace(valid, `"SessionToken"`, `"Token"`, 1))}
		}, "SessionToken is missing"},
		{"binary data instead of a string", func(string) *secretsmanager.PutSecretValueInput {
			return &secretsmanager.PutSecretValueInput{SecretBinary: []byte{0xde, 0xad, 0xbe, 0xef}}
		}, "binary data"},
	}
	for _, c := range cases {
		t.Run(c.why, func(t *testing.T) {
			env := awstest.Start(t)
			ctx := awstest.Context(t)
			clk := awstest.NewClock(time.Now())
			eng := &rotation.Engine{STS: faults.SimulatedExpiry{STS: env.STS, Now: clk.Now}, Secrets: env.Secrets, Now: clk.Now,
				Log: awstest.Logger(nil), Emit: metrics.NewWriter(awstest.Logs, clk.Now), Verify: rotation.VerifyCaller}
			cfg, err := config.Parse("t.yaml", []byte("targets:\n  - name: app\n    roleArn: arn:aws:iam::000000000000:role/App\n    secretName: "+env.Unique("app")+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			tg := cfg.Targets[0]
			if r := eng.Rotate(ctx, tg, rotation.Request{}); r.Outcome != rotation.Rotated {
				t.Fatalf("mint: %+v", r)
			}
			// What the holder tells its program about the broken secret.
			type told struct {
				err   error
				key   string
				until time.Time
			}
			var reports []told
			holder := New(env.Secrets, tg.Name, WithSecretID(tg.SecretName), WithClock(clk.Now),
				WithReadFailure(func(err error, key string, until time.Time) { reports = append(reports, told{err, key, until}) }))
			held, err := holder.Retrieve(ctx)
			if err != nil {
				t.Fatal(err)
			}

			out, err := env.Secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(tg.SecretName)})
			if err != nil {
				t.Fatal(err)
			}
			edit := c.garbage(aws.ToString(out.SecretString))
			edit.SecretId = aws.String(tg.SecretName)
			clk.Add(time.Minute)
			if _, err := env.Secrets.PutSecretValue(ctx, edit); err != nil {
				t.Fatal(err)
			}

			// Past the refresh hint: the holder re-reads, finds garbage,
			// keeps what it has.
			clk.Add(45 * time.Minute)
			env.Transport.Reset()
			for range 100 {
				got, err := holder.Retrieve(ctx)
				if err != nil || got.AccessKeyID != held.AccessKeyID {
					t.Fatalf("a holder with unexpired credentials must keep them: %v", err)
				}
			}
			if n := env.Transport.Calls("GetSecretValue"); n != 1 {
				t.Fatalf("100 calls over a broken secret made %d reads, want 1 (then one per %s)", n, DefaultRetryAfter)
			}
			// The holder does not hide the breakage: one report per failed
			// read, naming the secret, what is wrong, the masked key it
			// keeps serving and until when.
			if len(reports) != 1 || !strings.Contains(reports[0].err.Error(), c.says) ||
				!strings.Contains(reports[0].err.Error(), tg.SecretName) || reports[0].key != secretfmt.Mask(held.AccessKeyID) || !reports[0].until.Equal(held.Expires) {
				t.Fatalf("want one report of the broken secret (%q) serving %s until %s, got %+v", c.says, secretfmt.Mask(held.AccessKeyID), held.Expires, reports)
			}
			starter := New(env.Secrets, tg.Name, WithSecretID(tg.SecretName), WithClock(clk.Now))
			_, err = starter.Retrieve(ctx)
			if !errors.Is(err, secretfmt.ErrInvalid) || !strings.Contains(err.Error(), tg.SecretName) || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("a new consumer must be told which secret is broken and how (%q), got %v", c.says, err)
			}

			// The rotator is down until after Expiration: the holder then
			// fails clearly rather than serve expired credentials.
			clk.Add(held.Expires.Sub(clk.Now()) + time.Second)
			if got, err := holder.Retrieve(ctx); err == nil || !errors.Is(err, secretfmt.ErrInvalid) {
				t.Fatalf("after Expiration over a broken secret: %s, %v; want the parse error", secretfmt.Mask(got.AccessKeyID), err)
			}

			r := eng.Rotate(ctx, tg, rotation.Request{Why: "schedule"})
			if r.Outcome != rotation.Rotated || !strings.Contains(r.Reason, "unusable") {
				t.Fatalf("the next run must repair the secret: %+v", r)
			}
			clk.Add(DefaultRetryAfter)
			for name, p := range map[string]*Provider{"holder": holder, "starter": starter} {
				got, err := p.Retrieve(ctx)
				if err != nil || got.AccessKeyID == held.AccessKeyID || !got.Expires.After(clk.Now()) {
					t.Fatalf("%s after the repair: %v (same key %v)", name, err, got.AccessKeyID == held.AccessKeyID)
				}
			}
		})
	}
}
