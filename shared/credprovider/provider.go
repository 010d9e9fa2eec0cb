package credprovider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// secretReader is the one Secrets Manager call the provider makes, with the
// SDK's exact signature so *secretsmanager.Client satisfies it.
type secretReader interface {
	GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Defaults, chosen so that a misbehaving rotator cannot turn every call of
// a busy program into a Secrets Manager request.
const (
	// DefaultExpiryWindow is how long before Expiration a secret without a
	// refresh hint is re-read.
	DefaultExpiryWindow = 5 * time.Minute
	// DefaultRetryAfter is the pause between re-reads while the secret is
	// past its hint (the rotator is late) or a read has failed.
	DefaultRetryAfter = 30 * time.Second
	// DefaultFetchTimeout bounds one shared read, so one hung request
	// cannot hold every caller that waits on it.
	DefaultFetchTimeout = 10 * time.Second
)

// Errors a caller can test with errors.Is.
var (
	// ErrExpired: the secret holds credentials that have already expired
	// and nothing unexpired is cached.
	ErrExpired = errors.New("credentials in the secret have expired")
	// ErrNotFound: the secret does not exist.
	ErrNotFound = errors.New("secret not found")
)

// ExpiredError is what Retrieve returns when the secret, read just now,
// holds only credentials that have expired and nothing unexpired is
// cached. errors.Is(err, ErrExpired) holds for it; its fields let a caller
// (stsrotator serve) report which version it saw without parsing text.
type ExpiredError struct {
	SecretID string
	// Target is the config target, from the provider or the version's
	// metadata; empty if neither names one.
	Target string
	// MaskedKey is the version's access key ID, masked (ASIA…WXYZ).
	MaskedKey  string
	Expiration time.Time
	// VersionID is the Secrets Manager version read.
	VersionID string
	// ReportBus is the version's metadata reportBus, or "".
	ReportBus string
	// ReadAt is when the secret was read, on the provider's clock.
	ReadAt time.Time
}

func (e *ExpiredError) Error() string {
	return fmt.Sprintf("read secret %s: %v: key %s expired at %s (fix: run stsrotator status, then stsrotator rotate --target %s)",
		e.SecretID, ErrExpired, e.MaskedKey, e.Expiration.Format(time.RFC3339), orTarget(e.Target))
}

// Unwrap makes errors.Is(err, ErrExpired) hold.
func (e *ExpiredError) Unwrap() error { return ErrExpired }

// Provider serves one target's credentials. Create it with New; it is safe
// for concurrent use.
type Provider struct {
	api        secretReader
	secretID   string
	target     string
	now        func() time.Time
	window     time.Duration
	retryAfter time.Duration
	timeout    time.Duration
	maxAge     time.Duration
	onKept     func(err error, key string, until time.Time)

	// cur is read lock-free on the hot path; it changes only under mu.
	cur      atomic.Pointer[entry]
	mu       sync.Mutex
	inflight *fetch
	// refused is the last key AWS refused; guarded by mu.
	refused string
	// reportBus is the last read version's metadata reportBus: where
	// ExpiredToken reports about this secret go. It outlives Invalidate,
	// which drops the cached credentials before the report is sent.
	reportBus atomic.Pointer[string]
}

// entry is one cached secret version. Its fields never change after it is
// published, so readers need no lock.
type entry struct {
	creds aws.Credentials
	// fetchAfter is when the next caller must re-read. It is never later
	// than creds.Expires, which is what keeps the hot path from returning
	// expired credentials without checking anything else.
	fetchAfter time.Time
	fetchedAt  time.Time
	version    string
	// target is the target named in the version's metadata.
	target string
}

type fetch struct {
	done  chan struct{}
	creds aws.Credentials
	err   error
}

// Option configures a Provider.
type Option func(*Provider)

// WithSecretID reads the given secret (name or ARN) instead of the
// target's default name.
func WithSecretID(id string) Option { return func(p *Provider) { p.secretID = id } }

// WithClock replaces time.Now; tests move it instead of sleeping.
func WithClock(now func() time.Time) Option { return func(p *Provider) { p.now = now } }

// WithExpiryWindow sets how long before Expiration a secret that carries
// no refresh hint is re-read.
func WithExpiryWindow(d time.Duration) Option { return func(p *Provider) { p.window = d } }

// WithRetryAfter sets the pause between re-reads while the rotator is late
// or reads fail.
func WithRetryAfter(d time.Duration) Option { return func(p *Provider) { p.retryAfter = d } }

// WithReadFailure is called, once per failed re-read (so at most once per
// retry interval), when the provider could not read a usable secret and
// keeps serving the cached key (masked) until it expires. The default logs
// a warning with slog.Default(); a program that must not be quiet about a
// broken secret wires this to its own reporting. nil keeps it silent.
func WithReadFailure(f func(err error, maskedKey string, servingUntil time.Time)) Option {
	return func(p *Provider) { p.onKept = f }
}

// warnKept is the default WithReadFailure: a broken or unreadable secret
// must not go unnoticed while cached credentials hide it.
func warnKept(err error, key string, until time.Time) {
	slog.Default().Warn("stsrotator: cannot re-read the secret; serving the cached credentials until they expire",
		slog.String("error", err.Error()), slog.String("accessKeyId", key), slog.Time("servingUntil", until))
}

// WithMaxAge re-reads the secret when the cached version was read more
// than d ago, whatever its refresh hint: for a server handing credentials
// to other processes (stsrotator serve), so a consumer that restarts after
// stsrotator revoke gets the new key within d instead of the revoked one.
// Zero (the default) keeps the version until its hint.
func WithMaxAge(d time.Duration) Option { return func(p *Provider) { p.maxAge = d } }

// capAge brings a fetch time forward to the max age, if one is set.
func (p *Provider) capAge(now, at time.Time) time.Time {
	if p.maxAge <= 0 {
		return at
	}
	return earliest(at, now.Add(p.maxAge))
}

// WithFetchTimeout bounds one read of the secret.
func WithFetchTimeout(d time.Duration) Option { return func(p *Provider) { p.timeout = d } }

// SecretName is the secret a target's credentials live in when the config
// does not name another.
func SecretName(target string) string { return config.DefaultSecretPrefix + target }

// New returns a provider for target, reading its secret with api (a
// *secretsmanager.Client using the program's own identity, never this
// provider).
func New(api secretReader, target string, opts ...Option) *Provider {
	p := &Provider{
		api: api, target: target, secretID: SecretName(target), now: time.Now,
		window: DefaultExpiryWindow, retryAfter: DefaultRetryAfter, timeout: DefaultFetchTimeout,
		onKept: warnKept,
	}
	for _, o := range opts {
		o(p)
	}
	// A consumer reads the secret in its client's region: the replica
	// there when the secret is replicated.
	if c, ok := api.(interface{ Options() secretsmanager.Options }); ok {
		p.secretID = InRegion(p.secretID, c.Options().Region)
	}
	return p
}

// InRegion is secretID as read in region. A name is the same in every
// region; a secret's ARN names its region, and a replica's ARN is its
// primary's with only the region changed
// (https://docs.aws.amazon.com/secretsmanager/latest/userguide/replicate-secrets.html),
// so an ARN is moved to region. An empty region or anything that is not
// a Secrets Manager ARN comes back unchanged.
func InRegion(secretID, region string) string {
	parts := strings.SplitN(secretID, ":", 7)
	if region == "" || len(parts) != 7 || parts[0] != "arn" || parts[2] != "secretsmanager" || parts[5] != "secret" {
		return secretID
	}
	parts[3] = region
	return strings.Join(parts, ":")
}

// Target is the config target name the provider serves: the one it was
// made for, else (a provider made from a secret ID alone) the one the
// cached version's metadata names, else "".
func (p *Provider) Target() string {
	if p.target != "" {
		return p.target
	}
	if e := p.cur.Load(); e != nil {
		return e.target
	}
	return ""
}

// SecretID is the secret the provider reads.
func (p *Provider) SecretID() string { return p.secretID }

// ReportBus is the ARN of the event bus the secret's metadata names for
// ExpiredToken reports (the stsrotator account's default bus), or "" when
// no version read so far named one.
func (p *Provider) ReportBus() string {
	if b := p.reportBus.Load(); b != nil {
		return *b
	}
	return ""
}

// Retrieve returns the target's credentials. Within the cache lifetime it
// does not allocate and makes no call.
func (p *Provider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	if e := p.cur.Load(); e != nil && p.now().Before(e.fetchAfter) {
		return e.creds, nil
	}
	return p.refresh(ctx)
}

// refresh joins the fetch in flight or starts one. The fetch runs on its
// own goroutine with a context detached from the caller's cancellation, so
// the first caller giving up does not fail everyone waiting on it.
func (p *Provider) refresh(ctx context.Context) (aws.Credentials, error) {
	p.mu.Lock()
	if e := p.cur.Load(); e != nil && p.now().Before(e.fetchAfter) {
		p.mu.Unlock()
		return e.creds, nil
	}
	f := p.inflight
	if f == nil {
		f = &fetch{done: make(chan struct{})}
		p.inflight = f
		go p.run(context.WithoutCancel(ctx), f)
	}
	p.mu.Unlock()
	select {
	case <-f.done:
		return f.creds, f.err
	case <-ctx.Done():
		return aws.Credentials{}, fmt.Errorf("read credentials for %s: %w", p.secretID, ctx.Err())
	}
}

func (p *Provider) run(ctx context.Context, f *fetch) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	next, err := p.read(ctx)
	// The waiters are released only after the hook, so a failed read is
	// reported before the Retrieve that triggered it returns. The hook runs
	// outside the lock: it may be slow or call back in.
	defer close(f.done)
	if kept := p.settle(f, next, err); kept != nil && p.onKept != nil {
		p.onKept(err, secretfmt.Mask(kept.creds.AccessKeyID), kept.creds.Expires)
	}
}

// settle records a fetch's result for its waiters. When the read failed
// but the cached credentials are still valid, it keeps serving them and
// returns that entry.
func (p *Provider) settle(f *fetch, next *entry, err error) (kept *entry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inflight = nil
	now := p.now()
	if err == nil {
		p.cur.Store(next)
		f.creds = next.creds
		return nil
	}
	// Keep serving what we have while it is still valid, but do not ask
	// again on every call.
	if e := p.cur.Load(); e != nil && now.Before(e.creds.Expires) {
		k := *e
		k.fetchAfter = earliest(now.Add(p.retryAfter), e.creds.Expires)
		p.cur.Store(&k)
		f.creds = e.creds
		return &k
	}
	f.err = err
	return nil
}

func (p *Provider) read(ctx context.Context) (*entry, error) {
	out, err := p.api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(p.secretID)})
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "ResourceNotFoundException" {
			return nil, fmt.Errorf("read secret %s: %w (fix: check the target name, or that the rotator has run)", p.secretID, ErrNotFound)
		}
		return nil, fmt.Errorf("read secret %s: %w", p.secretID, err)
	}
	if out.SecretString == nil {
		return nil, fmt.Errorf("read secret %s: %w: the version holds binary data, not a string", p.secretID, secretfmt.ErrInvalid)
	}
	v, err := secretfmt.Parse([]byte(*out.SecretString))
	if err != nil {
		return nil, fmt.Errorf("read secret %s: %w", p.secretID, err)
	}
	if bus := v.Meta.ReportBus; bus != "" {
		p.reportBus.Store(&bus)
	}
	now := p.now()
	// A provider made from a secret ID alone (the deploy's profile line)
	// still names the target in its fix, from the secret's metadata.
	target := p.target
	if target == "" {
		target = v.Meta.Target
	}
	if v.Expired(now) {
		return nil, &ExpiredError{SecretID: p.secretID, Target: target, MaskedKey: v.MaskedKey(), Expiration: v.Expiration,
			VersionID: aws.ToString(out.VersionId), ReportBus: v.Meta.ReportBus, ReadAt: now}
	}
	return &entry{
		creds: aws.Credentials{
			AccessKeyID: v.AccessKeyID, SecretAccessKey: v.SecretAccessKey, SessionToken: v.SessionToken,
			Source: "stsrotator:" + p.secretID, CanExpire: true, Expires: v.Expiration,
		},
		fetchAfter: p.capAge(now, p.nextFetch(now, v)),
		fetchedAt:  now,
		version:    aws.ToString(out.VersionId),
		target:     target,
	}, nil
}

// nextFetch is when this version stops being served without a re-read:
// the rotator's own hint, else Expiration minus the window; never sooner
// than retryAfter (a late rotator has not written anything newer yet) and
// never later than Expiration.
func (p *Provider) nextFetch(now time.Time, v secretfmt.Value) time.Time {
	at := v.Meta.RefreshAt
	if at.IsZero() || !at.Before(v.Expiration) {
		at = v.Expiration.Add(-p.window)
	}
	if floor := now.Add(p.retryAfter); at.Before(floor) {
		at = floor
	}
	return earliest(at, v.Expiration)
}

// Invalidate is told that AWS refused accessKeyID ("" for unknown) and
// reports whether the next Retrieve can return other credentials, that
// is, whether retrying the refused call can help.
//
// It drops the cache only if it holds that key, so a burst of callers that
// all saw one refusal costs one re-read. If the re-read brought back the
// same key (the rotator has not replaced it yet), it is kept for
// retryAfter: re-reading on every refused call would turn an outage into
// a flood of GetSecretValue calls.
func (p *Provider) Invalidate(accessKeyID string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.cur.Load()
	switch {
	case e == nil:
		return true
	case accessKeyID != "" && e.creds.AccessKeyID != accessKeyID:
		return true
	case e.creds.AccessKeyID == p.refused && p.now().Before(e.fetchedAt.Add(p.retryAfter)):
		return false
	}
	p.refused = e.creds.AccessKeyID
	// Dropped entirely: credentials AWS has refused must not come back as
	// the fallback for a failed re-read.
	p.cur.Store(nil)
	return true
}

// NextRead is when Retrieve next reads the secret: the cached version's
// refresh hint (Stsrotator.refreshAt, when the rotator replaces it), else
// its Expiration minus the expiry window, never sooner than the retry
// pause, or the retry pause after a failed re-read; zero when nothing is
// cached. A caller that copies the credentials elsewhere (stsrotator
// update) renews its copy then.
func (p *Provider) NextRead() time.Time {
	if e := p.cur.Load(); e != nil {
		return e.fetchAfter
	}
	return time.Time{}
}

// Version is the secret version the cache holds ("" when empty).
func (p *Provider) Version() string {
	if e := p.cur.Load(); e != nil {
		return e.version
	}
	return ""
}

// orTarget is a target for a fix hint, with a placeholder when neither the
// caller nor the secret named one (a value written by hand).
func orTarget(t string) string {
	if t == "" {
		return "TARGET"
	}
	return t
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
