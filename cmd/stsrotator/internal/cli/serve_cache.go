package cli

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/stsrotator/stsrotator/shared/credprovider"
)

// serveMinValidity is how much validity a cached key must have left for
// serve to hand it out at once. Below it (the last minutes before
// Expiration, when every SDK refreshes its own copy) a request waits for
// the re-read, because the answer may be a newer key the client needs.
const serveMinValidity = credprovider.DefaultExpiryWindow

// servedCache answers from a valid cached key at once and re-reads the
// secret in the background, one read at a time. Container clients give
// serve about a second (the AWS SDK for JavaScript v3's
// fromContainerMetadata: 1 s, no retry; PHP's ECS provider: 1 s), while a
// GetSecretValue may take longer; a request waits for Secrets Manager only
// when nothing valid (with serveMinValidity left) is cached: at the first
// request, or when the cached key is about to expire.
//
// p decides when the secret is due for a re-read (its refresh hint, its
// max age) and shares one read among its callers; servedCache only keeps
// the request off that read's path.
type servedCache struct {
	p   *credprovider.Provider
	now func() time.Time
	// logf says a background re-read failed; nil for silent.
	logf func(string, ...any)

	cur atomic.Pointer[cachedKey]
	// refreshing is true while a background re-read runs; wg counts them
	// for wait.
	refreshing atomic.Bool
	wg         sync.WaitGroup
}

// cachedKey is a key servedCache holds and when it first got it.
type cachedKey struct {
	creds aws.Credentials
	since time.Time
}

// Retrieve is the credentials to serve now.
func (c *servedCache) Retrieve(ctx context.Context) (aws.Credentials, error) {
	if cur := c.cur.Load(); cur != nil && c.now().Add(serveMinValidity).Before(cur.creds.Expires) {
		c.refreshBehind()
		return cur.creds, nil
	}
	creds, err := c.p.Retrieve(ctx)
	if err != nil {
		return aws.Credentials{}, err
	}
	c.store(creds)
	return creds, nil
}

// store keeps creds, and when the key changes, when it did.
func (c *servedCache) store(creds aws.Credentials) {
	if cur := c.cur.Load(); cur != nil && cur.creds == creds {
		return
	}
	c.cur.Store(&cachedKey{creds: creds, since: c.now()})
}

// LastUpdated is when the key served now was first read (IMDS's
// LastUpdated); zero before the first read.
func (c *servedCache) LastUpdated() time.Time {
	if cur := c.cur.Load(); cur != nil {
		return cur.since
	}
	return time.Time{}
}

// refreshBehind asks p in the background, unless an earlier ask still
// runs. p answers from its own cache without a call until the secret is
// due, so most asks end at once.
func (c *servedCache) refreshBehind() {
	if !c.refreshing.CompareAndSwap(false, true) {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer c.refreshing.Store(false)
		creds, err := c.p.Retrieve(context.Background())
		if err != nil {
			// Still serving the cached key; the next request asks again.
			if c.logf != nil {
				c.logf("background re-read failed, still serving the cached key: %s", oneLine(err.Error()))
			}
			return
		}
		c.store(creds)
	}()
}

// wait blocks until no background re-read runs.
func (c *servedCache) wait() { c.wg.Wait() }
