package credprovider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// The provider's default read-failure warning goes to slog.Default; here
// that is the leak-checked log sink, not the test's stderr.
func TestMain(m *testing.M) {
	slog.SetDefault(awstest.Logger(nil))
	awstest.Main(m)
}

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// value builds a secret version; n makes keys distinct per version.
func value(n int, expires, refreshAt time.Time) secretfmt.Value {
	return secretfmt.Value{
		AccessKeyID:     fmt.Sprintf("ASIATESTKEY%09d", n),
		SecretAccessKey: fmt.Sprintf("testSecretKeyValue%020d", n),
		SessionToken:    fmt.Sprintf("testSessionTokenValue%020d", n),
		Expiration:      expires,
		Meta:            secretfmt.Metadata{Target: "app", IssuedAt: expires.Add(-time.Hour), RefreshAt: refreshAt},
	}
}

// kumoSecret is one secret on kumo that a test rewrites or breaks at will;
// the Env's recording transport counts the provider's reads.
type kumoSecret struct {
	tb      testing.TB
	env     *awstest.Env
	id      string
	created bool

	mu sync.Mutex
	// failing is the error code every GetSecretValue is answered with
	// until the next set; "" sends reads to kumo.
	failing string
}

// newKumoSecret starts its own Env, so faults a test injects on another
// Env's transport (STS refusing every call, say) never reach its reads.
// The secret does not exist until the first set.
func newKumoSecret(tb testing.TB) *kumoSecret {
	tb.Helper()
	k := &kumoSecret{tb: tb, env: awstest.Start(tb)}
	k.id = k.env.Unique("stsrotator/app")
	// Installed once, before any request, and switched under k.mu, so the
	// provider's own read goroutine never races a test step.
	k.env.Transport.Fault = func(op string, _ []byte) *http.Response {
		k.mu.Lock()
		code := k.failing
		k.mu.Unlock()
		if op != "GetSecretValue" || code == "" {
			return nil
		}
		return awstest.JSONError(http.StatusBadRequest, code, "User is not authorized to perform secretsmanager:GetSecretValue on "+k.id)
	}
	return k
}

// set writes v as the secret's current version (creating the secret the
// first time) and clears any injected read failure.
func (k *kumoSecret) set(v secretfmt.Value) {
	k.tb.Helper()
	k.mu.Lock()
	k.failing = ""
	k.mu.Unlock()
	putSecret(k.tb, k.env, k.id, v, !k.created)
	k.created = true
}

// fail answers every GetSecretValue with an AWS error of code until the
// next set. Use a code the SDK does not retry, such as
// AccessDeniedException (a consumer that lost access), so read counts stay
// exact.
func (k *kumoSecret) fail(code string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.failing = code
}

// n is how many GetSecretValue requests the provider has made.
func (k *kumoSecret) n() int { return k.env.Transport.Calls("GetSecretValue") }

func TestRetrieve(t *testing.T) {
	exp, hint := t0.Add(time.Hour), t0.Add(40*time.Minute)
	type step struct {
		advance time.Duration
		set     *secretfmt.Value
		// fail is the error code reads get from this step on (until a set).
		fail string
		// wantKey is the key served, or "" for an error containing wantErr.
		wantKey string
		wantErr string
		// reads is the total GetSecretValue count after the step.
		reads int
	}
	v1, v2 := value(1, exp, hint), value(2, exp.Add(time.Hour), hint.Add(time.Hour))
	noHint := value(3, exp, time.Time{})
	expired := value(4, t0.Add(-time.Second), time.Time{})
	cases := []struct {
		why   string
		steps []step
	}{
		{"the secret is read once and served from memory until its own refresh hint", []step{
			{set: &v1, wantKey: v1.AccessKeyID, reads: 1},
			{advance: 39 * time.Minute, set: &v2, wantKey: v1.AccessKeyID, reads: 1},
			{advance: time.Minute, wantKey: v2.AccessKeyID, reads: 2},
		}},
		{"without a hint it is re-read the expiry window before Expiration", []step{
			{set: &noHint, wantKey: noHint.AccessKeyID, reads: 1},
			{advance: 54 * time.Minute, wantKey: noHint.AccessKeyID, reads: 1},
			{advance: time.Minute, wantKey: noHint.AccessKeyID, reads: 2},
		}},
		{"a failed re-read keeps serving unexpired credentials, and waits before asking again", []step{
			{set: &v1, wantKey: v1.AccessKeyID, reads: 1},
			{advance: 41 * time.Minute, fail: "AccessDeniedException", wantKey: v1.AccessKeyID, reads: 2},
			{advance: 10 * time.Second, wantKey: v1.AccessKeyID, reads: 2},
			{advance: 20 * time.Second, wantKey: v1.AccessKeyID, reads: 3},
		}},
		{"expired credentials are never returned, even when the re-read fails", []step{
			{set: &v1, wantKey: v1.AccessKeyID, reads: 1},
			{advance: time.Hour, fail: "AccessDeniedException", wantErr: "AccessDenied", reads: 2},
		}},
		{"a rotator that is late is asked again only every retry interval", []step{
			{advance: 50 * time.Minute, set: &v1, wantKey: v1.AccessKeyID, reads: 1},
			{advance: 29 * time.Second, wantKey: v1.AccessKeyID, reads: 1},
			{advance: time.Second, wantKey: v1.AccessKeyID, reads: 2},
		}},
		{"an expired secret is an error naming the fix, not credentials", []step{
			{set: &expired, wantErr: "expired at", reads: 1},
		}},
		{"a missing secret is ErrNotFound", []step{
			// Never created: kumo answers ResourceNotFoundException.
			{wantErr: ErrNotFound.Error(), reads: 1},
		}},
	}
	for _, c := range cases {
		t.Run(c.why, func(t *testing.T) {
			clk := awstest.NewClock(t0)
			api := newKumoSecret(t)
			p := New(api.env.Secrets, "app", WithSecretID(api.id), WithClock(clk.Now))
			for i, s := range c.steps {
				clk.Add(s.advance)
				if s.set != nil {
					api.set(*s.set)
				}
				if s.fail != "" {
					api.fail(s.fail)
				}
				got, err := p.Retrieve(context.Background())
				switch {
				case s.wantErr != "" && (err == nil || !strings.Contains(err.Error(), s.wantErr)):
					t.Fatalf("step %d: got %v, want error containing %q", i, err, s.wantErr)
				case s.wantErr == "" && err != nil:
					t.Fatalf("step %d: %v", i, err)
				case s.wantErr == "" && got.AccessKeyID != s.wantKey:
					t.Fatalf("step %d: served %s, want %s", i, secretfmt.Mask(got.AccessKeyID), secretfmt.Mask(s.wantKey))
				case s.wantErr == "" && !clk.Now().Before(got.Expires):
					t.Fatalf("step %d: served credentials that expired at %s", i, got.Expires)
				}
				if n := api.n(); n != s.reads {
					t.Fatalf("step %d: %d reads, want %d", i, n, s.reads)
				}
			}
		})
	}
}

// Invalidation is by key, so a burst of callers that all saw one refusal
// costs one re-read, and a key the rotator has not replaced yet is not
// re-read on every refused call.
func TestInvalidate(t *testing.T) {
	clk := awstest.NewClock(t0)
	api := newKumoSecret(t)
	p := New(api.env.Secrets, "app", WithSecretID(api.id), WithClock(clk.Now))
	v1, v2 := value(1, t0.Add(time.Hour), t0.Add(40*time.Minute)), value(2, t0.Add(time.Hour), t0.Add(40*time.Minute))
	api.set(v1)
	ctx := context.Background()
	if _, err := p.Retrieve(ctx); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		why     string
		advance time.Duration
		set     *secretfmt.Value
		key     string
		retry   bool
		reads   int
		serves  string
	}{
		{"another key is not what is cached: nothing is dropped, and a retry gets the cache", 0, nil, "ASIAOTHERKEY00000000", true, 1, v1.AccessKeyID},
		{"the cached key is dropped; the re-read finds the same key (rotator not done)", 0, nil, v1.AccessKeyID, true, 2, v1.AccessKeyID},
		{"refused again right after that re-read: kept, and a retry is pointless", 10 * time.Second, nil, v1.AccessKeyID, false, 2, v1.AccessKeyID},
		{"refused again after the retry interval: re-read, now finding the rotated key", 20 * time.Second, &v2, v1.AccessKeyID, true, 3, v2.AccessKeyID},
		{"the old key seen by a late caller does not drop the new one", 0, nil, v1.AccessKeyID, true, 3, v2.AccessKeyID},
		{"an unknown key drops whatever is cached", 0, nil, "", true, 4, v2.AccessKeyID},
	}
	for _, c := range cases {
		clk.Add(c.advance)
		if c.set != nil {
			api.set(*c.set)
		}
		if got := p.Invalidate(c.key); got != c.retry {
			t.Fatalf("%s: Invalidate = %v", c.why, got)
		}
		got, err := p.Retrieve(ctx)
		if err != nil || got.AccessKeyID != c.serves || api.n() != c.reads {
			t.Fatalf("%s: served %s after %d reads (%v)", c.why, secretfmt.Mask(got.AccessKeyID), api.n(), err)
		}
	}
}

// versionCounter counts GetSecretValue responses per secret version.
type versionCounter struct {
	base http.RoundTripper
	mu   sync.Mutex
	byV  map[string]int
}

func (c *versionCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(req)
	if err != nil || !strings.HasSuffix(req.Header.Get("X-Amz-Target"), ".GetSecretValue") {
		return resp, err
	}
	b, rerr := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if rerr != nil {
		return nil, rerr
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	var out struct{ VersionId string }
	_ = json.Unmarshal(b, &out)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byV[out.VersionId]++
	return resp, nil
}

func putSecret(t testing.TB, env *awstest.Env, name string, v secretfmt.Value, create bool) {
	t.Helper()
	b, err := secretfmt.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if create {
		_, err = env.Secrets.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(string(b)),
			Tags: []smtypes.Tag{{Key: aws.String("stsrotator:managed-by"), Value: aws.String("stsrotator")}}})
	} else {
		_, err = env.Secrets.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(string(b))})
	}
	if err != nil {
		t.Fatalf("write %s: %v", name, err)
	}
	awstest.Remember(b)
}

// Issue proof: 100 goroutines × 1,000 Retrieve calls across a rotation
// make exactly one GetSecretValue per secret version.
func TestConcurrentRetrieveAcrossRotation(t *testing.T) {
	env := awstest.Start(t)
	name := env.Unique("stsrotator/burst")
	now := time.Now().UTC().Truncate(time.Second)
	clk := awstest.NewClock(now)
	v1 := value(11, now.Add(time.Hour), now.Add(40*time.Minute))
	v2 := value(12, now.Add(2*time.Hour), now.Add(100*time.Minute))
	putSecret(t, env, name, v1, true)

	counter := &versionCounter{base: env.Transport, byV: map[string]int{}}
	cfg := env.Config.Copy()
	cfg.HTTPClient = &http.Client{Transport: counter}
	p := New(secretsmanager.NewFromConfig(cfg), "burst", WithSecretID(name), WithClock(clk.Now))

	const workers, calls = 100, 1000
	var total atomic.Int64
	halfway := make(chan struct{})
	rotated := make(chan struct{})
	var once sync.Once
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	seen := make([]map[string]bool, workers)
	for w := range workers {
		seen[w] = map[string]bool{}
		wg.Go(func() {
			for i := range calls {
				if i == calls/2 {
					// Half the callers may still be in their first half
					// when the clock moves, so the re-read happens under
					// load, not after it.
					<-rotated
				}
				c, err := p.Retrieve(context.Background())
				if err != nil {
					errs <- err
					return
				}
				seen[w][c.AccessKeyID] = true
				if total.Add(1) == workers*calls/4 {
					once.Do(func() { close(halfway) })
				}
			}
		})
	}
	<-halfway
	putSecret(t, env, name, v2, false)
	clk.Add(41 * time.Minute)
	close(rotated)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	counter.mu.Lock()
	defer counter.mu.Unlock()
	if len(counter.byV) != 2 {
		t.Fatalf("reads per version %v, want two versions", counter.byV)
	}
	for v, n := range counter.byV {
		if n != 1 {
			t.Errorf("version %s read %d times, want exactly 1 (all reads: %v)", v, n, counter.byV)
		}
	}
	for w := range workers {
		if !seen[w][v2.AccessKeyID] {
			t.Fatalf("worker %d never got the rotated key", w)
		}
	}
	t.Logf("%d Retrieve calls over %d goroutines across one rotation: GetSecretValue per version %v", total.Load(), workers, counter.byV)
}

// cachedProvider has read its secret from kumo once and now serves it from
// memory.
func cachedProvider(tb testing.TB) *Provider {
	api := newKumoSecret(tb)
	api.set(value(1, time.Now().Add(time.Hour), time.Now().Add(40*time.Minute)))
	p := New(api.env.Secrets, "app", WithSecretID(api.id))
	if _, err := p.Retrieve(context.Background()); err != nil {
		tb.Fatal(err)
	}
	if n := api.n(); n != 1 {
		tb.Fatalf("%d reads to fill the cache, want 1", n)
	}
	return p
}

// Issue budget: a cached Retrieve allocates nothing.
func TestCachedRetrieveDoesNotAllocate(t *testing.T) {
	p := cachedProvider(t)
	ctx := context.Background()
	if n := testing.AllocsPerRun(1000, func() { _, _ = p.Retrieve(ctx) }); n > 0 {
		t.Fatalf("cached Retrieve allocates %.1f times per call, want 0", n)
	}
}

// Issue budget: a cached Retrieve costs at most 100 ns; reported against
// the SDK's own aws.CredentialsCache measured in the same run.
func BenchmarkRetrieveCached(b *testing.B) {
	p := cachedProvider(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, _ = p.Retrieve(ctx)
	}
}

// The baseline: what every SDK client pays per call for cached expiring
// credentials (an expiry check reads the clock, as Retrieve does).
func BenchmarkRetrieveBaselineCredentialsCache(b *testing.B) {
	exp := time.Now().Add(time.Hour)
	c := aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: "ASIATESTKEY000000001", SecretAccessKey: "s", SessionToken: "t", CanExpire: true, Expires: exp}, nil
	}))
	ctx := context.Background()
	if _, err := c.Retrieve(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_, _ = c.Retrieve(ctx)
	}
}

// WithMaxAge (serve's setting): a version is served from memory for at
// most the max age, so after stsrotator revoke replaces the key a process
// that asks again gets the new one within that time, not at the hint.
func TestMaxAge(t *testing.T) {
	k := newKumoSecret(t)
	clk := awstest.NewClock(t0)
	p := New(k.env.Secrets, "app", WithSecretID(k.id), WithClock(clk.Now), WithMaxAge(30*time.Second))
	v1, v2 := value(1, t0.Add(time.Hour), t0.Add(40*time.Minute)), value(2, t0.Add(time.Hour), t0.Add(40*time.Minute))
	k.set(v1)
	ctx := awstest.Context(t)
	steps := []struct {
		why     string
		advance time.Duration
		set     *secretfmt.Value
		wantKey string
		reads   int
	}{
		{"the first read", 0, nil, v1.AccessKeyID, 1},
		{"inside the max age the cache answers, although the secret changed", 29 * time.Second, &v2, v1.AccessKeyID, 1},
		{"at the max age the secret is re-read: the new key", time.Second, nil, v2.AccessKeyID, 2},
		{"and then cached again for the max age", 10 * time.Second, nil, v2.AccessKeyID, 2},
	}
	for _, s := range steps {
		clk.Add(s.advance)
		if s.set != nil {
			k.set(*s.set)
		}
		c, err := p.Retrieve(ctx)
		if err != nil || c.AccessKeyID != s.wantKey || k.n() != s.reads {
			t.Fatalf("%s: key %s (want %s), %d reads (want %d), %v", s.why, c.AccessKeyID, s.wantKey, k.n(), s.reads, err)
		}
	}
}

// An expired secret is an *ExpiredError saying which version was read, so
// serve can report it without parsing text; errors.Is(ErrExpired) holds
// and the message is the one users already see.
func TestExpiredError(t *testing.T) {
	k := newKumoSecret(t)
	v := value(7, t0.Add(-time.Minute), time.Time{})
	v.Meta.ReportBus = "arn:aws:events:us-east-1:123456789012:event-bus/default"
	k.set(v)
	p := New(k.env.Secrets, "", WithSecretID(k.id), WithClock(func() time.Time { return t0 }))
	_, err := p.Retrieve(awstest.Context(t))
	var ee *ExpiredError
	if !errors.Is(err, ErrExpired) || !errors.As(err, &ee) {
		t.Fatalf("err %v: want an *ExpiredError wrapping ErrExpired", err)
	}
	if ee.SecretID != k.id || ee.Target != "app" || ee.MaskedKey != v.MaskedKey() || !ee.Expiration.Equal(v.Expiration) ||
		ee.VersionID == "" || ee.ReportBus != v.Meta.ReportBus || !ee.ReadAt.Equal(t0) {
		t.Fatalf("ExpiredError %+v", *ee)
	}
	if want := "key " + v.MaskedKey() + " expired at " + v.Expiration.Format(time.RFC3339) + " (fix: run stsrotator status, then stsrotator rotate --target app)"; !strings.Contains(err.Error(), want) {
		t.Fatalf("message %q lacks %q", err, want)
	}
}
