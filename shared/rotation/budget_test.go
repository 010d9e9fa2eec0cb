// Budget tests time things, so they run without the race detector's
// slowdown, one package at a time: see the test target in the Makefile.

//go:build !race

package rotation

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/shared/config"
)

// sweepBudget runs one sweep of n due targets with latency added to every
// AWS call and returns wall time, the floor n × calls × latency /
// concurrency, and the calls made per rotation.
func sweepBudget(tb testing.TB, n, concurrency int, latency time.Duration) (wall, floor time.Duration, perRotation float64) {
	env := awstest.Start(tb)
	ctx := awstest.Context(tb)
	clk := awstest.NewClock(time.Now())
	eng := newEngine(env, clk)
	targets := make([]config.Target, n)
	for i := range targets {
		name := fmt.Sprintf("bench-%04d", i)
		targets[i] = config.Target{
			Name: name, RoleArn: "arn:aws:iam::000000000000:role/" + name, SessionName: "stsrotator-" + name,
			Duration: time.Hour, RefreshBefore: 20 * time.Minute, SecretName: env.Unique(name),
		}
	}
	env.Transport.Latency = latency
	start := time.Now()
	_, sum := eng.Sweep(ctx, targets, concurrency, Request{})
	wall = time.Since(start)
	if len(sum.Rotated) != n {
		tb.Fatalf("want %d rotated, got %d (failed %d: %+v)", n, len(sum.Rotated), len(sum.Failed), sum.Failed)
	}
	perRotation = float64(env.Transport.Total()) / float64(n)
	floor = time.Duration(float64(n) * perRotation * float64(latency) / float64(concurrency))
	return wall, floor, perRotation
}

// callBaseline measures, in the same run, what the same number of bare
// calls (GetCallerIdentity) at the same concurrency and latency cost: the
// floor as this machine and emulator actually deliver it.
func callBaseline(tb testing.TB, calls, concurrency int, latency time.Duration) time.Duration {
	env := awstest.Start(tb)
	ctx := awstest.Context(tb)
	env.Transport.Latency = latency
	sem := make(chan struct{}, concurrency)
	errs := make(chan error, calls)
	start := time.Now()
	for range calls {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			_, err := env.STS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			errs <- err
		}()
	}
	for range calls {
		if err := <-errs; err != nil {
			tb.Fatal(err)
		}
	}
	return time.Since(start)
}

// Issue budget: a sweep of 1,000 due targets at 20 ms per AWS call
// finishes within 1.5× the floor set by the calls it must make.
func TestSweepWithinLatencyBudget(t *testing.T) {
	const n, conc, lat = 1000, 16, 20 * time.Millisecond
	wall, floor, per := sweepBudget(t, n, conc, lat)
	floor3 := time.Duration(n * 3 * int(lat) / conc)
	base := callBaseline(t, int(per*n), conc, lat)
	t.Logf("1000 due targets, concurrency %d, +%s per call: wall %s; %.1f calls per rotation; floor %s (ratio %.2f); measured baseline of %d bare calls %s (ratio %.2f); issue's 3-call floor %s (ratio %.2f)",
		conc, lat, wall.Round(time.Millisecond), per, floor, float64(wall)/float64(floor), int(per*n), base.Round(time.Millisecond), float64(wall)/float64(base), floor3, float64(wall)/float64(floor3))
	if per != 4 {
		t.Errorf("calls per rotation = %.2f, want 4 (read, assume, verify, write)", per)
	}
	if wall > floor*3/2 {
		t.Fatalf("sweep took %s, more than 1.5 × the %s floor", wall, floor)
	}
}
