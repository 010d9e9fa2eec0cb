package lambdaenv

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
)

func TestNewRetryer(t *testing.T) {
	r := NewRetryer()
	throttled := &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}
	if r.MaxAttempts() != AWSMaxAttempts || !r.IsErrorRetryable(throttled) {
		t.Fatalf("max attempts %d, retries throttling %v", r.MaxAttempts(), r.IsErrorRetryable(throttled))
	}
	// The SDK's default quota refuses the 101st retry token (500 / 5); a
	// sustained failure share must never switch retries off.
	for i := range 1000 {
		if _, err := r.GetRetryToken(context.Background(), throttled); err != nil {
			t.Fatalf("retry %d refused: %v", i+1, err)
		}
	}
	// Production keeps the SDK's backoff: retries wait.
	if d, err := r.RetryDelay(3, throttled); err != nil || d <= 0 {
		t.Fatalf("third retry waits %s (%v), want the SDK's backoff", d, err)
	}
	// Tests can drop the wait and nothing else.
	fast := NewRetryer(func(o *retry.StandardOptions) {
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
	})
	if d, _ := fast.RetryDelay(3, throttled); d != 0 || fast.MaxAttempts() != AWSMaxAttempts {
		t.Fatalf("without backoff: delay %s, attempts %d", d, fast.MaxAttempts())
	}
}
