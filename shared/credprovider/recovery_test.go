package credprovider

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/events"
	"github.com/stsrotator/stsrotator/shared/metrics"
	"github.com/stsrotator/stsrotator/shared/rotation"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// expiringSTS stands in front of kumo and answers ExpiredToken to any
// request signed with a refused key, as AWS does once a session ends.
type expiringSTS struct {
	// status, code and message are the refusal; zero means ExpiredToken.
	status        int
	code, message string

	mu      sync.Mutex
	refused map[string]bool
	byKey   map[string]int
}

func (x *expiringSTS) server(t *testing.T, upstream string) *httptest.Server {
	u, _ := url.Parse(upstream)
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := signedKey(r.Header.Get("Authorization"))
		x.mu.Lock()
		x.byKey[key]++
		refused := x.refused[key]
		x.mu.Unlock()
		if refused {
			resp := awstest.QueryError(http.StatusForbidden, "ExpiredToken", "The security token included in the request is expired")
			if x.code != "" {
				resp = awstest.QueryError(x.status, x.code, x.message)
			}
			for k, v := range resp.Header {
				w.Header()[k] = v
			}
			w.WriteHeader(resp.StatusCode)
			_, _ = io.Copy(w, resp.Body)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// Issue proof: a call refused with ExpiredToken for the old key is retried
// once with the rotated key and succeeds, the secret is re-read once, and
// exactly one event lands on EventBridge. RequestExpired (EC2's code for
// an expired session, and any query service's for a request signed too
// long ago) is recovered from the same way.
func TestExpiredTokenRecovery(t *testing.T) {
	for _, c := range []struct {
		status        int
		code, message string
	}{
		{http.StatusForbidden, "ExpiredToken", "The security token included in the request is expired"},
		{http.StatusBadRequest, "RequestExpired", "Request has expired."},
	} {
		t.Run(c.code, func(t *testing.T) { testRecovery(t, c.status, c.code, c.message) })
	}
}

// kumoEngine is a rotation engine on kumo with its own clock, and a
// one-hour target name (refreshBefore 20m) assuming role in kumo's account.
func kumoEngine(env *awstest.Env, name, role string) (*rotation.Engine, *awstest.Clock, config.Target) {
	clk := awstest.NewClock(time.Now())
	eng := &rotation.Engine{STS: env.STS, Secrets: env.Secrets, Now: clk.Now, Log: awstest.Logger(nil),
		Emit: metrics.NewWriter(awstest.Logs, clk.Now), Verify: rotation.VerifyCaller}
	tgt := config.Target{Name: name, RoleArn: "arn:aws:iam::000000000000:role/" + role, SessionName: "stsrotator-" + name,
		Duration: time.Hour, RefreshBefore: 20 * time.Minute, SecretName: env.Unique("stsrotator/" + name)}
	return eng, clk, tgt
}

func testRecovery(t *testing.T, status int, code, message string) {
	env := awstest.Start(t)
	ctx := awstest.Context(t)
	// The engine's clock moves past AWS's one-write-per-10-minutes
	// guidance between the two versions; kumo's STS still stamps real
	// expiry times, so the provider (on the wall clock) keeps the first.
	eng, engClock, tgt := kumoEngine(env, "recover", "Recover")
	mint := func() {
		engClock.Add(11 * time.Minute)
		if r := eng.Rotate(ctx, tgt, rotation.Request{Force: true, Why: "test"}); r.Outcome != rotation.Rotated {
			t.Fatalf("rotate: %+v", r)
		}
	}
	mint()
	bus, delivered := observedBus(t, env)

	counter := &versionCounter{base: env.Transport, byV: map[string]int{}}
	smCfg := env.Config.Copy()
	smCfg.HTTPClient = &http.Client{Transport: counter}
	p := New(secretsmanager.NewFromConfig(smCfg), tgt.Name, WithSecretID(tgt.SecretName))
	old, err := p.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The rotator replaces the version; the provider, inside its refresh
	// hint, still holds the old key, which AWS now refuses.
	mint()
	fake := &expiringSTS{status: status, code: code, message: message, refused: map[string]bool{old.AccessKeyID: true}, byKey: map[string]int{}}
	srv := fake.server(t, env.URL)

	rep := &Reporter{API: eventbridge.NewFromConfig(env.Config), Bus: bus, App: "recovery-test", Host: "test-host",
		OnError: func(err error) { t.Errorf("report not published: %v", err) }}
	appCfg := Config(env.Config, p, rep)
	appCfg.BaseEndpoint = aws.String(srv.URL)
	client := sts.NewFromConfig(appCfg)

	for i := range 3 {
		if _, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	rep.Wait()

	cur, _ := p.Retrieve(ctx)
	fake.mu.Lock()
	oldTries, newTries := fake.byKey[old.AccessKeyID], fake.byKey[cur.AccessKeyID]
	fake.mu.Unlock()
	if cur.AccessKeyID == old.AccessKeyID || oldTries != 1 || newTries != 3 {
		t.Fatalf("old key sent %d times (want 1), new key %d times (want 3)", oldTries, newTries)
	}
	counter.mu.Lock()
	reads := len(counter.byV)
	for v, n := range counter.byV {
		if n != 1 {
			t.Errorf("version %s read %d times, want 1", v, n)
		}
	}
	counter.mu.Unlock()
	if reads != 2 {
		t.Fatalf("read %d versions, want 2 (before and after the refusal)", reads)
	}
	got := delivered()
	if len(got) != 1 {
		t.Fatalf("%d events delivered on %s, want exactly 1", len(got), bus)
	}
	d, err := events.ParseExpiredToken([]byte(got[0]))
	if err != nil {
		t.Fatal(err)
	}
	want := events.ExpiredToken{SchemaVersion: events.SchemaVersion, Target: tgt.Name, SecretID: tgt.SecretName, AccessKeyID: secretfmt.Mask(old.AccessKeyID),
		Service: "STS", Operation: "GetCallerIdentity", Region: awstest.Region, ErrorCode: code,
		ErrorMessage: message, ObservedAt: d.ObservedAt,
		Observer: events.Observer{App: "recovery-test", Host: "test-host", Via: "library"}}
	if d != want {
		t.Fatalf("event detail\n got %+v\nwant %+v", d, want)
	}
	awstest.Logs.Write([]byte(got[0]))
}

func TestReporterRateLimit(t *testing.T) {
	env := awstest.Start(t)
	bus, delivered := observedBus(t, env)
	clk := awstest.NewClock(t0)
	r := &Reporter{API: env.EventBridge(), Bus: bus, Now: clk.Now, App: "a", Host: "h",
		OnError: func(err error) { t.Errorf("report not published: %v", err) }}
	report := func(target string) bool {
		return r.Report(context.Background(), events.ExpiredToken{Target: target, ErrorCode: events.CodeExpiredToken})
	}
	cases := []struct {
		why     string
		advance time.Duration
		target  string
		sent    bool
	}{
		{"the first refusal of a target is reported", 0, "a", true},
		{"a second one within the minute is not: the first is enough to rotate", 59 * time.Second, "a", false},
		{"another target has its own limit", 0, "b", true},
		{"after the minute the target is reported again", time.Second, "a", true},
	}
	for _, c := range cases {
		clk.Add(c.advance)
		if got := report(c.target); got != c.sent {
			t.Errorf("%s: Report = %v", c.why, got)
		}
	}
	r.Wait()
	got := delivered()
	if len(got) != 3 {
		t.Fatalf("%d reports delivered on %s, want 3", len(got), bus)
	}
	for _, detail := range got {
		d, err := events.ParseExpiredToken([]byte(detail))
		if err != nil {
			t.Fatal(err)
		}
		if d.Observer != (events.Observer{App: "a", Host: "h", Via: "library"}) || d.ObservedAt.Before(t0) {
			t.Fatalf("report not completed with observer and time: %+v", d)
		}
	}
}

// Errors other than ExpiredToken pass through untouched: no re-read, no
// retry, no report.
func TestOtherErrorsAreNotRecovered(t *testing.T) {
	env := awstest.Start(t)
	ctx := awstest.Context(t)
	// The secret and the bus live on their own Env: the fault below
	// refuses every call on env's transport.
	api := newKumoSecret(t)
	api.set(value(21, time.Now().Add(time.Hour), time.Now().Add(40*time.Minute)))
	p := New(api.env.Secrets, "app", WithSecretID(api.id))
	bus, delivered := observedBus(t, api.env)
	rep := &Reporter{API: api.env.EventBridge(), Bus: bus, OnError: func(err error) { t.Errorf("report not published: %v", err) }}
	env.Transport.Fault = func(op string, _ []byte) *http.Response {
		return awstest.QueryError(http.StatusForbidden, "AccessDenied", "not allowed")
	}
	client := sts.NewFromConfig(Config(env.Config, p, rep))
	_, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	rep.Wait()
	if err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Fatalf("got %v, want AccessDenied", err)
	}
	// PutEvents attempts as well as deliveries: a report that failed to
	// publish must not pass for no report.
	if n, puts := env.Transport.Calls("GetCallerIdentity"), api.env.Transport.Calls("PutEvents"); n != 1 || api.n() != 1 || puts != 0 || len(delivered()) != 0 {
		t.Fatalf("%d calls, %d reads, %d reports (%d delivered); want 1, 1, 0", n, api.n(), puts, len(delivered()))
	}
}

// While the rotator has not replaced a refused key, calls fail fast: one
// re-read and one retry for the first refusal, then none until the retry
// interval passes, and one report.
func TestRefusedKeyNotReplacedYet(t *testing.T) {
	env := awstest.Start(t)
	ctx := awstest.Context(t)
	clk := awstest.NewClock(time.Now())
	// The secret and the bus live on their own Env: the fault below
	// refuses every call on env's transport.
	api := newKumoSecret(t)
	api.set(value(31, clk.Now().Add(time.Hour), clk.Now().Add(40*time.Minute)))
	p := New(api.env.Secrets, "stuck", WithSecretID(api.id), WithClock(clk.Now))
	bus, delivered := observedBus(t, api.env)
	rep := &Reporter{API: api.env.EventBridge(), Bus: bus, Now: clk.Now, OnError: func(err error) { t.Errorf("report not published: %v", err) }}
	env.Transport.Fault = func(op string, _ []byte) *http.Response {
		return awstest.QueryError(http.StatusForbidden, "ExpiredToken", "The security token included in the request is expired")
	}
	client := sts.NewFromConfig(Config(env.Config, p, rep))
	for i := range 3 {
		if _, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err == nil || !strings.Contains(err.Error(), "ExpiredToken") {
			t.Fatalf("call %d: got %v, want the ExpiredToken error", i, err)
		}
	}
	rep.Wait()
	if n, got := env.Transport.Calls("GetCallerIdentity"), delivered(); n != 4 || api.n() != 2 || len(got) != 1 {
		t.Fatalf("%d requests, %d reads, %d reports; want 4 (2 + 1 + 1), 2, 1", n, api.n(), len(got))
	}
}

// observedBus is awstest.Env.ObservedBus with this package's bus name.
func observedBus(t *testing.T, env *awstest.Env) (string, func() []string) {
	return env.ObservedBus(t, "consumers")
}

// Issue proof (revoke): a call the revocation policy denies for the old
// key makes the provider re-read the secret, which already holds the key
// issued after the cutoff, and retry once; no ExpiredToken report is
// published for a denial. A key still denied after the re-read is not
// re-read again on every call: once per retry interval.
func TestRevocationDenialRecovery(t *testing.T) {
	env := awstest.Start(t)
	ctx := awstest.Context(t)
	eng, engClock, tgt := kumoEngine(env, "revoked", "Revoked")
	if r := eng.Rotate(ctx, tgt, rotation.Request{Why: "test"}); r.Outcome != rotation.Rotated {
		t.Fatalf("mint: %+v", r)
	}
	bus, delivered := observedBus(t, env)
	counter := &versionCounter{base: env.Transport, byV: map[string]int{}}
	smCfg := env.Config.Copy()
	smCfg.HTTPClient = &http.Client{Transport: counter}
	clk := awstest.NewClock(time.Now())
	p := New(secretsmanager.NewFromConfig(smCfg), tgt.Name, WithSecretID(tgt.SecretName), WithClock(clk.Now))
	old, err := p.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const denied = "User: arn:aws:sts::000000000000:assumed-role/Revoked/stsrotator-revoked is not authorized to perform: sts:GetCallerIdentity with an explicit deny in an identity-based policy"
	fake := &expiringSTS{status: http.StatusForbidden, code: "AccessDenied", message: denied, refused: map[string]bool{old.AccessKeyID: true}, byKey: map[string]int{}}
	srv := fake.server(t, env.URL)
	rep := &Reporter{API: eventbridge.NewFromConfig(env.Config), Bus: bus, App: "revoke-test", Host: "test-host"}
	appCfg := Config(env.Config, p, rep)
	appCfg.BaseEndpoint = aws.String(srv.URL)
	client := sts.NewFromConfig(appCfg)

	// Before the rotation lands the re-read brings back the same, denied
	// key: the call fails, and the next one does not re-read again.
	for range 3 {
		if _, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err == nil || !strings.Contains(err.Error(), "explicit deny") {
			t.Fatalf("a denied key must fail the call: %v", err)
		}
	}
	counter.mu.Lock()
	reads := counter.byV
	counter.mu.Unlock()
	for v, n := range reads {
		if n != 2 {
			t.Fatalf("version %s read %d times during the denial, want 2 (first read, one re-read)", v, n)
		}
	}
	// revoke's forced rotation replaces the key; after the retry interval
	// the next denied call re-reads, gets it and succeeds.
	engClock.Add(11 * time.Minute)
	if r := eng.Rotate(ctx, tgt, rotation.Request{Force: true, RevokedBefore: engClock.Now()}); r.Outcome != rotation.Rotated {
		t.Fatalf("revoke's rotation: %+v", r)
	}
	clk.Add(DefaultRetryAfter)
	if _, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("after the rotation the denied call must be retried with the new key: %v", err)
	}
	cur, _ := p.Retrieve(ctx)
	if cur.AccessKeyID == old.AccessKeyID {
		t.Fatal("the provider still serves the revoked key")
	}
	rep.Wait()
	if got := delivered(); len(got) != 0 {
		t.Fatalf("a denial published %d ExpiredToken reports, want none", len(got))
	}
}
