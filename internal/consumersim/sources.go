package consumersim

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/stsrotator/stsrotator/shared/credprovider"
)

// SecretReader is the one call consumers make, with the SDK's signature.
type SecretReader interface {
	GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// MinValidity is `stsrotator credential-process`'s default --min-validity
// (cmd/stsrotator/internal/cli/credentials.go DefaultMinValidity): it
// refuses a key with less left.
const MinValidity = time.Minute

// Process is one run of `stsrotator credential-process` per Fetch: what
// the CLI does (cmd/stsrotator/internal/cli/credentials.go fetch): a new
// credprovider.Provider (a new process remembers nothing), one Retrieve,
// then the --min-validity refusal.
type Process struct {
	Secrets  SecretReader
	SecretID string
	Now      func() time.Time
}

// Fetch runs the process once.
func (p Process) Fetch(ctx context.Context, now time.Time) (Creds, error) {
	prov := credprovider.New(p.Secrets, "", credprovider.WithSecretID(p.SecretID), credprovider.WithClock(p.Now), quiet)
	c, err := prov.Retrieve(ctx)
	if err != nil {
		return Creds{}, err
	}
	if left := c.Expires.Sub(now); left < MinValidity {
		return Creds{}, fmt.Errorf("%w: %s left, under --min-validity %s", ErrRefused, left, MinValidity)
	}
	return Creds{Key: c.AccessKeyID, Expires: c.Expires}, nil
}

// Serve is `stsrotator serve`'s cache, shared by every consumer of one
// target's endpoint, built with the options serve builds it with
// (cmd/stsrotator/internal/cli/serve.go servedProvider: WithMaxAge of
// DefaultRetryAfter, the injected clock). A Retrieve error is the 503 the
// endpoint answers.
func Serve(api SecretReader, secretID string, now func() time.Time) *credprovider.Provider {
	return credprovider.New(api, "", credprovider.WithSecretID(secretID), credprovider.WithClock(now),
		credprovider.WithMaxAge(credprovider.DefaultRetryAfter), quiet)
}

// quiet drops the warning a provider gives when a re-read fails and it
// keeps serving the cached key: a simulated day at 30 % faults gives
// thousands, and the figures count what consumers saw instead.
var quiet = credprovider.WithReadFailure(func(error, string, time.Time) {})

// Endpoint is one GET of serve's endpoint.
type Endpoint struct{ P *credprovider.Provider }

// Fetch asks serve.
func (e Endpoint) Fetch(ctx context.Context, _ time.Time) (Creds, error) {
	c, err := e.P.Retrieve(ctx)
	if err != nil {
		return Creds{}, fmt.Errorf("%w: 503 %v", ErrRefused, err)
	}
	return Creds{Key: c.AccessKeyID, Expires: c.Expires}, nil
}

// Counted counts the calls that pass through it; safe for concurrent use
// (credprovider reads on its own goroutine).
type Counted struct {
	API SecretReader
	n   atomic.Int64
}

// GetSecretValue counts and passes the call on.
func (c *Counted) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	c.n.Add(1)
	return c.API.GetSecretValue(ctx, in, opts...)
}

// Calls is how many calls passed.
func (c *Counted) Calls() int { return int(c.n.Load()) }

// GoProvider is a Go program using shared/credprovider directly with its
// default options (the rotator's refreshAt hint, else 5 minutes before
// expiry; 30 s between re-reads of a stale or failing secret).
type GoProvider struct {
	P   *credprovider.Provider
	api *Counted
}

// NewGoProvider reads secretID with api on the clock now.
func NewGoProvider(api SecretReader, secretID string, now func() time.Time) *GoProvider {
	c := &Counted{API: api}
	return &GoProvider{P: credprovider.New(c, "", credprovider.WithSecretID(secretID), credprovider.WithClock(now), quiet), api: c}
}

// Sign retrieves.
func (g *GoProvider) Sign(ctx context.Context, _ time.Time) (Creds, error) {
	c, err := g.P.Retrieve(ctx)
	if err != nil {
		return Creds{}, err
	}
	return Creds{Key: c.AccessKeyID, Expires: c.Expires}, nil
}

// Fetches counts the program's GetSecretValue calls.
func (g *GoProvider) Fetches() int { return g.api.Calls() }
