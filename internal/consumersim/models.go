package consumersim

import (
	"context"
	"errors"
	"time"
)

// Creds is what a consumer holds and signs with.
type Creds struct {
	// Key is the access key ID (never printed: figures name models, not
	// keys).
	Key     string
	Expires time.Time
}

// Fetcher is a credential source as one consumer sees it: one run of
// `stsrotator credential-process`, or one GET of serve's endpoint.
type Fetcher interface {
	Fetch(ctx context.Context, now time.Time) (Creds, error)
}

// Signer is one consumer's credential cache: Sign is one AWS request at
// now and returns the credentials the request is signed with, or an
// error when the SDK fails the request before signing it.
type Signer interface {
	Sign(ctx context.Context, now time.Time) (Creds, error)
	// Fetches counts the times the consumer asked its source.
	Fetches() int
}

// Spec is an SDK credential cache's refresh rule. All SDKs here share one
// shape: a refresh is attempted once less than Advisory is left (or
// MaxAge has passed since the fetch); when it fails with less than
// Mandatory left, or KeepOnFailure is false, the request fails, otherwise
// the cached credentials are used.
type Spec struct {
	Name string
	// Advisory: refresh once less than this is left (at most this with
	// AtBoundary).
	Advisory time.Duration
	// Mandatory: below this a failed refresh fails the request.
	Mandatory time.Duration
	// AtBoundary makes the Advisory comparison inclusive (left ≤ Advisory).
	AtBoundary bool
	// KeepOnFailure: a failed refresh above Mandatory keeps the cache.
	KeepOnFailure bool
	// CheckAfterLoad: the first request loads credentials and then runs
	// the refresh check on them at once (botocore's ProcessProvider.load
	// then RefreshableCredentials.get_frozen_credentials), so a copy already inside the window costs two fetches.
	CheckAfterLoad bool
	// Background: a refresh above Mandatory runs beside the request, which
	// is signed with the credentials held before it (JS v3's passive
	// refresh).
	Background bool
	// MaxAge forces a prefetch this long after a fetch (Java's one-hour
	// cap); zero for none.
	MaxAge time.Duration
	// Source is the SDK file and line each constant comes from.
	Source string
}

// The SDK rules, from the sources of the versions this repository pins or
// the machine has installed. docs/reliability.md lists them with links;
// consumersim's tests check each against the real client.
var (
	// Botocore is RefreshableCredentials, which both ProcessProvider
	// (credential_process) and ContainerProvider return. botocore 1.43.11.
	Botocore = Spec{Name: "botocore", Advisory: 15 * time.Minute, Mandatory: 10 * time.Minute, KeepOnFailure: true, CheckAfterLoad: true,
		Source: "botocore/credentials.py:80-81 (_DEFAULT_MANDATORY_REFRESH_TIMEOUT = 10 * 60, _DEFAULT_ADVISORY_REFRESH_TIMEOUT = 15 * 60); :528 refresh_needed (remaining >= refresh_in: no refresh); :566 _refresh; :596 _protected_refresh (advisory failure keeps the credentials, mandatory failure raises); :1087 ProcessProvider and :2097 ContainerProvider return RefreshableCredentials"}
	// JSv3 is the default chain's memoizeChain: @aws-sdk/credential-provider-node
	// 3.972.99 (credential-providers 3.1175.0, testdata/js lockfile).
	JSv3 = Spec{Name: "js-v3", Advisory: 5 * time.Minute, Mandatory: 0, KeepOnFailure: true, Background: true,
		Source: "@aws-sdk/credential-provider-node/dist-cjs/index.js:21 memoizeChain: :41-45 expired credentials are dropped and fetched blocking (a failure rejects) and the first load returns what it fetched; :49-62 inside the window a background refresh starts, its failure is ignored, and the current credentials are returned; :162 credentialsTreatedAsExpired (expiration - Date.now() < 300000)"}
	// JavaProcess is ProcessCredentialsProvider's CachedSupplier.
	JavaProcess = Spec{Name: "java-v2-process", Advisory: 15 * time.Second, Mandatory: 0, AtBoundary: true, KeepOnFailure: true,
		Source: "aws-sdk-java-v2 core/auth/src/main/java/software/amazon/awssdk/auth/credentials/ProcessCredentialsProvider.java: credentialRefreshThreshold = Duration.ofSeconds(15); refreshCredentials: staleTime(expiration), prefetchTime(expiration - credentialRefreshThreshold); utils/cache/CachedSupplier: a failed prefetch keeps the value, a stale value must refresh (StaleValueBehavior.STRICT)"}
	// JavaContainer is ContainerCredentialsProvider (HttpCredentialsProvider).
	JavaContainer = Spec{Name: "java-v2-container", Advisory: 15 * time.Minute, Mandatory: time.Minute, AtBoundary: true, KeepOnFailure: true, MaxAge: time.Hour,
		Source: "aws-sdk-java-v2 core/auth/src/main/java/software/amazon/awssdk/auth/credentials/internal/HttpCredentialsProvider.java getStaleTime (expiration - 1 min), getPrefetchTime (min(now + 1 h, expiration - 15 min))"}
	// GoProcess is aws.CredentialsCache over processcreds as the config
	// package builds it: no ExpiryWindow. aws-sdk-go-v2 v1.48.0, config v1.33.18.
	GoProcess = Spec{Name: "go-v2-process", Advisory: 0, Mandatory: 0, AtBoundary: true,
		Source: "aws-sdk-go-v2 config/resolve_credentials.go:277 processcreds.NewProvider, wrapped by wrapWithCredentialsCache (no ExpiryWindow); aws/credential_cache.go:98 Retrieve (cached until !Expires.After(now)), :120-127 a failed refresh returns the error (defaultHandleFailToRefresh), :132 ExpiryWindow moves Expires earlier"}
	// GoContainer is aws.CredentialsCache over endpointcreds.
	GoContainer = Spec{Name: "go-v2-container", Advisory: 5 * time.Minute, Mandatory: 5 * time.Minute, AtBoundary: true,
		Source: "aws-sdk-go-v2 config/resolve_credentials.go:372-373 endpointcreds wrapped with ExpiryWindow = 5 * time.Minute; aws/credential_cache.go:98,132 as for processcreds"}
)

// Cache is an SDK's credential cache following a Spec, in front of a
// Fetcher.
type Cache struct {
	Spec    Spec
	Src     Fetcher
	cur     *Creds
	fetched time.Time
	fetches int
}

// Fetches counts the source's runs.
func (c *Cache) Fetches() int { return c.fetches }

func (c *Cache) fetch(ctx context.Context, now time.Time) error {
	c.fetches++
	cr, err := c.Src.Fetch(ctx, now)
	if err != nil {
		return err
	}
	c.cur, c.fetched = &cr, now
	return nil
}

// refreshDue is the Spec's refresh test.
func (c *Cache) refreshDue(now time.Time) bool {
	left := c.cur.Expires.Sub(now)
	if c.Spec.MaxAge > 0 && now.Sub(c.fetched) >= c.Spec.MaxAge {
		return true
	}
	if c.Spec.AtBoundary {
		return left <= c.Spec.Advisory
	}
	return left < c.Spec.Advisory
}

// Sign is one request.
func (c *Cache) Sign(ctx context.Context, now time.Time) (Creds, error) {
	if c.cur == nil {
		if err := c.fetch(ctx, now); err != nil {
			return Creds{}, err
		}
		if !c.Spec.CheckAfterLoad {
			return *c.cur, nil
		}
	}
	if c.refreshDue(now) {
		mandatory := c.cur.Expires.Sub(now) <= c.Spec.Mandatory
		prev := *c.cur
		if err := c.fetch(ctx, now); err != nil && (!c.Spec.KeepOnFailure || mandatory) {
			return Creds{}, err
		}
		if c.Spec.Background && !mandatory {
			return prev, nil
		}
	}
	return *c.cur, nil
}

// LoadOnce is a control: a program that read its credentials once (from
// `stsrotator env` exports, or a credentials file) and never again. It is
// expected to sign with expired credentials; the simulation fails if it
// does not, since then the simulator cannot see an expiry.
type LoadOnce struct {
	Src     Fetcher
	cur     *Creds
	fetches int
}

// Fetches is 1 once loaded.
func (l *LoadOnce) Fetches() int { return l.fetches }

// Sign loads on the first request (until that succeeds) and then signs
// with what it loaded, forever.
func (l *LoadOnce) Sign(ctx context.Context, now time.Time) (Creds, error) {
	if l.cur == nil {
		l.fetches++
		cr, err := l.Src.Fetch(ctx, now)
		if err != nil {
			return Creds{}, err
		}
		l.cur = &cr
	}
	return *l.cur, nil
}

// ErrRefused is what a source returns when it refuses to hand out
// credentials (credential-process's --min-validity, serve's 503).
var ErrRefused = errors.New("source refused")
