package lambdaenv

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

// NewRetryer is the retryer of every function's AWS clients: the SDK's
// standard retryer (its choice of retryable errors, its jittered
// exponential backoff) with AWSMaxAttempts and without the client-side
// retry quota. The quota, 500 tokens per client at 5 per retry, drains
// under a sustained failure share and then stops every retry, while a
// warm function keeps its clients, so one bad hour would leave targets
// unrotated until they expire. stsrotator's retry volume is bounded
// without it: AWSMaxAttempts per call, the sweep's concurrency, one sweep
// per interval. The resilience suite uses this retryer too, passing only
// an option that removes the backoff's wall-clock wait.
func NewRetryer(opts ...func(*retry.StandardOptions)) aws.Retryer {
	return retry.NewStandard(append([]func(*retry.StandardOptions){func(o *retry.StandardOptions) {
		o.MaxAttempts = AWSMaxAttempts
		o.RateLimiter = ratelimit.None
	}}, opts...)...)
}
