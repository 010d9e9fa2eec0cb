package credprovider

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/stsrotator/stsrotator/shared/events"
	"github.com/stsrotator/stsrotator/shared/expiredcreds"
	"github.com/stsrotator/stsrotator/shared/revocation"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// DefaultReportEvery is the least time between two reports for one
// target: one event is enough to get the target rotated, and a fleet of
// failing callers must not flood the bus.
const DefaultReportEvery = time.Minute

// Reporter publishes "ExpiredToken Observed" events, at most one per
// target per Every. The zero value is not usable: set API.
type Reporter struct {
	API events.Putter
	// Bus is the event bus (name or ARN). Empty means, for reports the
	// recovery option makes, the bus the secret's metadata names
	// (Provider.ReportBus: the stsrotator account's default bus, which
	// admits every reader account), and otherwise this account's default
	// bus.
	Bus string
	// App and Host say who saw the failure; they default to the program
	// name and the host name.
	App, Host string
	// Every is the per-target rate limit; zero means DefaultReportEvery.
	Every time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OnError hears about reports that could not be published; nil logs
	// them with slog's default logger. Publishing never fails the call
	// that saw the ExpiredToken.
	OnError func(error)

	mu   sync.Mutex
	last map[string]time.Time
	wg   sync.WaitGroup
}

// Report publishes d in the background unless its target was reported
// within Every; it says whether it will publish.
func (r *Reporter) Report(ctx context.Context, d events.ExpiredToken) bool {
	return r.report(ctx, d, "")
}

// report is Report with the bus the secret names, used when Bus is empty.
func (r *Reporter) report(ctx context.Context, d events.ExpiredToken, secretBus string) bool {
	bus := r.Bus
	if bus == "" {
		bus = secretBus
	}
	now := r.now()
	key := d.Target + "\x00" + d.SecretID
	r.mu.Lock()
	if last, ok := r.last[key]; ok && now.Sub(last) < r.every() {
		r.mu.Unlock()
		return false
	}
	if r.last == nil {
		r.last = map[string]time.Time{}
	}
	r.last[key] = now
	r.mu.Unlock()

	if d.ObservedAt.IsZero() {
		d.ObservedAt = now.UTC()
	}
	if d.Observer.App == "" {
		d.Observer.App = r.app()
	}
	if d.Observer.Host == "" {
		d.Observer.Host = r.host()
	}
	if d.Observer.Via == "" {
		d.Observer.Via = "library"
	}
	r.wg.Add(1)
	// The failing call has already waited for one round trip; it must not
	// wait for EventBridge too.
	go func() {
		defer r.wg.Done()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultFetchTimeout)
		defer cancel()
		if _, err := events.Publish(ctx, r.API, bus, d); err != nil {
			if r.OnError != nil {
				r.OnError(err)
				return
			}
			slog.Default().WarnContext(ctx, "stsrotator: ExpiredToken report not published", "target", d.Target, "error", err.Error())
		}
	}()
	return true
}

// Wait blocks until every report started so far has been published or
// has failed; call it before a short-lived program exits.
func (r *Reporter) Wait() { r.wg.Wait() }

func (r *Reporter) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Reporter) every() time.Duration {
	if r.Every > 0 {
		return r.Every
	}
	return DefaultReportEvery
}

func (r *Reporter) app() string {
	if r.App != "" {
		return r.App
	}
	return filepath.Base(os.Args[0])
}

func (r *Reporter) host() string {
	if r.Host != "" {
		return r.Host
	}
	h, _ := os.Hostname()
	return h
}

// Config returns a copy of base whose clients sign with p and recover from
// ExpiredToken (reporting to r, which may be nil). Keep base itself for the
// Secrets Manager client that p reads with: p must not read its own secret
// with its own credentials.
func Config(base aws.Config, p *Provider, r *Reporter) aws.Config {
	cfg := base.Copy()
	cfg.Credentials = p
	cfg.APIOptions = append(slices.Clip(cfg.APIOptions), WithExpiredTokenRecovery(p, r))
	return cfg
}

// WithExpiredTokenRecovery is an API option for any service client (append
// it to aws.Config.APIOptions or a client's Options.APIOptions). When a
// call fails with an expired-credentials code (expiredcreds.IsCode:
// ExpiredToken, ExpiredTokenException, RequestExpired) it invalidates p's
// cache, re-reads the secret, retries the call once with the fresh
// credentials and reports the failure to r (nil: no report). A call an
// identity-based policy explicitly denies (revocation.IsDenial: what
// stsrotator revoke's policy answers) is recovered from the same way, at
// most once per retry interval for a key, and is not reported. The client
// must sign with p, or the retry would use the refused key again.
func WithExpiredTokenRecovery(p *Provider, r *Reporter) func(*middleware.Stack) error {
	return func(s *middleware.Stack) error {
		// Outside the per-attempt chain's identity and signing steps, so
		// the retry resolves and signs afresh, and inside the SDK's own
		// retry loop, so its attempt accounting is untouched.
		outer := &recoverMiddleware{p: p, r: r}
		if err := s.Finalize.Insert(outer, "Retry", middleware.After); err != nil {
			if err := s.Finalize.Add(outer, middleware.Before); err != nil {
				return err
			}
		}
		// Right after signing, the request says which key was used; the
		// outer step needs it to invalidate only that key.
		if err := s.Finalize.Insert(signedKeyMiddleware{}, "Signing", middleware.After); err != nil {
			return s.Finalize.Add(signedKeyMiddleware{}, middleware.After)
		}
		return nil
	}
}

type keyHolder struct{ key string }

type keyHolderKey struct{}

type recoverMiddleware struct {
	p *Provider
	r *Reporter
}

func (*recoverMiddleware) ID() string { return "StsrotatorExpiredTokenRecovery" }

func (m *recoverMiddleware) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
	req, ok := in.Request.(*smithyhttp.Request)
	if !ok {
		return next.HandleFinalize(ctx, in)
	}
	// Downstream steps sign and send this request in place; the retry
	// needs it as it was before them.
	pristine := req.Clone()
	held := &keyHolder{}
	out, md, err := next.HandleFinalize(middleware.WithStackValue(ctx, keyHolderKey{}, held), in)
	var ae smithy.APIError
	if err == nil || !errors.As(err, &ae) {
		return out, md, err
	}
	again := func() (middleware.FinalizeOutput, middleware.Metadata, error) {
		if rerr := pristine.RewindStream(); rerr != nil {
			return out, md, err
		}
		in.Request = pristine
		return next.HandleFinalize(ctx, in)
	}
	if revocation.IsDenial(ae.ErrorCode(), ae.ErrorMessage()) {
		// stsrotator revoke denies the key this cache holds; the secret
		// already holds one issued after the cutoff. Not an expiry, so no
		// report; Invalidate re-reads at most once per retry interval for
		// a key, which bounds what an unrelated explicit deny costs.
		if !m.p.Invalidate(held.key) {
			return out, md, err
		}
		return again()
	}
	if !expiredcreds.IsCode(ae.ErrorCode()) {
		return out, md, err
	}
	// Read before Invalidate drops the cached version, whose metadata
	// names the target when the provider was made from a secret ID alone.
	target := m.p.Target()
	retry := m.p.Invalidate(held.key)
	if m.r != nil {
		d := events.ExpiredToken{
			Target: target, SecretID: m.p.SecretID(),
			Service: awsmiddleware.GetServiceID(ctx), Operation: awsmiddleware.GetOperationName(ctx), Region: awsmiddleware.GetRegion(ctx),
			ErrorCode: ae.ErrorCode(), ErrorMessage: truncate(ae.ErrorMessage(), 1024),
		}
		if held.key != "" {
			d.AccessKeyID = secretfmt.Mask(held.key)
		}
		m.r.report(ctx, d, m.p.ReportBus())
	}
	if !retry {
		return out, md, err
	}
	return again()
}

type signedKeyMiddleware struct{}

func (signedKeyMiddleware) ID() string { return "StsrotatorSignedKey" }

func (signedKeyMiddleware) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
	if held, ok := middleware.GetStackValue(ctx, keyHolderKey{}).(*keyHolder); ok {
		if req, ok := in.Request.(*smithyhttp.Request); ok {
			held.key = signedKey(req.Header.Get("Authorization"))
		}
	}
	return next.HandleFinalize(ctx, in)
}

// signedKey reads the access key ID from a SigV4 Authorization header:
// "AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request, ...".
func signedKey(auth string) string {
	_, rest, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return ""
	}
	key, _, _ := strings.Cut(rest, "/")
	return key
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
