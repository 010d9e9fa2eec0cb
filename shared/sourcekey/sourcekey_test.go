package sourcekey

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/stsrotator/stsrotator/internal/faults"
	"github.com/stsrotator/stsrotator/internal/mototest"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

const (
	user   = "stsrotator-source"
	secret = "stsrotator/source-key"
	maxAge = 30 * 24 * time.Hour
)

var userArn = "arn:aws:iam::" + mototest.Account + ":user/" + user

// clock is the injected time; moto's own CreateDate is never compared.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time                   { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration)              { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func noWait(context.Context, time.Duration) error { return nil }

type fixture struct {
	moto *mototest.Server
	iam  *iam.Client
	sm   *secretsmanager.Client
	inj  *faults.Injector
	clk  *clock
	rot  *Rotator
	logs *bytes.Buffer
}

// server is one moto process for the package's tests, which run one at a
// time and reset it before each: starting moto costs more than the tests.
var server *mototest.Server

func TestMain(m *testing.M) {
	s, err := mototest.Launch(context.Background())
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: mototest: %v\n", err)
		os.Exit(1)
	}
	server = s
	code := m.Run()
	s.Close()
	os.Exit(code)
}

// newFixture is a deployed stack's state: the user and its empty secret.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	return onServer(t, server)
}

// onServer resets s and builds the fixture on it, so a table of subtests
// shares one moto process.
func onServer(t *testing.T, s *mototest.Server) *fixture {
	t.Helper()
	if err := s.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("moto log (last 4 KiB):\n%s", s.Tail(4096))
		}
	})
	cfg := s.Config("")
	inj := faults.New(http.DefaultTransport, 1)
	cfg.HTTPClient = &http.Client{Transport: inj}
	// One attempt: a killed call must not be retried by the SDK.
	cfg.RetryMaxAttempts = 1
	f := &fixture{moto: s, iam: iam.NewFromConfig(cfg), sm: secretsmanager.NewFromConfig(cfg), inj: inj, clk: &clock{t: time.Now().UTC()}, logs: &bytes.Buffer{}}
	ctx := context.Background()
	if _, err := f.iam.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(user)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(secret)}); err != nil {
		t.Fatal(err)
	}
	f.rot = &Rotator{
		IAM: f.iam, STS: sts.NewFromConfig(cfg), Secrets: f.sm, UserName: user, SecretID: secret, UserArn: userArn,
		MaxAge: maxAge, Now: f.clk.Now, Wait: noWait, ProveAttempts: 3, ProveBackoff: time.Second,
		Log: slog.New(slog.NewJSONHandler(f.logs, nil)),
	}
	return f
}

func (f *fixture) keys(t *testing.T) []iamtypes.AccessKeyMetadata {
	t.Helper()
	out, err := f.iam.ListAccessKeys(context.Background(), &iam.ListAccessKeysInput{UserName: aws.String(user)})
	if err != nil {
		t.Fatal(err)
	}
	return out.AccessKeyMetadata
}

func (f *fixture) stored(t *testing.T) secretfmt.SourceKey {
	t.Helper()
	creds, err := Provider{Secrets: f.sm, SecretID: secret}.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out, _ := f.sm.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(secret)})
	k, err := secretfmt.ParseSourceKey([]byte(aws.ToString(out.SecretString)))
	if err != nil || k.AccessKeyID != creds.AccessKeyID {
		t.Fatalf("provider and secret disagree: %v %v", k, err)
	}
	return k
}

// works proves with moto's strict STS that the stored key signs as the user
// — what every iam-user target's AssumeRole depends on — and that IAM has it
// active.
func (f *fixture) works(t *testing.T) secretfmt.SourceKey {
	t.Helper()
	k := f.stored(t)
	c := sts.New(sts.Options{Region: mototest.Region, BaseEndpoint: aws.String(f.moto.URL), Credentials: credentials.NewStaticCredentialsProvider(k.AccessKeyID, k.SecretAccessKey, "")})
	id, err := c.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(id.Arn) != userArn {
		t.Fatalf("the stored key %s does not sign as %s: %v %v", k.MaskedKey(), userArn, id, err)
	}
	for _, m := range f.keys(t) {
		if aws.ToString(m.AccessKeyId) == k.AccessKeyID && m.Status != iamtypes.StatusTypeActive {
			t.Fatalf("the stored key %s is %s in IAM", k.MaskedKey(), m.Status)
		}
	}
	return k
}

func (f *fixture) run(t *testing.T, want Outcome, steps ...string) Result {
	t.Helper()
	r := f.rot.Run(context.Background())
	if r.Outcome != want {
		t.Fatalf("run: got %s (%v), want %s", r.Outcome, r.Err, want)
	}
	got := make([]string, len(r.Steps))
	for i, s := range r.Steps {
		got[i], _, _ = strings.Cut(s, " ")
	}
	if strings.Join(got, ",") != strings.Join(steps, ",") {
		t.Fatalf("steps: got %v, want %v", r.Steps, steps)
	}
	return r
}

// The lifecycle, one run per step, on moto's IAM, STS and Secrets
// Manager: first key, nothing to do while young, replacement when due,
// the old key deactivated once the new one has settled, deleted after the
// grace period.
func TestLifecycle(t *testing.T) {
	f := newFixture(t)
	f.run(t, Rotated, "created", "proved", "stored")
	first := f.works(t)
	f.run(t, Fresh)

	f.clk.Add(maxAge - time.Minute)
	f.run(t, Fresh)
	f.clk.Add(time.Minute)
	f.run(t, Rotated, "created", "proved", "stored")
	second := f.works(t)
	if second.AccessKeyID == first.AccessKeyID || len(f.keys(t)) != 2 {
		t.Fatalf("want a new stored key beside the old one, got %v and %d keys", second, len(f.keys(t)))
	}
	f.run(t, Fresh) // the old key stays active while rotators may still hold it

	f.clk.Add(config.SourceKeySettle)
	f.run(t, Rotated, "deactivated")
	for _, k := range f.keys(t) {
		if aws.ToString(k.AccessKeyId) == first.AccessKeyID && k.Status != iamtypes.StatusTypeInactive {
			t.Fatalf("old key is %s after the settle period, want Inactive", k.Status)
		}
	}
	f.works(t)

	f.clk.Add(config.SourceKeyGrace - config.SourceKeySettle)
	f.run(t, Rotated, "deleted")
	if ks := f.keys(t); len(ks) != 1 || aws.ToString(ks[0].AccessKeyId) != second.AccessKeyID {
		t.Fatalf("after the grace period want only the stored key, got %v", ks)
	}
	f.works(t)
	f.run(t, Fresh)

	if strings.Contains(f.logs.String(), first.SecretAccessKey) || strings.Contains(f.logs.String(), second.SecretAccessKey) ||
		strings.Contains(f.logs.String(), second.AccessKeyID) {
		t.Fatal("the rotator logged key material; only masked key IDs may appear")
	}
}

// moto enforces IAM's quota of two keys per user, as AWS does; the
// rotator's MaxKeysPerUser mirrors it.
func TestMotoRefusesAThirdKey(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for i := 0; i < MaxKeysPerUser; i++ {
		if _, err := f.iam.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(user)}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := f.iam.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(user)})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "LimitExceeded" {
		t.Fatalf("third key: got %v, want LimitExceeded", err)
	}
	// Keys nobody stored cannot be in use (their secret half is lost): the
	// first run clears them and stores its own.
	f.run(t, Rotated, "deactivated", "deleted", "deactivated", "deleted", "created", "proved", "stored")
	f.works(t)
	if len(f.keys(t)) != 1 {
		t.Fatalf("want one key, got %d", len(f.keys(t)))
	}
}

// Failures leave the stored key working and report Failed (the function
// errors, which alarms).
func TestFailuresKeepTheWorkingKey(t *testing.T) {
	t.Run("a new key that signs as someone else is deleted, never stored", func(t *testing.T) {
		f := newFixture(t)
		f.run(t, Rotated, "created", "proved", "stored")
		before := f.works(t)
		f.clk.Add(maxAge)
		f.rot.UserArn = "arn:aws:iam::" + mototest.Account + ":user/someone-else"
		r := f.run(t, Failed, "created", "deleted")
		if !strings.Contains(r.Error, "signs as") {
			t.Fatalf("error: %s", r.Error)
		}
		f.rot.UserArn = userArn
		if got := f.works(t); got != before || len(f.keys(t)) != 1 {
			t.Fatalf("the working key changed or a key leaked: %v, %d keys", got, len(f.keys(t)))
		}
	})
	t.Run("a rotation due while the previous key holds IAM's second slot fails and says why", func(t *testing.T) {
		f := newFixture(t)
		f.rot.MaxAge = time.Hour // shorter than the grace; config refuses this, the rotator must still be safe
		f.run(t, Rotated, "created", "proved", "stored")
		f.clk.Add(time.Hour)
		f.run(t, Rotated, "created", "proved", "stored")
		working := f.works(t)
		f.clk.Add(time.Hour)
		r := f.run(t, Failed, "deactivated")
		if !strings.Contains(r.Error, "two access keys per user") && !strings.Contains(r.Error, "allows 2 access keys per user") {
			t.Fatalf("error: %s", r.Error)
		}
		if got := f.works(t); got != working {
			t.Fatalf("the working key changed: %v", got)
		}
	})
	t.Run("a stored key someone deactivated is re-activated", func(t *testing.T) {
		f := newFixture(t)
		f.run(t, Rotated, "created", "proved", "stored")
		k := f.stored(t)
		if _, err := f.iam.UpdateAccessKey(context.Background(), &iam.UpdateAccessKeyInput{UserName: aws.String(user), AccessKeyId: aws.String(k.AccessKeyID), Status: iamtypes.StatusTypeInactive}); err != nil {
			t.Fatal(err)
		}
		f.run(t, Rotated, "re-activated")
		f.works(t)
	})
}

// A crash at any step — before a call leaves, or after AWS acted and
// before the answer arrived — converges on the next run at the same
// instant, and the whole lifecycle still ends with exactly one stored,
// working key. Every step of the lifecycle is crashed once, in turn.
func TestCrashAtEveryStepConverges(t *testing.T) {
	ops := []struct{ op, service string }{
		{"ListAccessKeys", "iam"}, {"GetSecretValue", "secretsmanager"}, {"CreateAccessKey", "iam"},
		{"GetCallerIdentity", "sts"}, {"PutSecretValue", "secretsmanager"}, {"UpdateAccessKey", "iam"}, {"DeleteAccessKey", "iam"},
	}
	// The lifecycle's runs, as clock moves before each.
	moves := []time.Duration{0, maxAge, config.SourceKeySettle, config.SourceKeyGrace}
	srv := server
	crashed := 0
	for _, o := range ops {
		for _, kind := range []faults.Kind{faults.Kill, faults.KillAfter} {
			for at := range moves {
				name := o.op + "/" + string(kind) + "/run" + string(rune('0'+at))
				t.Run(name, func(t *testing.T) {
					f := onServer(t, srv)
					fired := false
					for i, mv := range moves {
						f.clk.Add(mv)
						if i == at {
							f.inj.SetRules(faults.Rule{Service: o.service, Op: o.op, Rate: 1, Kinds: []faults.Kind{kind}, Limit: 1})
						}
						ctx, killed := faults.Killable(context.Background())
						r := f.rot.Run(ctx)
						f.inj.SetRules()
						if killed() {
							fired = true
							// The next invocation, at the same instant.
							if r = f.rot.Run(context.Background()); r.Outcome == Failed {
								t.Fatalf("run after the crash failed: %v", r.Err)
							}
						} else if r.Outcome == Failed {
							t.Fatalf("run %d failed without a crash: %v", i, r.Err)
						}
						if n := len(f.keys(t)); n > MaxKeysPerUser {
							t.Fatalf("%d keys", n)
						}
						f.works(t)
					}
					if !fired {
						// This step does not call o.op in this run: nothing to crash.
						return
					}
					crashed++
					// One more grace period for the crashed run's leftovers.
					f.clk.Add(config.SourceKeyGrace)
					if r := f.rot.Run(context.Background()); r.Outcome == Failed {
						t.Fatalf("final run: %v", r.Err)
					}
					if ks := f.keys(t); len(ks) != 1 || aws.ToString(ks[0].AccessKeyId) != f.works(t).AccessKeyID {
						t.Fatalf("want exactly the stored key left, got %v", ks)
					}
				})
			}
		}
	}
	// Every op crashes in at least one run, both before and after it
	// reaches AWS: the table cannot pass by never crashing.
	if want := 2 * len(ops); crashed < want {
		t.Fatalf("only %d crashes happened, want at least %d", crashed, want)
	}
	t.Logf("%d crash points converged", crashed)
}

// A source-key secret rewritten with the stored key's CreatedAt ten years
// ahead: the key's age was negative, so the IAM user's long-term key was
// never rotated again (and the previous one never retired). A date ahead
// of the rotator's clock is no date it wrote: IAM's CreateDate dates the
// key instead, and the key is replaced when that says it is due.
func TestAbuse_SourceKeyForgedCreatedAt(t *testing.T) {
	f := newFixture(t)
	f.run(t, Rotated, "created", "proved", "stored")
	k := f.stored(t)
	k.CreatedAt = f.clk.Now().AddDate(10, 0, 0).Truncate(time.Second)
	body, err := secretfmt.MarshalSourceKey(k)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.sm.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(secret), SecretString: aws.String(string(body))}); err != nil {
		t.Fatal(err)
	}
	f.run(t, Fresh)
	// moto dates the key on its wall clock, which the test clock started
	// from; past maxAge on the test clock the key is due by IAM's date.
	f.clk.Add(maxAge + time.Minute)
	f.run(t, Rotated, "created", "proved", "stored")
	if next := f.works(t); next.AccessKeyID == k.AccessKeyID {
		t.Fatal("the key with a forged CreatedAt was not replaced")
	}
	if !strings.Contains(f.logs.String(), "ahead of the rotator's clock") {
		t.Fatalf("the forged date is not logged:\n%s", f.logs.String())
	}
}
