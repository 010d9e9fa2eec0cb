package cli

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/internal/mototest"
	"github.com/stsrotator/stsrotator/shared/events"
)

// reqHost is the Host httptest.NewRequest puts in a request: the
// address the endpoints under test take as their own.
const reqHost = "example.com"

type staticSource struct {
	creds aws.Credentials
	err   error
}

func (s staticSource) Retrieve(context.Context) (aws.Credentials, error) { return s.creds, s.err }

// The endpoint serves only the holder of the token, on loopback, at one
// path.
func TestEndpoint(t *testing.T) {
	exp := time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC)
	ok := staticSource{creds: aws.Credentials{AccessKeyID: "ASIASERVETESTKEY0001", SecretAccessKey: "serveSecretValue0001", SessionToken: "serveTokenValue0001", Expires: exp, CanExpire: true}}
	cases := []struct {
		why    string
		src    staticSource
		remote string
		path   string
		token  string
		status int
		body   string
	}{
		{"the token holder gets the ECS-format credentials", ok, "127.0.0.1:5000", "/credentials", "tok", 200, `"Token":"serveTokenValue0001","Expiration":"2026-11-25T20:00:00Z"`},
		{"IPv6 loopback is loopback", ok, "[::1]:5000", "/credentials", "tok", 200, `"AccessKeyId":"ASIASERVETESTKEY0001"`},
		{"no token is refused", ok, "127.0.0.1:5000", "/credentials", "", 401, "missing or wrong Authorization token"},
		{"a wrong token is refused", ok, "127.0.0.1:5000", "/credentials", "tok2", 401, "missing or wrong Authorization token"},
		{"a non-loopback client is refused even with the token", ok, "10.1.2.3:5000", "/credentials", "tok", 403, "only loopback"},
		{"another path is not found", ok, "127.0.0.1:5000", "/", "tok", 404, "served at /credentials"},
		{"a failed read is a 503 with the reason, no credentials", staticSource{err: errors.New("read secret x: expired")}, "127.0.0.1:5000", "/credentials", "tok", 503, "read secret x: expired"},
	}
	for _, c := range cases {
		t.Run(c.why, func(t *testing.T) {
			var logs []string
			e := &endpoint{src: c.src, token: "tok", host: reqHost, log: func(f string, a ...any) { logs = append(logs, f) }}
			req := httptest.NewRequest(http.MethodGet, c.path, nil)
			req.RemoteAddr = c.remote
			if c.token != "" {
				req.Header.Set("Authorization", c.token)
			}
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			if rec.Code != c.status || !strings.Contains(rec.Body.String(), c.body) {
				t.Fatalf("status %d body %s; want %d containing %s", rec.Code, rec.Body, c.status, c.body)
			}
			if c.status != 200 {
				// JavaScript v3 reads Code/Message, other SDKs code/message.
				var e struct {
					Code      string `json:"Code"`
					Message   string `json:"Message"`
					LowerCode string `json:"code"`
					LowerMsg  string `json:"message"`
				}
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code == "" || e.Code != e.LowerCode || e.Message == "" || e.Message != e.LowerMsg || strings.Contains(rec.Body.String(), "serveSecret") {
					t.Fatalf("error body %s: want Code/Message and code/message, equal, without secrets", rec.Body)
				}
				if rec.Header().Get("Connection") != "close" {
					t.Fatalf("a refusal keeps the connection open")
				}
			}
			if len(logs) != 1 {
				t.Fatalf("want one log line per request, got %d", len(logs))
			}
		})
	}
}

// RFC 9110 §15.5.6: a 405 response carries Allow, listing what the
// resource accepts.
func TestEndpointMethodNotAllowed(t *testing.T) {
	e := &endpoint{src: staticSource{}, token: "tok", host: reqHost, log: func(string, ...any) {}}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodHead} {
		req := httptest.NewRequest(m, CredentialsPath, nil)
		req.RemoteAddr = "127.0.0.1:5000"
		req.Header.Set("Authorization", "tok")
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET" {
			t.Errorf("%s: status %d, Allow %q; want 405 with Allow: GET", m, rec.Code, rec.Header().Get("Allow"))
		}
	}
}

// A secret edited into garbage while serve runs: serve keeps handing out
// the cached key until it expires and says on stderr, at each failed
// re-read, which secret is broken and how.
func TestServeSaysWhenTheSecretBreaks(t *testing.T) {
	env := awstest.Start(t)
	now := time.Now().UTC().Truncate(time.Second)
	clock := now
	tg := target(env, "served")
	putValue(t, env, tg.SecretName, tg.Name, value(31, now.Add(time.Hour), now.Add(40*time.Minute)))
	a, _, errb := testApp(env, func() time.Time { return clock }, nil)
	p := a.servedProvider(env.Config, ref{Target: tg.Name, SecretID: tg.SecretName})
	ctx := awstest.Context(t)
	held, err := p.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Secrets.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(tg.SecretName), SecretString: aws.String("edited by hand")}); err != nil {
		t.Fatal(err)
	}
	clock = now.Add(45 * time.Minute) // past the refresh hint
	got, err := p.Retrieve(ctx)
	if err != nil || got.AccessKeyID != held.AccessKeyID {
		t.Fatalf("serve must keep the unexpired key: %v", err)
	}
	line := errb.String()
	_, _ = awstest.Logs.Write([]byte(line))
	for _, want := range []string{"stsrotator serve: cannot re-read the secret, still serving key ASIA…0031 until " + now.Add(time.Hour).Format(time.RFC3339), tg.SecretName, "not JSON"} {
		if !strings.Contains(line, want) {
			t.Errorf("stderr lacks %q:\n%s", want, line)
		}
	}
	if strings.Count(line, "\n") != 1 {
		t.Errorf("want one line per failed re-read:\n%s", line)
	}
}

// serveRequests sends n credential requests to e and returns the statuses.
func serveRequests(e *endpoint, n int) []int {
	var codes []int
	for range n {
		req := httptest.NewRequest(http.MethodGet, CredentialsPath, nil)
		req.RemoteAddr = "127.0.0.1:5000"
		req.Header.Set("Authorization", "tok")
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		codes = append(codes, rec.Code)
	}
	return codes
}

// Issue 12 proof for serve: when the secret, re-read, holds only expired
// credentials, serve answers 503 and publishes one report to the bus the
// secret's reportBus names; repeated requests make no more until
// ServeReportEvery has passed. kumo delivers a PutEvents addressed by bus
// ARN nowhere (docs/local.md), so the bus is named by name here; the ARN
// the stack writes is routed on moto in TestServeReportReachesTheSecretsBusARN.
func TestServeReportsAnExpiredSecretOnce(t *testing.T) {
	env := awstest.Start(t)
	bus, delivered := observedBus(t, env)
	now := time.Now().UTC().Truncate(time.Second)
	clock := now
	tg := target(env, "served-expired")
	v := value(33, now.Add(-time.Minute), now.Add(-20*time.Minute))
	v.Meta.ReportBus = bus
	putValue(t, env, tg.SecretName, tg.Name, v)
	a, _, errb := testApp(env, func() time.Time { return clock }, nil)
	rep := a.serveReporter(env.Config)
	e := &endpoint{src: a.servedProvider(env.Config, ref{Target: tg.Name, SecretID: tg.SecretName}), token: "tok", host: reqHost, log: a.logf, onError: rep.observe}

	if codes := serveRequests(e, 5); !slices.Equal(codes, []int{503, 503, 503, 503, 503}) {
		t.Fatalf("statuses %v, want five 503s", codes)
	}
	rep.wait()
	got := delivered()
	if len(got) != 1 {
		t.Fatalf("%d reports on the secret's bus after 5 refused requests, want 1", len(got))
	}
	d, err := events.ParseExpiredToken([]byte(got[0]))
	if err != nil {
		t.Fatal(err)
	}
	if d.Observer.Via != events.ViaServe || d.Target != tg.Name || d.SecretID != tg.SecretName || d.AccessKeyID != v.MaskedKey() ||
		d.ErrorCode != events.CodeExpiredToken || !d.ObservedAt.Equal(now) || d.Observer.Host != "test-host" {
		t.Fatalf("report %+v", d)
	}
	if want := "holds only key " + v.MaskedKey(); !strings.Contains(d.ErrorMessage, "HTTP 503") || !strings.Contains(d.ErrorMessage, want) {
		t.Fatalf("errorMessage %q does not say what serve saw", d.ErrorMessage)
	}

	// Still expired a rate-limit period later: reported again, once.
	clock = now.Add(ServeReportEvery + time.Second)
	serveRequests(e, 3)
	rep.wait()
	if n := len(delivered()); n != 2 {
		t.Fatalf("%d reports after %s more, want 2", n, ServeReportEvery)
	}
	logs := errb.String()
	_, _ = awstest.Logs.Write([]byte(logs))
	if strings.Contains(logs, v.AccessKeyID) || strings.Count(logs, "reported expired key "+v.MaskedKey()) != 2 {
		t.Fatalf("serve's log must say each report, with the key masked:\n%s", logs)
	}
}

// A report that cannot be published is logged, masked, and serving goes
// on: the client still gets its 503 with the reason.
func TestServeReportFailureDoesNotBreakServing(t *testing.T) {
	env := awstest.Start(t)
	const wholeKey = "ASIAQWERTYUIOPASDF12"
	env.Transport.Fault = func(op string, _ []byte) *http.Response {
		if op != "PutEvents" {
			return nil
		}
		return awstest.JSONError(http.StatusBadRequest, "ResourceNotFoundException", "Event bus stsrotator-gone does not exist (caller "+wholeKey+").")
	}
	now := time.Now().UTC().Truncate(time.Second)
	tg := target(env, "served-unreportable")
	v := value(34, now.Add(-time.Minute), now.Add(-20*time.Minute))
	v.Meta.ReportBus = "arn:aws:events:" + awstest.Region + ":000000000000:event-bus/stsrotator-gone"
	putValue(t, env, tg.SecretName, tg.Name, v)
	a, _, errb := testApp(env, func() time.Time { return now }, nil)
	rep := a.serveReporter(env.Config)
	e := &endpoint{src: a.servedProvider(env.Config, ref{Target: tg.Name, SecretID: tg.SecretName}), token: "tok", host: reqHost, log: a.logf, onError: rep.observe}
	if codes := serveRequests(e, 2); !slices.Equal(codes, []int{503, 503}) {
		t.Fatalf("statuses %v, want 503s", codes)
	}
	rep.wait()
	logs := errb.String()
	_, _ = awstest.Logs.Write([]byte(logs))
	if strings.Contains(logs, wholeKey) || strings.Contains(logs, v.AccessKeyID) {
		t.Fatalf("a whole key reached serve's log:\n%s", logs)
	}
	if strings.Count(logs, "could not report expired key "+v.MaskedKey()) != 1 || !strings.Contains(logs, "ASIA…DF12") {
		t.Fatalf("want one masked line about the failed report:\n%s", logs)
	}
}

// The secret's reportBus as the stack writes it, an ARN in the stsrotator
// account, reached by serve running in a reader account (moto routes
// cross-account PutEvents by ARN).
func TestServeReportReachesTheSecretsBusARN(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	rs := newReaderSecret(t, mototest.Start(t), value(35, now.Add(-time.Minute), now.Add(-20*time.Minute)))
	reader, delivered, ownBus := rs.reader, rs.delivered, rs.ownBus
	a, _, errb := testApp(nil, func() time.Time { return now }, nil)
	rep := a.serveReporter(reader)
	e := &endpoint{src: a.servedProvider(reader, ref{SecretID: rs.arn}), token: "tok", host: reqHost, log: a.logf, onError: rep.observe}
	serveRequests(e, 3)
	rep.wait()
	_, _ = awstest.Logs.Write([]byte(errb.String()))
	got := delivered()
	if len(got) != 1 || len(ownBus()) != 0 {
		t.Fatalf("%d reports on the stsrotator account's bus, %d on the reader's own; want 1 and 0\n%s", len(got), len(ownBus()), errb)
	}
	if d, err := events.ParseExpiredToken([]byte(got[0])); err != nil || d.Target != "audit-reader" || d.Observer.Via != events.ViaServe {
		t.Fatalf("report %+v: %v", d, err)
	}
}

// A client refused by a serve that keeps its token in a file is told to
// set the file variable (with the file), not the token variable it may
// never have seen; without a file, the token variable.
func TestEndpointNamesTheTokenItUses(t *testing.T) {
	for _, c := range []struct{ why, hint, want, not string }{
		{"a token file in use names AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE and the file", EnvContainerTokenFile + "=/home/me/.serve.token",
			"set AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=/home/me/.serve.token, the file serve keeps its token in", "AWS_CONTAINER_AUTHORIZATION_TOKEN to"},
		{"no token file names AWS_CONTAINER_AUTHORIZATION_TOKEN", "", "set AWS_CONTAINER_AUTHORIZATION_TOKEN to the token serve printed", "_FILE"},
	} {
		e := &endpoint{src: staticSource{}, token: "tok", host: reqHost, tokenHint: c.hint, log: func(string, ...any) {}}
		req := httptest.NewRequest(http.MethodGet, CredentialsPath, nil)
		req.RemoteAddr = "127.0.0.1:5000"
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code != 401 || !strings.Contains(rec.Body.String(), c.want) || strings.Contains(rec.Body.String(), c.not) {
			t.Errorf("%s: %d %s", c.why, rec.Code, rec.Body)
		}
	}
}

// serve --token-file without --port warns that a restart would move the
// URL clients hold, before anything else can fail; with --port it does
// not.
func TestServeTokenFileWantsFixedPort(t *testing.T) {
	env := awstest.Start(t)
	for _, c := range []struct {
		why  string
		args []string
		warn bool
	}{
		{"--token-file without --port warns", []string{"--token-file", "/tmp/x.token"}, true},
		{"--token-file with --port does not", []string{"--token-file", "/tmp/x.token", "--port", "9911"}, false},
		{"no token file, no port does not", nil, false},
	} {
		a, out, errb := testApp(env, time.Now, nil)
		r := execute(t, a, out, errb, append([]string{"serve", "--secret-id", "stsrotator/none-such"}, c.args...)...)
		if got := strings.Contains(r.stderr, "without --port each start listens on a new port"); got != c.warn || r.code == ExitOK {
			t.Errorf("%s: warned %v (exit %d): %s", c.why, got, r.code, r.stderr)
		}
	}
}
