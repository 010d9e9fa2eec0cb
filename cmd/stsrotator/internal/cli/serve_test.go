package cli

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/stsrotator/stsrotator/internal/awstest"
)

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
			e := &endpoint{src: c.src, token: "tok", log: func(f string, a ...any) { logs = append(logs, f) }}
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
	e := &endpoint{src: staticSource{}, token: "tok", log: func(string, ...any) {}}
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
