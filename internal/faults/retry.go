package faults

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

// Retryer is the SDK's standard retryer with maxAttempts (the functions
// use 5), minus the waiting: backoff is zero, so a simulated day's
// thousands of retries take no wall time, and the client-side retry quota
// is off (ratelimit.None), because a test that injects a fixed failure
// share for hours would otherwise measure the quota, not the code. Which
// errors are retried, and how often, is the SDK's own decision.
func Retryer(maxAttempts int) func() aws.Retryer {
	return func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = maxAttempts
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
			o.RateLimiter = ratelimit.None
		})
	}
}
