package faults

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/stsrotator/stsrotator/internal/emulator"
)

// Kind is one way an AWS call can fail.
type Kind string

const (
	// Throttle answers with the service's own throttling error; the service
	// never saw the request.
	Throttle Kind = "throttle"
	// ServerError answers 500 InternalFailure or 503 ServiceUnavailable; the
	// service never saw the request.
	ServerError Kind = "5xx"
	// Reset fails the connection before the request is sent.
	Reset Kind = "reset"
	// Timeout delivers the request, lets the service act on it, and then
	// gives the caller a timeout instead of the response: the worst case of
	// a client-side deadline.
	Timeout Kind = "timeout"
	// Drop delivers the request and resets the connection before the
	// response arrives: the service acted, the caller does not know.
	Drop Kind = "drop"
	// Kill is the caller dying just before the request is sent: the
	// context from Killable is cancelled, so nothing else that invocation
	// attempts gets out.
	Kill Kind = "kill"
	// KillAfter is the caller dying after the service acted on the request
	// and before it read the response.
	KillAfter Kind = "kill-after"
)

// Transient are the failures an SDK retryer is expected to absorb.
var Transient = []Kind{Throttle, ServerError, Reset, Timeout, Drop}

// Rule fails a share of the calls it matches.
type Rule struct {
	// Service is the SigV4 signing name ("sts", "secretsmanager", "sns");
	// empty matches every service.
	Service string
	// Op is the operation name ("AssumeRole"); empty matches every
	// operation.
	Op string
	// Rate is the share of matching calls that fail, 0 to 1.
	Rate float64
	// Kinds are drawn uniformly for each failure; empty means Transient.
	Kinds []Kind
	// Match narrows the rule further, e.g. to one secret.
	Match func(Call) bool
	// Limit caps how many failures the rule causes; 0 means no cap.
	Limit int
}

// Call is what the injector knows about one request.
type Call struct {
	Service string
	Op      string
	// Resource is the secret, role or topic the call is about, so
	// decisions for one target do not depend on how other targets'
	// calls interleave with it.
	Resource string
	// Attempt counts calls with the same service, op and resource, from 1.
	Attempt int
	Body    []byte
	Header  http.Header
}

// OpStats counts one operation's calls.
type OpStats struct {
	Attempted int
	Failed    int
	// Delivered counts calls the service acted on, whether or not the
	// caller saw the answer.
	Delivered int
	ByKind    map[Kind]int
}

// Injector is an http.RoundTripper that fails calls by its rules and
// passes the rest to Base. It is safe for concurrent use.
type Injector struct {
	base   http.RoundTripper
	seed   uint64
	ledger *Ledger

	mu       sync.Mutex
	rules    []Rule
	fired    []int
	attempts map[string]int
	stats    map[string]*OpStats
	observe  func(Call, int, []byte)
}

// New returns an injector in front of base. The seed fixes every decision.
func New(base http.RoundTripper, seed uint64, rules ...Rule) *Injector {
	i := &Injector{base: base, seed: seed, ledger: newLedger(), attempts: map[string]int{}, stats: map[string]*OpStats{}}
	i.SetRules(rules...)
	return i
}

// SetRules replaces the rules, e.g. to end an outage.
func (i *Injector) SetRules(rules ...Rule) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.rules = rules
	i.fired = make([]int, len(rules))
}

// Seed is the seed the injector decides with, for replaying a failure.
func (i *Injector) Seed() uint64 { return i.seed }

// Ledger is the record of credentials issued, verified and stored.
func (i *Injector) Ledger() *Ledger { return i.ledger }

// OnDelivered calls f, serialised, for every call the service acted on,
// with its HTTP status and response body.
func (i *Injector) OnDelivered(f func(c Call, status int, body []byte)) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.observe = f
}

// Stats returns a copy of the per-operation counters.
func (i *Injector) Stats() map[string]OpStats {
	i.mu.Lock()
	defer i.mu.Unlock()
	out := make(map[string]OpStats, len(i.stats))
	for op, s := range i.stats {
		c := *s
		c.ByKind = make(map[Kind]int, len(s.ByKind))
		for k, n := range s.ByKind {
			c.ByKind[k] = n
		}
		out[op] = c
	}
	return out
}

// Totals sums Stats over every operation.
func (i *Injector) Totals() OpStats {
	t := OpStats{ByKind: map[Kind]int{}}
	for _, s := range i.Stats() {
		t.Attempted += s.Attempted
		t.Failed += s.Failed
		t.Delivered += s.Delivered
		for k, n := range s.ByKind {
			t.ByKind[k] += n
		}
	}
	return t
}

// Summary renders Stats one operation per line, sorted, for test logs and
// docs/reliability.md.
func (i *Injector) Summary() string {
	st := i.Stats()
	ops := make([]string, 0, len(st))
	for op := range st {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	var b strings.Builder
	for _, op := range ops {
		s := st[op]
		fmt.Fprintf(&b, "%s: attempted %d, failed %d (%s), delivered %d\n", op, s.Attempted, s.Failed, kinds(s.ByKind), s.Delivered)
	}
	return b.String()
}

func kinds(m map[Kind]int) string {
	if len(m) == 0 {
		return "none"
	}
	ks := make([]string, 0, len(m))
	for k, n := range m {
		ks = append(ks, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}

// RoundTrip implements http.RoundTripper.
func (i *Injector) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := emulator.ReplayBody(req)
	if err != nil {
		return nil, err
	}
	c := Call{Service: service(req), Op: operation(req, body), Body: body, Header: req.Header}
	c.Resource = resource(c, i.ledger)
	kind := i.decide(&c)

	switch kind {
	case Throttle:
		return throttle(req, c), nil
	case ServerError:
		return serverError(req, c), nil
	case Reset:
		return nil, &net.OpError{Op: "write", Net: "tcp", Err: syscall.ECONNRESET}
	case Kill:
		return nil, kill(req.Context())
	}

	resp, err := i.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	rb, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	seen := kind == ""
	i.delivered(c, resp.StatusCode, rb, seen)

	switch kind {
	case Timeout:
		return nil, timeoutError{}
	case Drop:
		return nil, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	case KillAfter:
		return nil, kill(req.Context())
	}
	resp.Body = io.NopCloser(bytes.NewReader(rb))
	return resp, nil
}

// decide counts the call and picks its fault, if any.
func (i *Injector) decide(c *Call) Kind {
	i.mu.Lock()
	defer i.mu.Unlock()
	key := c.Service + "\x00" + c.Op + "\x00" + c.Resource
	i.attempts[key]++
	c.Attempt = i.attempts[key]
	st := i.stats[c.Op]
	if st == nil {
		st = &OpStats{ByKind: map[Kind]int{}}
		i.stats[c.Op] = st
	}
	st.Attempted++
	for n, r := range i.rules {
		if (r.Service != "" && r.Service != c.Service) || (r.Op != "" && r.Op != c.Op) || (r.Limit > 0 && i.fired[n] >= r.Limit) {
			continue
		}
		if r.Match != nil && !r.Match(*c) {
			continue
		}
		// One generator per call, seeded by what the call is, so the
		// same call gets the same fate whatever ran before it.
		rng := rand.New(rand.NewPCG(i.seed, hash(key, c.Attempt, n)))
		if rng.Float64() >= r.Rate {
			continue
		}
		ks := r.Kinds
		if len(ks) == 0 {
			ks = Transient
		}
		k := ks[rng.IntN(len(ks))]
		i.fired[n]++
		st.Failed++
		st.ByKind[k]++
		return k
	}
	return ""
}

func (i *Injector) delivered(c Call, status int, body []byte, seen bool) {
	i.ledger.record(c, status, body, seen)
	i.mu.Lock()
	defer i.mu.Unlock()
	i.stats[c.Op].Delivered++
	if i.observe != nil {
		i.observe(c, status, body)
	}
}

func hash(key string, attempt, rule int) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(attempt))
	binary.BigEndian.PutUint64(b[8:], uint64(rule))
	_, _ = h.Write(b[:])
	return h.Sum64()
}

// service reads the SigV4 signing name from the credential scope:
// "Credential=AKID/date/region/service/aws4_request".
func service(req *http.Request) string {
	_, rest, ok := strings.Cut(req.Header.Get("Authorization"), "Credential=")
	if !ok {
		return ""
	}
	scope, _, _ := strings.Cut(rest, ",")
	parts := strings.Split(scope, "/")
	if len(parts) < 5 {
		return ""
	}
	return parts[3]
}

// accessKey reads the signing key from the Authorization header.
func accessKey(h http.Header) string {
	_, rest, ok := strings.Cut(h.Get("Authorization"), "Credential=")
	if !ok {
		return ""
	}
	key, _, _ := strings.Cut(rest, "/")
	return key
}

func operation(req *http.Request, body []byte) string {
	if tgt := req.Header.Get("X-Amz-Target"); tgt != "" {
		return tgt[strings.LastIndex(tgt, ".")+1:]
	}
	if v, err := url.ParseQuery(string(body)); err == nil && v.Get("Action") != "" {
		return v.Get("Action")
	}
	return req.Method + " " + req.URL.Path
}

// resource names what the call is about. GetCallerIdentity names nothing,
// so its resource is the role whose credentials sign it.
func resource(c Call, l *Ledger) string {
	if c.Op == "GetCallerIdentity" {
		return l.roleOf(accessKey(c.Header))
	}
	if isJSON(c.Header) {
		var v struct{ SecretId, Name, TopicArn string }
		if json.Unmarshal(c.Body, &v) == nil {
			return v.SecretId + v.Name + v.TopicArn
		}
		return ""
	}
	if v, err := url.ParseQuery(string(c.Body)); err == nil {
		return v.Get("RoleArn") + v.Get("TopicArn")
	}
	return ""
}

func isJSON(h http.Header) bool {
	return h.Get("X-Amz-Target") != "" || strings.Contains(h.Get("Content-Type"), "json")
}

// Throttling codes as each service documents them; the SDK's retryer
// recognises all three.
var throttleCodes = map[string]string{
	"sts":            "Throttling",
	"sns":            "Throttling",
	"secretsmanager": "ThrottlingException",
	"events":         "ThrottlingException",
	"lambda":         "TooManyRequestsException",
}

func throttle(req *http.Request, c Call) *http.Response {
	code, status := throttleCodes[c.Service], http.StatusBadRequest
	if code == "" {
		code = "ThrottlingException"
	}
	if code == "TooManyRequestsException" {
		status = http.StatusTooManyRequests
	}
	return errorResponse(req, status, code, "Rate exceeded")
}

func serverError(req *http.Request, c Call) *http.Response {
	if c.Attempt%2 == 0 {
		return errorResponse(req, http.StatusServiceUnavailable, "ServiceUnavailable", "Service is unavailable; try again")
	}
	return errorResponse(req, http.StatusInternalServerError, "InternalFailure", "The request processing has failed because of an unknown error")
}

// errorResponse speaks the request's protocol: JSON for JSON services,
// the query protocol's XML otherwise.
func errorResponse(req *http.Request, status int, code, msg string) *http.Response {
	var b, ct string
	h := http.Header{}
	if isJSON(req.Header) {
		b = fmt.Sprintf(`{"__type":%q,"message":%q}`, code, msg)
		ct = "application/x-amz-json-1.1"
		h.Set("X-Amzn-Errortype", code)
	} else {
		kind := "Sender"
		if status >= 500 {
			kind = "Receiver"
		}
		b = fmt.Sprintf(`<ErrorResponse><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>fault-injected</RequestId></ErrorResponse>`, kind, code, msg)
		ct = "text/xml"
	}
	h.Set("Content-Type", ct)
	h.Set("X-Amzn-Requestid", "fault-injected")
	return &http.Response{
		StatusCode: status, Status: fmt.Sprintf("%d %s", status, http.StatusText(status)),
		Header: h, Body: io.NopCloser(strings.NewReader(b)), ContentLength: int64(len(b)),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Request: req,
	}
}

// timeoutError is what net/http returns when a response does not come in
// time: a net.Error whose Timeout is true.
type timeoutError struct{}

func (timeoutError) Error() string   { return "faults: timeout awaiting response headers" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// ErrKilled is the cause of a context ended by a Kill fault.
var ErrKilled = errors.New("faults: caller killed")

type killKey struct{}

// Killable returns a context that a Kill or KillAfter fault ends, standing
// in for the process dying, and a function that says whether it did.
func Killable(parent context.Context) (context.Context, func() bool) {
	ctx, cancel := context.WithCancelCause(parent)
	ctx = context.WithValue(ctx, killKey{}, cancel)
	return ctx, func() bool { return errors.Is(context.Cause(ctx), ErrKilled) }
}

// kill ends a Killable context and returns the error the caller sees.
func kill(ctx context.Context) error {
	cancel, ok := ctx.Value(killKey{}).(context.CancelCauseFunc)
	if !ok {
		return ErrKilled
	}
	cancel(ErrKilled)
	return ctx.Err()
}
