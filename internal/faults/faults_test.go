package faults

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/stsrotator/stsrotator/internal/awstest"
)

func TestMain(m *testing.M) { awstest.Main(m) }

// clients builds SDK clients whose every call passes the injector.
func clients(env *awstest.Env, inj *Injector, attempts int) (*sts.Client, *secretsmanager.Client) {
	env.Transport.Base = inj
	cfg := env.Config.Copy()
	cfg.Retryer = func() aws.Retryer { return retry.AddWithMaxAttempts(Retryer()(), attempts) }
	return sts.NewFromConfig(cfg), secretsmanager.NewFromConfig(cfg)
}

// Every kind reaches the SDK as the error class the SDK's standard
// retryer retries, and only the kinds that model a lost response let the
// service act: the layer must not make a throttle look like a write.
func TestKindsAsTheSDKSeesThem(t *testing.T) {
	cases := []struct {
		why       string
		kind      Kind
		delivered bool
		code      string
	}{
		{"a throttle is Secrets Manager's ThrottlingException and never reaches it", Throttle, false, "ThrottlingException"},
		{"a 5xx is a server fault that never reaches the service", ServerError, false, "InternalFailure"},
		{"a reset before sending never reaches the service", Reset, false, ""},
		{"a timeout reaches the service and loses the answer", Timeout, true, ""},
		{"a drop reaches the service and loses the answer", Drop, true, ""},
	}
	for _, c := range cases {
		t.Run(string(c.kind), func(t *testing.T) {
			env := awstest.Start(t)
			inj := New(env.Transport.Base, 1, Rule{Service: "secretsmanager", Rate: 1, Kinds: []Kind{c.kind}, Limit: 1})
			_, sm := clients(env, inj, 1)
			name := env.Unique("kinds")
			_, err := sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String("{}")})
			if err == nil {
				t.Fatal("the injected fault did not reach the caller")
			}
			if !retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err).Bool() {
				t.Fatalf("the SDK's retryer would not retry %v", err)
			}
			if c.code != "" && !errorHasCode(err, c.code) {
				t.Fatalf("got %v, want code %s", err, c.code)
			}
			if got := inj.Stats()["CreateSecret"].Delivered == 1; got != c.delivered {
				t.Fatalf("delivered=%v, want %v", got, c.delivered)
			}
			_, derr := sm.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
			if exists := derr == nil; exists != c.delivered {
				t.Fatalf("secret exists=%v after a %s, want %v", exists, c.kind, c.delivered)
			}
		})
	}
}

func errorHasCode(err error, code string) bool {
	var ae interface{ ErrorCode() string }
	return errors.As(err, &ae) && ae.ErrorCode() == code
}

// The same seed fails the same calls whatever order they come in, so a
// failing run replays; another seed fails others.
func TestSeedReplays(t *testing.T) {
	run := func(seed uint64, order []int) map[string]Kind {
		inj := New(nil, seed, Rule{Rate: 0.3})
		got := map[string]Kind{}
		for _, i := range order {
			for a := 1; a <= 5; a++ {
				c := Call{Service: "secretsmanager", Op: "GetSecretValue", Resource: fmt.Sprintf("s-%d", i)}
				got[fmt.Sprintf("%d/%d", i, a)] = inj.decide(&c)
			}
		}
		return got
	}
	forward, backward := make([]int, 200), make([]int, 200)
	for i := range forward {
		forward[i], backward[len(backward)-1-i] = i, i
	}
	a, b, other := run(7, forward), run(7, backward), run(8, forward)
	failed, differs := 0, 0
	for k, v := range a {
		if b[k] != v {
			t.Fatalf("call %s: %q in one order, %q in the other", k, v, b[k])
		}
		if v != "" {
			failed++
		}
		if other[k] != v {
			differs++
		}
	}
	if share := float64(failed) / float64(len(a)); share < 0.25 || share > 0.35 {
		t.Fatalf("%.1f%% of calls failed at Rate 0.3", share*100)
	}
	if differs == 0 {
		t.Fatal("a different seed failed exactly the same calls")
	}
}

// Kill ends the caller's context: nothing after it gets out.
func TestKillEndsTheInvocation(t *testing.T) {
	env := awstest.Start(t)
	inj := New(env.Transport.Base, 1, Rule{Op: "GetCallerIdentity", Rate: 1, Kinds: []Kind{Kill}})
	stsc, _ := clients(env, inj, 5)
	ctx, killed := Killable(context.Background())
	if _, err := stsc.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err == nil || !killed() {
		t.Fatalf("err %v, killed %v", err, killed())
	}
	if n := inj.Stats()["GetCallerIdentity"].Attempted; n != 1 {
		t.Fatalf("a killed caller made %d attempts, want 1", n)
	}
}

// The ledger trusts a stored key only if a GetCallerIdentity signed with
// it was answered before the write.
func TestLedgerProvenance(t *testing.T) {
	env := awstest.Start(t)
	inj := New(env.Transport.Base, 1)
	stsc, sm := clients(env, inj, 1)
	ctx := context.Background()
	mint := func() *sts.AssumeRoleOutput {
		out, err := stsc.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::000000000000:role/L"), RoleSessionName: aws.String("l")})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	verify := func(out *sts.AssumeRoleOutput) {
		c := out.Credentials
		_, err := stsc.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}, func(o *sts.Options) {
			o.Credentials = credentials.NewStaticCredentialsProvider(*c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	store := func(name string, out *sts.AssumeRoleOutput) {
		body := fmt.Sprintf(`{"AccessKeyId":%q}`, *out.Credentials.AccessKeyId)
		if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(body)}); err != nil {
			t.Fatal(err)
		}
	}
	good, early := mint(), mint()
	verify(good)
	store(env.Unique("good"), good)
	store(env.Unique("early"), early)
	verify(early)
	if err := inj.Ledger().Provenance(env.Unique("good"), *good.Credentials.AccessKeyId); err != nil {
		t.Fatalf("verified then stored: %v", err)
	}
	if err := inj.Ledger().Provenance(env.Unique("early"), *early.Credentials.AccessKeyId); err == nil {
		t.Fatal("stored before verification was accepted")
	}
	if err := inj.Ledger().Provenance(env.Unique("good"), "ASIANEVERISSUED0000"); err == nil {
		t.Fatal("a key nobody issued was accepted")
	}
}

// SimulatedExpiry moves Expiration by exactly the simulated clock's offset.
func TestSimulatedExpiry(t *testing.T) {
	env := awstest.Start(t)
	stsc, _ := clients(env, New(env.Transport.Base, 1), 1)
	sim := time.Now().Add(36 * time.Hour)
	s := SimulatedExpiry{STS: stsc, Now: func() time.Time { return sim }}
	out, err := s.AssumeRole(context.Background(), &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::000000000000:role/E"), RoleSessionName: aws.String("e"), DurationSeconds: aws.Int32(900)})
	if err != nil {
		t.Fatal(err)
	}
	left := out.Credentials.Expiration.Sub(sim)
	if left < 899*time.Second || left > 901*time.Second {
		t.Fatalf("a 900 s session has %s left on the simulated clock", left)
	}
}
