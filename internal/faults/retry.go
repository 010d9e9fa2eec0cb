package faults

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"

	"github.com/stsrotator/stsrotator/shared/lambdaenv"
)

// Retryer is the functions' own retryer (lambdaenv.NewRetryer: the SDK's
// standard retryer, AWSMaxAttempts, no client-side quota) minus the
// waiting: backoff is zero, so a simulated day's thousands of retries take
// no wall time. Which errors are retried, and how often, is the SDK's own
// decision, exactly as in production.
func Retryer() func() aws.Retryer {
	return func() aws.Retryer {
		return lambdaenv.NewRetryer(func(o *retry.StandardOptions) {
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		})
	}
}
