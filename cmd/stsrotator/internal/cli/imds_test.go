package cli

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// imdsReq is one request to an imdsEndpoint under test.
type imdsReq struct {
	method, path string
	header       map[string]string
	remote, host string
}

func (e *imdsEndpoint) do(q imdsReq) *httptest.ResponseRecorder {
	req := httptest.NewRequest(q.method, q.path, nil)
	req.RemoteAddr = "127.0.0.1:5000"
	if q.remote != "" {
		req.RemoteAddr = q.remote
	}
	if q.host != "" {
		req.Host = q.host
	}
	for k, v := range q.header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

func testIMDS(clock func() time.Time, v1 bool) *imdsEndpoint {
	src := staticSource{creds: aws.Credentials{AccessKeyID: "ASIAIMDSTESTKEY00001", SecretAccessKey: "imdsSecretValue0001", SessionToken: "imdsTokenValue0001",
		Expires: time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC), CanExpire: true}}
	return &imdsEndpoint{src: src, role: "BillingReader", host: reqHost, v1: v1, now: clock, log: func(string, ...any) {}, owner: ownUID}
}

// ownUID says every socket is this user's (the requests of the table
// tests have no real socket behind them).
func ownUID(string, string) (int, error) { return os.Getuid(), nil }

// The IMDSv2 exchange as EC2 answers it (instancedata-data-retrieval,
// instance-metadata-security-credentials): a session token by PUT with a
// TTL of 1-21600 s, echoed; the role name without a newline; the role's
// credentials with Code, LastUpdated, Type AWS-HMAC and Expiration to the
// second; 401 without a valid token; X-Forwarded-For refused as the IAM
// Roles Anywhere credential helper refuses it (400).
func TestIMDS(t *testing.T) {
	now := time.Date(2026, 11, 25, 19, 0, 0, 0, time.UTC)
	var sim atomic.Int64
	clock := func() time.Time { return now.Add(time.Duration(sim.Load())) }
	e := testIMDS(clock, false)
	ttl := func(s string) map[string]string { return map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": s} }
	put := e.do(imdsReq{method: "PUT", path: "/latest/api/token", header: ttl("21600")})
	tok := put.Body.String()
	if put.Code != 200 || put.Header().Get("X-aws-ec2-metadata-token-ttl-seconds") != "21600" || len(tok) < 32 {
		t.Fatalf("PUT token: %d %q ttl %q", put.Code, tok, put.Header().Get("X-aws-ec2-metadata-token-ttl-seconds"))
	}
	short := e.do(imdsReq{method: "PUT", path: "/latest/api/token/", header: ttl("1")}).Body.String()
	withTok := func(t string) map[string]string { return map[string]string{"X-aws-ec2-metadata-token": t} }
	const credsPath = "/latest/meta-data/iam/security-credentials/"
	cases := []struct {
		why    string
		req    imdsReq
		status int
		body   string
	}{
		{"the smallest TTL, 1 s, is accepted", imdsReq{method: "PUT", path: "/latest/api/token", header: ttl("1")}, 200, ""},
		{"a TTL of 0 is refused", imdsReq{method: "PUT", path: "/latest/api/token", header: ttl("0")}, 400, "from 1 to 21600"},
		{"a TTL over 6 hours is refused", imdsReq{method: "PUT", path: "/latest/api/token", header: ttl("21601")}, 400, "from 1 to 21600"},
		{"a TTL that is not a number is refused", imdsReq{method: "PUT", path: "/latest/api/token", header: ttl("6h")}, 400, "from 1 to 21600"},
		{"no TTL is refused, as on EC2", imdsReq{method: "PUT", path: "/latest/api/token"}, 400, "from 1 to 21600"},
		{"GET on the token path is not allowed", imdsReq{method: "GET", path: "/latest/api/token", header: ttl("60")}, 405, "use PUT"},
		{"a token request through a proxy is refused", imdsReq{method: "PUT", path: "/latest/api/token", header: map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "60", "X-Forwarded-For": "10.0.0.1"}}, 400, "X-Forwarded-For"},
		{"a credentials request through a proxy is refused too", imdsReq{method: "GET", path: credsPath + "BillingReader", header: map[string]string{"X-aws-ec2-metadata-token": tok, "X-Forwarded-For": "10.0.0.1"}}, 400, "X-Forwarded-For"},
		{"the role name, no trailing newline", imdsReq{method: "GET", path: credsPath, header: withTok(tok)}, 200, "BillingReader"},
		{"the role name without the trailing slash", imdsReq{method: "GET", path: strings.TrimSuffix(credsPath, "/"), header: withTok(tok)}, 200, "BillingReader"},
		{"the role's credentials", imdsReq{method: "GET", path: credsPath + "BillingReader", header: withTok(tok)}, 200,
			`{"Code":"Success","LastUpdated":"2026-11-25T19:00:00Z","Type":"AWS-HMAC","AccessKeyId":"ASIAIMDSTESTKEY00001","SecretAccessKey":"imdsSecretValue0001","Token":"imdsTokenValue0001","Expiration":"2026-11-25T20:00:00Z"}`},
		{"another role is not found", imdsReq{method: "GET", path: credsPath + "Admin", header: withTok(tok)}, 404, "BillingReader"},
		{"no token (IMDSv1) is refused", imdsReq{method: "GET", path: credsPath + "BillingReader"}, 401, "IMDSv1 is off"},
		{"a wrong token is refused", imdsReq{method: "GET", path: credsPath + "BillingReader", header: withTok(strings.Repeat("x", 64))}, 401, "invalid"},
		{"POST is not allowed", imdsReq{method: "POST", path: credsPath + "BillingReader", header: withTok(tok)}, 405, "use GET"},
		{"a foreign Host is refused even with a token", imdsReq{method: "GET", path: credsPath + "BillingReader", header: withTok(tok), host: "evil.example"}, 403, "evil.example"},
		{"a non-loopback client is refused", imdsReq{method: "PUT", path: "/latest/api/token", header: ttl("60"), remote: "10.1.2.3:5000"}, 403, "loopback"},
		{"other metadata is not served", imdsReq{method: "GET", path: "/latest/meta-data/instance-id", header: withTok(tok)}, 404, "only"},
	}
	for _, c := range cases {
		rec := e.do(c.req)
		if rec.Code != c.status || (c.status == 200 && c.body != "" && strings.TrimSpace(rec.Body.String()) != c.body) || (c.status != 200 && !strings.Contains(rec.Body.String(), c.body)) {
			t.Errorf("%s: %d %q; want %d %q", c.why, rec.Code, rec.Body, c.status, c.body)
		}
		if c.status == 200 && c.req.method == "GET" && rec.Header().Get("X-aws-ec2-metadata-token-ttl-seconds") != "21600" {
			t.Errorf("%s: the remaining TTL is not echoed: %q", c.why, rec.Header().Get("X-aws-ec2-metadata-token-ttl-seconds"))
		}
		if c.status != 200 && (rec.Header().Get("Connection") != "close" || strings.Contains(rec.Body.String(), "imdsSecret")) {
			t.Errorf("%s: a refusal keeps the connection or carries a secret", c.why)
		}
	}
	if b := e.do(imdsReq{method: "GET", path: credsPath, header: withTok(tok)}).Body.String(); b != "BillingReader" {
		t.Errorf("role list %q: want the name alone, no newline", b)
	}
	sim.Store(int64(2 * time.Second))
	if rec := e.do(imdsReq{method: "GET", path: credsPath, header: withTok(short)}); rec.Code != 401 {
		t.Errorf("a token past its 1 s TTL got %d, want 401", rec.Code)
	}
	if rec := e.do(imdsReq{method: "GET", path: credsPath, header: withTok(tok)}); rec.Code != 200 || rec.Header().Get("X-aws-ec2-metadata-token-ttl-seconds") != "21598" {
		t.Errorf("a live token 2 s later: %d, ttl %q; want 200 with 21598 left", rec.Code, rec.Header().Get("X-aws-ec2-metadata-token-ttl-seconds"))
	}
	for range 2 * imdsMaxTokens {
		e.do(imdsReq{method: "PUT", path: "/latest/api/token", header: ttl("60")})
	}
	if n := len(e.tokens); n > imdsMaxTokens {
		t.Errorf("%d session tokens held after a loop of PUTs, want at most %d", n, imdsMaxTokens)
	}

	v1 := testIMDS(clock, true)
	if rec := v1.do(imdsReq{method: "GET", path: credsPath + "BillingReader"}); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"Code":"Success"`) {
		t.Errorf("--imds-v1: a GET without a token got %d", rec.Code)
	}
	if rec := v1.do(imdsReq{method: "GET", path: credsPath + "BillingReader", header: withTok("forged")}); rec.Code != 401 {
		t.Errorf("--imds-v1: a wrong token still gets 401, got %d", rec.Code)
	}
}

// roleName is what IMDS lists for a role ARN.
func TestIMDSRoleName(t *testing.T) {
	for _, c := range []struct{ arn, fallback, want string }{
		{"arn:aws:iam::123456789012:role/BillingReader", "billing", "BillingReader"},
		{"arn:aws:iam::123456789012:role/team/path/Reader", "", "Reader"},
		{"", "billing", "billing"},
		{"", "", "stsrotator"},
	} {
		if got := roleName(c.arn, c.fallback); got != c.want {
			t.Errorf("roleName(%q, %q) = %q, want %q", c.arn, c.fallback, got, c.want)
		}
	}
}

// FuzzIMDSRequest: whatever a local client sends, the endpoint does not
// panic, and credentials leave only for a GET of the role's path with a
// valid session token, from loopback, to serve's Host, without
// X-Forwarded-For.
func FuzzIMDSRequest(f *testing.F) {
	f.Add("PUT", "/latest/api/token", "21600", "", "", false)
	f.Add("GET", "/latest/meta-data/iam/security-credentials/BillingReader", "", "valid", "", false)
	f.Add("GET", "/latest/meta-data/iam/security-credentials/BillingReader/", "", "valid", "1.2.3.4", false)
	f.Add("GET", "/latest/meta-data/iam/security-credentials/../BillingReader", "", "", "", true)
	f.Add("GET", "//latest/meta-data/iam/security-credentials/BillingReader", "-1", "x\x00", "", true)
	now := time.Date(2026, 11, 25, 19, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, method, path, ttl, token, xff string, v1 bool) {
		if !validMethod.MatchString(method) || !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \r\n\t#?") {
			return // not a request net/http would hand a handler
		}
		e := testIMDS(func() time.Time { return now }, v1)
		valid := e.do(imdsReq{method: "PUT", path: imdsTokenPath, header: map[string]string{imdsTTLHeader: "60"}}).Body.String()
		h := map[string]string{}
		if ttl != "" {
			h[imdsTTLHeader] = ttl
		}
		switch token {
		case "valid":
			h[imdsTokenHeader] = valid
		case "":
		default:
			h[imdsTokenHeader] = token
		}
		if xff != "" {
			h["X-Forwarded-For"] = xff
		}
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Method, req.URL.Path, req.RemoteAddr = method, path, "127.0.0.1:5000"
		for k, v := range h {
			if strings.ContainsAny(v, "\r\n\x00") {
				return
			}
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if !strings.Contains(rec.Body.String(), "ASIAIMDSTESTKEY00001") {
			return
		}
		authorised := token == "valid" || (v1 && token == "")
		if method != "GET" || xff != "" || !authorised || strings.TrimSuffix(path, "/") != imdsCredsPath+"/BillingReader" {
			t.Fatalf("credentials served to %s %q (token %q, xff %q, v1 %v)", method, path, token, xff, v1)
		}
	})
}

var validMethod = regexp.MustCompile(`^[A-Z]{1,10}$`)

// Issue 20: `serve --imds` for programs that only speak the EC2 instance
// metadata service. boto3, the AWS CLI v1 and the AWS SDK for JavaScript
// v3's fromInstanceMetadata, with AWS_EC2_METADATA_SERVICE_ENDPOINT
// pointing at it and no other credential source, get the target's
// credentials (the AWS CLI's call seen signed with them at a logging
// proxy); IMDSv1 and bad tokens are refused by the real server.
func TestServeIMDSForRealClients(t *testing.T) {
	env := awstest.Start(t)
	bin := buildCLI(t)
	proxy := startSigningProxy(t, env.URL)
	home := t.TempDir()
	good := target(env, "imds")
	mint(t, env, good)
	cfgPath := writeConfig(t, good)
	want := currentValue(t, env, good.SecretName)
	s := startServe(t, bin, binEnv(env, home), "--target", good.Name, "--config", cfgPath, "--imds")
	ep := s.vars[EnvEC2MetadataEndpoint]
	if !regexp.MustCompile(`^http://127\.0\.0\.1:\d+/$`).MatchString(ep) || len(s.vars) != 1 {
		t.Fatalf("serve --imds printed %v: want only AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:PORT/", s.vars)
	}
	// Only IMDS: no keys, no profile, no container endpoint.
	client := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "AWS_DEFAULT_REGION=" + awstest.Region, "AWS_REGION=" + awstest.Region,
		"AWS_ENDPOINT_URL=" + proxy.URL, "AWS_CONFIG_FILE=" + home + "/none", "AWS_SHARED_CREDENTIALS_FILE=" + home + "/none", EnvEC2MetadataEndpoint + "=" + ep}

	t.Run("boto3", func(t *testing.T) {
		cmd := exec.Command("python3", "-c", `import boto3; c = boto3.Session().get_credentials(); f = c.get_frozen_credentials(); print(c.method, f.access_key, f.token)`)
		cmd.Env = client
		out, err := cmd.Output()
		if got := strings.TrimSpace(string(out)); err != nil || got != "iam-role "+want.AccessKeyID+" "+want.SessionToken {
			t.Fatalf("boto3 resolved %q (%v), want iam-role and the secret's key %s", secretfmt.Mask(got), err, want.MaskedKey())
		}
	})
	t.Run("the AWS CLI", func(t *testing.T) {
		if out := awsCLI(t, client, "sts", "get-caller-identity"); !strings.Contains(out, `"Arn"`) {
			t.Fatalf("aws printed %s", out)
		}
		if keys := proxy.keysFor("GetCallerIdentity"); len(keys) == 0 || keys[len(keys)-1] != want.AccessKeyID {
			t.Fatalf("the AWS CLI's call was signed with %v, want the secret's key", keys)
		}
	})
	t.Run("JavaScript v3 fromInstanceMetadata", func(t *testing.T) {
		var got jsCreds
		node(t, client, &got, "imds")
		got.same(t, "fromInstanceMetadata", aws.Credentials{AccessKeyID: want.AccessKeyID, SessionToken: want.SessionToken, Expires: want.Expiration})
	})
	t.Run("IMDSv1 and a bad token are refused", func(t *testing.T) {
		for _, tok := range []string{"", "not-a-token"} {
			req, _ := http.NewRequest(http.MethodGet, ep+"latest/meta-data/iam/security-credentials/"+good.Name, nil)
			if tok != "" {
				req.Header.Set(imdsTokenHeader, tok)
			}
			resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("token %q: status %d, want 401", tok, resp.StatusCode)
			}
		}
	})
	s.stop()
	if !strings.Contains(s.stderr.String(), "200 key "+want.MaskedKey()) {
		t.Fatalf("serve's log lacks the served key:\n%s", s.stderr)
	}
	noSecrets(t, "serve stderr", s.stderr.String())
}
