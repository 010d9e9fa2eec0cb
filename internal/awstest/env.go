package awstest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/sivchari/kumo"

	"github.com/stsrotator/stsrotator/internal/emulator"
	"github.com/stsrotator/stsrotator/shared/events"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// Region is the region every test client uses.
const Region = "us-east-1"

// Env is one emulator and the clients pointed at it.
type Env struct {
	URL       string
	Config    aws.Config
	STS       *sts.Client
	Secrets   *secretsmanager.Client
	Transport *Transport
	srv       *kumo.Server
	id        int64
}

var envs atomic.Int64

// Unique prefixes a resource name with this Env's own namespace. kumo
// keeps its state in package-level storage shared by every server in the
// process, so tests keep apart by name, not by server.
func (e *Env) Unique(name string) string {
	return fmt.Sprintf("t%d-%s", e.id, name)
}

// Start runs a fresh kumo for the test and closes it afterwards.
func Start(tb testing.TB) *Env {
	tb.Helper()
	srv := kumo.NewServer()
	tb.Cleanup(srv.Close)
	return NewEnv(srv)
}

// NewEnv builds clients for a running emulator.
func NewEnv(srv *kumo.Server) *Env {
	e := Connect(srv.URL)
	e.srv = srv
	return e
}

// Connect builds clients for an emulator already listening at url.
func Connect(url string) *Env {
	tr := &Transport{Base: http.DefaultTransport.(*http.Transport).Clone(), calls: map[string]int{}}
	tr.Base.(*http.Transport).MaxIdleConnsPerHost = 512
	cfg := aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIAKUMOTESTKEY00000", "kumo-test-secret", ""),
		HTTPClient:   &http.Client{Transport: tr},
		BaseEndpoint: aws.String(url),
	}
	return &Env{
		URL:       url,
		Config:    cfg,
		STS:       sts.NewFromConfig(cfg),
		Secrets:   secretsmanager.NewFromConfig(cfg),
		Transport: tr,
		id:        envs.Add(1),
	}
}

// SNS is an SNS client for the emulator.
func (e *Env) SNS() *sns.Client { return sns.NewFromConfig(e.Config) }

// SQS is an SQS client for the emulator.
func (e *Env) SQS() *sqs.Client { return sqs.NewFromConfig(e.Config) }

// EventBridge is an EventBridge client for the emulator.
func (e *Env) EventBridge() *eventbridge.Client { return eventbridge.NewFromConfig(e.Config) }

// Fault decides whether to fail a request instead of sending it; nil
// means send it. op is the operation name (e.g. "AssumeRole").
type Fault func(op string, body []byte) *http.Response

// Transport records and shapes traffic to the emulator.
type Transport struct {
	Base http.RoundTripper
	// Latency is added to every call, to model AWS's round trip.
	Latency time.Duration
	Fault   Fault

	mu    sync.Mutex
	calls map[string]int
	busy  atomic.Int64
	// perSecret holds one lock per secret name (see secretLock).
	perSecret sync.Map
}

// secretLock delivers one Secrets Manager request per secret at a time.
// kumo's Secrets Manager races with itself when two requests touch one
// secret at once (it writes LastAccessedDate under a read lock and encodes
// a version after unlocking), which -race reports in any test where two
// callers meet on a secret. AWS is linearizable per secret, so this models
// it without changing what any caller sends or sees; requests for
// different secrets still run in parallel.
func (t *Transport) secretLock(req *http.Request, body []byte) func() {
	if !strings.HasPrefix(req.Header.Get("X-Amz-Target"), "secretsmanager.") {
		return func() {}
	}
	var v struct{ SecretId, Name string }
	if json.Unmarshal(body, &v) != nil || v.SecretId+v.Name == "" {
		return func() {}
	}
	l, _ := t.perSecret.LoadOrStore(v.SecretId+v.Name, &sync.Mutex{})
	l.(*sync.Mutex).Lock()
	return l.(*sync.Mutex).Unlock
}

// Busy is the total time spent inside AWS calls, so callers can subtract
// it and measure their own overhead.
func (t *Transport) Busy() time.Duration { return time.Duration(t.busy.Load()) }

// Calls is how many requests reached (or were failed before reaching) the
// emulator for op.
func (t *Transport) Calls(op string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.calls[op]
}

// Total counts every call.
func (t *Transport) Total() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, c := range t.calls {
		n += c
	}
	return n
}

// Reset zeroes the counters.
func (t *Transport) Reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.calls = map[string]int{}
}

func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	defer func() { t.busy.Add(int64(time.Since(start))) }()
	body, err := emulator.ReplayBody(req)
	if err != nil {
		return nil, err
	}
	op := Operation(req, body)
	t.mu.Lock()
	t.calls[op]++
	fault := t.Fault
	t.mu.Unlock()
	if t.Latency > 0 {
		timer := time.NewTimer(t.Latency)
		select {
		case <-timer.C:
		case <-req.Context().Done():
			timer.Stop()
			return nil, req.Context().Err()
		}
	}
	if fault != nil {
		if resp := fault(op, body); resp != nil {
			resp.Request = req
			return resp, nil
		}
	}
	// Held until the answer is read in full: kumo's racing write happens
	// while it encodes the answer.
	defer t.secretLock(req, body)()
	resp, err := t.Base.RoundTrip(req)
	if err != nil || resp == nil {
		return resp, err
	}
	// Remember every secret the emulator hands out, so leak checks know
	// what to look for.
	rb, rerr := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if rerr != nil {
		return nil, rerr
	}
	Remember(rb)
	resp.Body = io.NopCloser(bytes.NewReader(rb))
	return resp, nil
}

// Operation names the AWS operation of a request in either protocol:
// JSON protocols put it in X-Amz-Target, query protocols in Action=.
func Operation(req *http.Request, body []byte) string {
	if tgt := req.Header.Get("X-Amz-Target"); tgt != "" {
		return tgt[strings.LastIndex(tgt, ".")+1:]
	}
	if v, err := url.ParseQuery(string(body)); err == nil && v.Get("Action") != "" {
		return v.Get("Action")
	}
	return req.Method + " " + req.URL.Path
}

// QueryError builds the XML error response a query-protocol service (STS)
// sends.
func QueryError(status int, code, message string) *http.Response {
	b := fmt.Sprintf(`<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>fault-injected</RequestId></ErrorResponse>`, code, message)
	return &http.Response{
		StatusCode: status, Status: fmt.Sprintf("%d %s", status, http.StatusText(status)),
		Header: http.Header{"Content-Type": {"text/xml"}}, Body: io.NopCloser(strings.NewReader(b)),
		ContentLength: int64(len(b)), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
	}
}

// JSONError builds the error response a JSON-protocol service (Secrets
// Manager, EventBridge) sends.
func JSONError(status int, code, message string) *http.Response {
	b := fmt.Sprintf(`{"__type":%q,"message":%q}`, code, message)
	return &http.Response{
		StatusCode: status, Status: fmt.Sprintf("%d %s", status, http.StatusText(status)),
		Header: http.Header{"Content-Type": {"application/x-amz-json-1.1"}, "X-Amzn-Errortype": {code}}, Body: io.NopCloser(strings.NewReader(b)),
		ContentLength: int64(len(b)), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
	}
}

var (
	secretsMu sync.Mutex
	secrets   = map[string]bool{}
	// STS XML and Secrets Manager JSON (including JSON inside SecretString).
	reSecret = regexp.MustCompile(`(?:<SecretAccessKey>|<SessionToken>|\\?"(?:SecretAccessKey|SessionToken)\\?":\s*\\?")([A-Za-z0-9/+=]{8,})`)
)

// Remember records the secret material in an AWS response body.
func Remember(body []byte) {
	ms := reSecret.FindAllSubmatch(body, -1)
	if len(ms) == 0 {
		return
	}
	secretsMu.Lock()
	defer secretsMu.Unlock()
	for _, m := range ms {
		secrets[string(m[1])] = true
	}
}

// SeenSecrets is how many distinct secret values crossed the wire.
func SeenSecrets() int {
	secretsMu.Lock()
	defer secretsMu.Unlock()
	return len(secrets)
}

// Leaks returns, masked, the remembered secrets that appear in text, and
// any secret-shaped value it carries whether remembered or not: a
// SecretAccessKey or SessionToken field with a value, or a whole access
// key ID. The shapes catch what never crossed a recording transport, such
// as the credentials real function binaries fetched from the emulator.
func Leaks(text []byte) []string {
	secretsMu.Lock()
	defer secretsMu.Unlock()
	var out []string
	for s := range secrets {
		if bytes.Contains(text, []byte(s)) {
			out = append(out, s[:4]+"…")
		}
	}
	for _, m := range reSecret.FindAllSubmatch(text, -1) {
		out = append(out, "a credential field with value "+string(m[1][:4])+"…")
	}
	for _, k := range events.Keys(string(text)) {
		out = append(out, "a whole access key ID "+secretfmt.Mask(k))
	}
	return out
}

// Context returns a context that ends with the test.
func Context(tb testing.TB) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	return ctx
}
