package rotation

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stsrotator/stsrotator/shared/config"
)

// Which cutoffs the rotator accepts: only moments that have passed, give
// or take ClockSkew.
func TestCheckCutoff(t *testing.T) {
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	cases := []struct {
		why    string
		cutoff time.Time
		ok     bool
	}{
		{"no revocation", time.Time{}, true},
		{"a cutoff in the past, as revoke sends it", now.Add(-3 * time.Second), true},
		{"a cutoff at the clock", now, true},
		{"a cutoff ClockSkew ahead is clock skew", now.Add(ClockSkew), true},
		{"a nanosecond more is refused", now.Add(ClockSkew + 1), false},
		{"the reported attack: 23h50m ahead", now.Add(23*time.Hour + 50*time.Minute), false},
	}
	for _, c := range cases {
		err := CheckCutoff(now, c.cutoff)
		if (err == nil) != c.ok || (err != nil && (!errors.Is(err, ErrFutureCutoff) || !strings.Contains(err.Error(), "revokedBefore"))) {
			t.Errorf("%s: CheckCutoff = %v, want ok=%v", c.why, err, c.ok)
		}
	}
}

// Revoked compares to the second, as the policy's DateLessThan on
// aws:TokenIssueTime does, taking the earlier of the rotator's and STS's
// issue times.
func TestRevokedToTheSecond(t *testing.T) {
	cutoff := time.Date(2026, 11, 30, 9, 0, 0, 700*int(time.Millisecond), time.UTC)
	tg := config.Target{Duration: time.Hour}
	issued := func(at time.Time) Current {
		v := secretValue0(at.Truncate(time.Second).Add(time.Hour), []time.Time{at})
		return Current{Exists: true, Value: v}
	}
	cases := []struct {
		why     string
		cur     Current
		revoked bool
	}{
		{"issued in the cutoff's second: the policy does not deny it", issued(cutoff.Add(-300 * time.Millisecond)), false},
		{"issued the second before: denied", issued(cutoff.Add(-time.Second)), true},
		{"issued after: not denied", issued(cutoff.Add(time.Minute)), false},
		{"no cutoff: nothing is revoked", issued(cutoff.Add(-time.Hour)), false},
	}
	for i, c := range cases {
		at := cutoff
		if i == len(cases)-1 {
			at = time.Time{}
		}
		if got := Revoked(tg, c.cur, at); got != c.revoked {
			t.Errorf("%s: Revoked = %v", c.why, got)
		}
	}
}

// A write due only because of a cutoff counts against the forced share of
// the version quota, so invocations with cutoffs can never hold the
// schedule back; one whose version is also expired may use all of it.
func TestDecideRevokedQuota(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tg := config.Target{Name: "app", Duration: time.Hour, RefreshBefore: 15 * time.Minute}
	writes := func(n int) []time.Time {
		out := make([]time.Time, n)
		for i := range out {
			out[i] = now.Add(-time.Duration(n-i) * 10 * time.Minute)
		}
		return out
	}
	cur := func(left time.Duration, n int) Current {
		return Current{Exists: true, VersionID: "v", Value: secretValue0(now.Add(left), writes(n))}
	}
	// One-hour sessions, refreshBefore 15m: a write every 45m, 32 a day
	// kept for the schedule.
	cases := []struct {
		why  string
		cur  Current
		due  bool
		held bool
	}{
		{"67 writes: a cutoff may still force one", cur(50*time.Minute, 67), true, false},
		{"68 writes: the rest is the schedule's", cur(50*time.Minute, 68), false, true},
		{"68 writes, the version expired as well: the whole quota", cur(-time.Minute, 68), true, false},
	}
	for _, c := range cases {
		d := DecideRevoked(now, tg, c.cur, 0, now.Add(-time.Second))
		if d.Due != c.due || !d.HeldUntil.IsZero() != c.held || !d.Urgent {
			t.Errorf("%s: got %+v", c.why, d)
		}
	}
}
