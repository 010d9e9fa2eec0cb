package config

import (
	"fmt"
	"testing"
)

// Every config the validator accepts keeps the current version out of its
// consumers' refresh window until the new one is written, and rewrites a
// secret at most every MinScheduleInterval: a sweep of sessions, windows,
// jitters and refreshBefore values, each accepted one checked at its worst
// case (jitter offset 0, the sweep arriving a whole period after
// refreshAt).
func TestAcceptedConfigsKeepTheFloor(t *testing.T) {
	accepted, refused := 0, 0
	for _, dur := range []int{900, 1200, 1800, 2580, 2700, 3600, 7200, 43200} {
		for _, win := range []string{"", "0s", "5m", "10m", "15m"} {
			for _, jitter := range []string{"0s", "2m", "10m"} {
				for _, rb := range []string{"", "5m", "10m", "20m", "26m", "30m", "45m"} {
					src := fmt.Sprintf("rotator: {jitter: %s}\ntargets:\n  - name: app\n    roleArn: arn:aws:iam::123456789012:role/App\n    sourceCredentials: iam-user\n    durationSeconds: %d\n", jitter, dur)
					if win != "" {
						src += "    consumerRefreshWindow: " + win + "\n"
					}
					if rb != "" {
						src += "    refreshBefore: " + rb + "\n"
					}
					cfg, err := Parse("c.yaml", []byte(src))
					if err != nil {
						refused++
						continue
					}
					accepted++
					tg, sweep := cfg.Targets[0], cfg.SweepInterval()
					// Worst case: refreshAt with no jitter offset, the sweep one
					// whole period later.
					leftAtRotation := tg.RefreshBefore - sweep
					if leftAtRotation < tg.ConsumerRefreshWindow+cfg.Rotator.Jitter {
						t.Errorf("%s: accepted, yet only %s left when the rotation may run (window %s)", src, leftAtRotation, tg.ConsumerRefreshWindow)
					}
					// refreshAt = expiry − refreshBefore − a jitter offset ≥ 0, so
					// it lands before the window opens and serve re-reads the
					// secret before its clients start asking.
					if tg.RefreshBefore < tg.ConsumerRefreshWindow {
						t.Errorf("%s: accepted, yet refreshAt falls inside the %s window", src, tg.ConsumerRefreshWindow)
					}
					if every := tg.Duration - tg.RefreshBefore - cfg.Rotator.Jitter; every < MinScheduleInterval {
						t.Errorf("%s: accepted, yet rewritten every %s", src, every)
					}
				}
			}
		}
	}
	t.Logf("%d configs accepted, %d refused", accepted, refused)
	if accepted < 50 || refused < 50 {
		t.Fatalf("the sweep should hit both sides: %d accepted, %d refused", accepted, refused)
	}
}

// A session long enough for some refreshBefore that keeps the window is
// accepted without one written: 2520 s gets 25m (the usual default, 26m,
// would leave less than 15m between writes), 2519 s is refused.
func TestDefaultRefreshBeforeFitsTheShortestSession(t *testing.T) {
	for _, c := range []struct {
		dur  int
		want string
	}{{2520, "25m0s"}, {2550, "25m30s"}, {2580, "26m0s"}, {3600, "26m0s"}, {7200, "40m0s"}} {
		cfg, err := Parse("c.yaml", fmt.Appendf(nil, "targets:\n  - name: app\n    roleArn: arn:aws:iam::123456789012:role/App\n    sourceCredentials: iam-user\n    durationSeconds: %d\n", c.dur))
		if err != nil {
			t.Fatalf("%d s: %v", c.dur, err)
		}
		if got := cfg.Targets[0].RefreshBefore.String(); got != c.want {
			t.Errorf("%d s: default refreshBefore %s, want %s", c.dur, got, c.want)
		}
	}
	if _, err := Parse("c.yaml", []byte("targets:\n  - name: app\n    roleArn: arn:aws:iam::123456789012:role/App\n    durationSeconds: 2519\n")); err == nil {
		t.Errorf("2519 s accepted: MinSessionFor says 2520")
	}
	if got := MinSessionFor(DefaultConsumerRefreshWindow, DefaultJitter); got.Seconds() != 2520 {
		t.Errorf("MinSessionFor(15m, 2m) = %s, want 2520 s", got)
	}
}
