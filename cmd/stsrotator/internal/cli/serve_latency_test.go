package cli

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// slowSecrets is a proxy in front of the emulator that delays every
// GetSecretValue by delay, and after that until the test opens hold.
type slowSecrets struct {
	base  http.RoundTripper
	delay time.Duration
	// hold, when set, is a gate the read waits on after the delay.
	hold     atomic.Pointer[chan struct{}]
	inflight atomic.Int32
	// most is the most reads ever in flight at once.
	most atomic.Int32
}

func (s *slowSecrets) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("X-Amz-Target") == "secretsmanager.GetSecretValue" {
		if n := s.inflight.Add(1); n > s.most.Load() {
			s.most.Store(n)
		}
		defer s.inflight.Add(-1)
		t := time.NewTimer(s.delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return nil, r.Context().Err()
		}
		if g := s.hold.Load(); g != nil {
			<-*g
		}
	}
	return s.base.RoundTrip(r)
}

// putVersion writes v (for target) as the secret's new AWSCURRENT
// version, as a rotation does.
func putVersion(t *testing.T, env *awstest.Env, name, target string, v secretfmt.Value) {
	t.Helper()
	v.Meta.Target = target
	body, err := secretfmt.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	awstest.Remember(body)
	if _, err := env.Secrets.PutSecretValue(awstest.Context(t), &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(string(body))}); err != nil {
		t.Fatal(err)
	}
}

// simClock is a kumo and a clock that starts now and moves only when the
// test stores a new offset in sim.
func simClock(t *testing.T) (*awstest.Env, time.Time, *atomic.Int64, func() time.Time) {
	start := time.Now().UTC().Truncate(time.Second)
	sim := &atomic.Int64{}
	return awstest.Start(t), start, sim, func() time.Time { return start.Add(time.Duration(sim.Load())) }
}

// latencies summarises request times.
type latencies []time.Duration

func (l latencies) pct(p int) time.Duration {
	s := slices.Clone(l)
	slices.Sort(s)
	return s[(len(s)-1)*p/100]
}

// serveTCP serves src over real TCP on loopback and returns the
// credentials URL.
func serveTCP(t *testing.T, src credentialsSource, logf func(string, ...any)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(&endpoint{src: src, token: "tok", host: ln.Addr().String(), log: logf}, ServeLimits{}, logf)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String() + CredentialsPath
}

// getKey asks url for credentials and returns the key and how long the
// answer took.
func getKey(t *testing.T, url string) (string, time.Duration) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "tok")
	began := time.Now()
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	took := time.Since(began)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	key, _, _ := strings.Cut(strings.TrimPrefix(string(b), `{"AccessKeyId":"`), `"`)
	return key, took
}

// Issue 20: serve re-read the secret inside the client's request once its
// copy was 30 s old, so with Secrets Manager answering in 3 s every such
// request took 3 s, past the 1 s container clients allow (JS v3
// fromContainerMetadata timed out at 1,009 ms). Over two minutes on the
// injected clock, one request a second, with every GetSecretValue delayed
// 3 s by a proxy: every request is answered from the valid cache in under
// 100 ms, JS v3 fromContainerMetadata succeeds while a re-read is pending,
// and the re-read's new key is served once it lands. The same run measures
// the old way (the request waits for the re-read) as the baseline; the
// p50/p99 it prints are in docs/benchmarks.md.
func TestServeAnswersFromCacheWhileSecretsManagerIsSlow(t *testing.T) {
	env, start, sim, clock := simClock(t)
	tg := target(env, "slow-secrets")
	first := value(41, start.Add(time.Hour), start.Add(40*time.Minute))
	putValue(t, env, tg.SecretName, tg.Name, first)
	proxy := &slowSecrets{base: env.Transport, delay: 3 * time.Second}
	cfg := env.Config.Copy()
	cfg.HTTPClient = &http.Client{Transport: proxy}
	a, _, errb := testApp(env, clock, nil)
	r := ref{Target: tg.Name, SecretID: tg.SecretName}

	// run serves for two simulated minutes and returns every latency.
	run := func(src credentialsSource, each func(i int, key string)) latencies {
		url := serveTCP(t, src, a.logf)
		var l latencies
		for i := 1; i <= 120; i++ {
			sim.Store(int64(time.Duration(i) * time.Second))
			key, took := getKey(t, url)
			l = append(l, took)
			if each != nil {
				each(i, key)
			}
		}
		return l
	}

	sim.Store(0)
	base := run(a.servedProvider(cfg, r), nil)

	c := a.servedCache(cfg, r)
	url := serveTCP(t, c, a.logf)
	sim.Store(0)
	if key, took := getKey(t, url); key != first.AccessKeyID || took < proxy.delay {
		t.Fatalf("the first request got %s in %s: with nothing cached it waits for the read", secretfmt.Mask(key), took)
	}
	second := value(42, start.Add(90*time.Minute), start.Add(70*time.Minute))
	putVersion(t, env, tg.SecretName, tg.Name, second)
	got := run(c, func(i int, key string) {
		if key != first.AccessKeyID && key != second.AccessKeyID {
			t.Fatalf("second %d: served key %s", i, secretfmt.Mask(key))
		}
		if i != 31 {
			return
		}
		// The cached copy is past its 30 s max age: a re-read is under
		// way, held for as long as JavaScript takes.
		gate := make(chan struct{})
		proxy.hold.Store(&gate)
		defer close(gate)
		var js jsCreds
		if !node(t, []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), EnvContainerFullURI + "=" + url, EnvContainerToken + "=tok"}, &js, "container") {
			t.Fatalf("fromContainerMetadata failed while a re-read was pending: %+v", js)
		}
		if js.AccessKeyID != first.AccessKeyID {
			t.Fatalf("fromContainerMetadata got %s, want the cached %s", secretfmt.Mask(js.AccessKeyID), first.MaskedKey())
		}
		if proxy.inflight.Load() == 0 {
			t.Fatal("no re-read was pending while JavaScript asked: the test proves nothing")
		}
	})
	c.wait()
	if key, took := getKey(t, url); key != second.AccessKeyID || took > 100*time.Millisecond {
		t.Fatalf("after the background re-read: key %s in %s, want the new key %s at once", secretfmt.Mask(key), took, second.MaskedKey())
	}
	for i, d := range got {
		if d >= 100*time.Millisecond {
			t.Errorf("simulated second %d: answered in %s, want under 100ms from the valid cache", i+1, d)
		}
	}
	if n := proxy.most.Load(); n != 1 {
		t.Errorf("%d GetSecretValue calls were in flight at once, want one (single flight)", n)
	}
	if base.pct(100) < proxy.delay {
		t.Fatalf("the baseline never waited for the slow read (max %s): the proxy is not in the path", base.pct(100))
	}
	t.Logf("serve, GetSecretValue delayed %s, 120 requests over 2 simulated minutes: p50 %s p99 %s max %s; baseline (request waits for the re-read) p50 %s p99 %s max %s; p99 ratio baseline/serve %.0fx",
		proxy.delay, got.pct(50), got.pct(99), got.pct(100), base.pct(50), base.pct(99), base.pct(100), float64(base.pct(99))/float64(got.pct(99)))
	noSecrets(t, "serve stderr", errb.String())
}

// A request waits for the re-read only when the cache cannot serve: the
// cached key is inside its last serveMinValidity (the re-read may bring
// the key the client needs next). The answer is then the new key.
func TestServeWaitsOnlyWhenTheCacheCannotServe(t *testing.T) {
	env, start, sim, clock := simClock(t)
	tg := target(env, "near-expiry")
	old := value(43, start.Add(time.Hour), start.Add(40*time.Minute))
	putValue(t, env, tg.SecretName, tg.Name, old)
	a, _, _ := testApp(env, clock, nil)
	c := a.servedCache(env.Config, ref{Target: tg.Name, SecretID: tg.SecretName})
	ctx := awstest.Context(t)
	if got, err := c.Retrieve(ctx); err != nil || got.AccessKeyID != old.AccessKeyID {
		t.Fatalf("first read: %v", err)
	}
	c.wait()
	next := value(44, start.Add(2*time.Hour), start.Add(100*time.Minute))
	putVersion(t, env, tg.SecretName, tg.Name, next)
	sim.Store(int64(time.Hour - serveMinValidity + time.Second))
	if got, err := c.Retrieve(ctx); err != nil || got.AccessKeyID != next.AccessKeyID {
		t.Fatalf("inside the last %s the request got %s (%v), want the re-read's %s", serveMinValidity, secretfmt.Mask(got.AccessKeyID), err, next.MaskedKey())
	}
}

// blockedSource never answers before its caller gives up.
type blockedSource struct{}

func (blockedSource) Retrieve(ctx context.Context) (aws.Credentials, error) {
	<-ctx.Done()
	return aws.Credentials{}, ctx.Err()
}

// A client that hangs up while serve waits for the secret is logged as
// having given up, not as a 503 outage, and not reported as an expiry.
func TestServeLogsAClientThatGaveUp(t *testing.T) {
	var logs []string
	reported := 0
	e := &endpoint{src: blockedSource{}, token: "tok", host: reqHost, log: func(f string, a ...any) { logs = append(logs, sprintf(f, a...)) },
		onError: func(context.Context, error) { reported++ }}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	req := httptest.NewRequest(http.MethodGet, CredentialsPath, nil).WithContext(ctx)
	req.RemoteAddr = "127.0.0.1:5000"
	req.Header.Set("Authorization", "tok")
	e.ServeHTTP(httptest.NewRecorder(), req)
	if len(logs) != 1 || !strings.Contains(logs[0], "client gave up after") || strings.Contains(logs[0], "503") || reported != 0 {
		t.Fatalf("logs %q, %d reports: want one line saying the client gave up, no 503, no report", logs, reported)
	}
}
