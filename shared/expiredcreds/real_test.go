package expiredcreds_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/stsrotator/stsrotator/internal/awstest"
	. "github.com/stsrotator/stsrotator/shared/expiredcreds"
)

func TestMain(m *testing.M) { awstest.Main(m) }

// expiredKey is the session the proxy treats as over; skewedKey one whose
// signer's clock is off (RequestExpired from a query service); any other
// key passes through to kumo.
const (
	expiredKey = "ASIAEXPIREDSESSION01"
	skewedKey  = "ASIACLOCKSKEWEDKEY01"
)

// refusal is what AWS answers a request signed with an expired session,
// in the protocol of the service called. Emulators accept any session, so
// the refusal is made here and only the clients' rendering of it is under
// test. Shapes: query protocol (STS; awstest.QueryError), JSON protocol
// (awstest.JSONError), S3's REST error
// (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html) and
// EC2's (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html).
func refusal(r *http.Request) *http.Response {
	scope := strings.Split(strings.SplitN(r.Header.Get("Authorization")+"Credential=", "Credential=", 2)[1], "/")
	service := ""
	if len(scope) > 3 {
		service = scope[3]
	}
	xml := func(status int, body string) *http.Response {
		return &http.Response{StatusCode: status, Status: fmt.Sprintf("%d %s", status, http.StatusText(status)),
			Header: http.Header{"Content-Type": {"application/xml"}, "X-Amz-Request-Id": {"0123456789ABCDEF"}},
			Body:   io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body))}
	}
	switch {
	case service == "s3":
		return xml(http.StatusBadRequest, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
			`<Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message><RequestId>0123456789ABCDEF</RequestId><HostId>h0st</HostId></Error>`)
	case service == "ec2":
		return xml(http.StatusBadRequest, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
			`<Response><Errors><Error><Code>RequestExpired</Code><Message>Request has expired.</Message></Error></Errors><RequestID>7c1e2d3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f</RequestID></Response>`)
	case r.Header.Get("X-Amz-Target") != "":
		return awstest.JSONError(http.StatusBadRequest, ExpiredTokenException, "The security token included in the request is expired")
	case strings.Contains(r.Header.Get("Authorization"), "Credential="+skewedKey+"/"):
		return awstest.QueryError(http.StatusBadRequest, RequestExpired, "Request has expired.")
	}
	return awstest.QueryError(http.StatusForbidden, ExpiredToken, "The security token included in the request is expired")
}

// expiringProxy stands in front of kumo and refuses every request signed
// with expiredKey, as AWS does once a session has ended.
func expiringProxy(t *testing.T, env *awstest.Env) *httptest.Server {
	u, _ := url.Parse(env.URL)
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		if !strings.Contains(auth, "Credential="+expiredKey+"/") && !strings.Contains(auth, "Credential="+skewedKey+"/") {
			proxy.ServeHTTP(w, r)
			return
		}
		resp := refusal(r)
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// Issue proof: renderings the installed clients produce for real — the Go
// SDK v2, the AWS CLI v1 and boto3 — each classify to the code they were
// refused with and the service and operation they name.
func TestRealRenderings(t *testing.T) {
	env := awstest.Start(t)
	srv := expiringProxy(t, env)
	ctx := awstest.Context(t)

	type rendering struct {
		sdk, text string
		want      Finding
	}
	var got []rendering

	// Go SDK v2.
	cfg := aws.Config{Region: awstest.Region, BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(expiredKey, "expired-secret", "expired-session-token")}
	_, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	got = append(got, rendering{"Go v2", errText(err), Finding{Code: ExpiredToken, Service: "STS", Operation: "GetCallerIdentity"}})
	_, err = secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("app")})
	got = append(got, rendering{"Go v2", errText(err), Finding{Code: ExpiredTokenException, Service: "Secrets Manager", Operation: "GetSecretValue"}})
	skewed := cfg.Copy()
	skewed.Credentials = credentials.NewStaticCredentialsProvider(skewedKey, "skewed-secret", "skewed-session-token")
	_, err = sts.NewFromConfig(skewed).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	got = append(got, rendering{"Go v2", errText(err), Finding{Code: RequestExpired, Service: "STS", Operation: "GetCallerIdentity"}})

	// The AWS CLI v1 and boto3, as a consumer's shell or Python job runs them.
	childEnv := append(os.Environ(), "AWS_ACCESS_KEY_ID="+expiredKey, "AWS_SECRET_ACCESS_KEY=expired-secret",
		"AWS_SESSION_TOKEN=expired-session-token", "AWS_DEFAULT_REGION="+awstest.Region, "AWS_ENDPOINT_URL="+srv.URL,
		"AWS_MAX_ATTEMPTS=1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	cli := []struct {
		args []string
		want Finding
	}{
		{[]string{"sts", "get-caller-identity"}, Finding{Code: ExpiredToken, Operation: "GetCallerIdentity"}},
		{[]string{"s3api", "list-buckets"}, Finding{Code: ExpiredToken, Operation: "ListBuckets"}},
		{[]string{"ec2", "describe-instances"}, Finding{Code: RequestExpired, Operation: "DescribeInstances"}},
		{[]string{"secretsmanager", "get-secret-value", "--secret-id", "app"}, Finding{Code: ExpiredTokenException, Operation: "GetSecretValue"}},
	}
	const script = `
import boto3, logging, sys
logging.basicConfig(stream=sys.stdout, format="%(levelname)s %(name)s %(message)s")
log = logging.getLogger("consumer")
for service, call in [("sts", lambda c: c.get_caller_identity()), ("s3", lambda c: c.list_buckets()),
                      ("ec2", lambda c: c.describe_instances()), ("secretsmanager", lambda c: c.get_secret_value(SecretId="app"))]:
    try:
        call(boto3.client(service))
    except Exception:
        log.exception("%s call failed", service)
    print("---")
`
	// The CLI and Python processes run side by side: each spends its
	// second or two starting Python, not talking to the proxy.
	var out string
	outs := make([]string, len(cli))
	var wg sync.WaitGroup
	for i, c := range cli {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i] = run(t, ctx, childEnv, "aws", c.args...)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		out = run(t, ctx, childEnv, "python3", "-c", script)
	}()
	wg.Wait()
	for i, c := range cli {
		got = append(got, rendering{"AWS CLI v1", outs[i], c.want})
	}
	boto := strings.Split(out, "---\n")
	for i, want := range []Finding{{Code: ExpiredToken, Operation: "GetCallerIdentity"}, {Code: ExpiredToken, Operation: "ListBuckets"},
		{Code: RequestExpired, Operation: "DescribeInstances"}, {Code: ExpiredTokenException, Operation: "GetSecretValue"}} {
		text := ""
		if i < len(boto) {
			text = boto[i]
		}
		got = append(got, rendering{"botocore/boto3", text, want})
	}

	for _, r := range got {
		f, ok := Classify(r.text)
		if !ok || f != r.want {
			t.Errorf("%s rendering %q: got %+v %v, want %+v", r.sdk, r.text, f, ok, r.want)
		}
		if pass, err := PassesFilterPattern(r.text); err != nil || !pass {
			t.Errorf("%s rendering %q does not pass the filter pattern (%v)", r.sdk, r.text, err)
		}
		t.Logf("%s: %s", r.sdk, FirstLine(strings.TrimSpace(r.text)))
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// run returns what the command printed; it is expected to fail.
func run(t *testing.T, ctx context.Context, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err == nil && name == "aws" {
		t.Errorf("%s %v succeeded with an expired session: %s", name, args, out)
	}
	return string(out)
}
