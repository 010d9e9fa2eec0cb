package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/stsrotator/stsrotator/shared/humantime"
)

// The refresh floor. A target's refreshBefore R must
//   - keep its consumers' refresh window W: R ≥ W + one sweep period + the
//     jitter J, where the sweep period is a third of the smallest
//     refreshBefore of all targets (sweepFor), so at most sweepFor(R);
//   - leave MinScheduleInterval between scheduled writes: R ≤ session − J −
//     MinScheduleInterval (maxRefreshBefore);
//   - be at least MinRefreshBefore.
// Because the sweep period depends on R itself, a hint computed from the
// sweep period of the value written does not settle (10m → "at least 20m"
// → "at least 23m"); the hints below search the same inequality the
// validator applies instead.

// keepsWindow reports whether refreshBefore r keeps window w under jitter j
// whatever the other targets declare: they can only shorten the sweep
// period, never lengthen it past sweepFor(r).
func keepsWindow(r, w, j time.Duration) bool {
	return r >= MinRefreshBefore && r >= w+sweepFor(r)+j
}

// leastRefreshBefore is the smallest whole-minute refreshBefore from which
// every value up keeps window w under jitter j: 25m for the 15m window and
// 2m of jitter (the default, 1.5 × (w + j) rounded up, is 26m). Every
// value from 1.5 × (w + j) up keeps the window (a sweep period is at most a
// third of it); below, the scan goes down a minute at a time while the
// window is kept. Within a whole minute the margin r − sweepFor(r) only
// grows, and it drops only where r crosses a multiple of 3m, a whole
// minute the scan checks, so no value above the result fails.
func leastRefreshBefore(w, j time.Duration) time.Duration {
	r := max(ceilMinute((w+j)*3/2), MinRefreshBefore)
	for r-time.Minute >= MinRefreshBefore && keepsWindow(r-time.Minute, w, j) {
		r -= time.Minute
	}
	return r
}

// maxRefreshBefore is the largest refreshBefore that leaves
// MinScheduleInterval between scheduled writes of session-long
// credentials under jitter j (negative when none does).
func maxRefreshBefore(session, j time.Duration) time.Duration {
	return session - j - MinScheduleInterval
}

// fits reports whether some refreshBefore works for session, w and j.
func fits(session, w, j time.Duration) bool {
	return leastRefreshBefore(w, j) <= maxRefreshBefore(session, j)
}

// defaultRefreshBefore rotates with a third of the session left, but never
// later than 1.5 × (window + jitter), rounded up to the minute, which keeps
// the window whatever the other targets say: 26m for a one-hour session,
// the 15m window and 2m of jitter. A session too short for that but long
// enough for a lower value that still keeps the window (2520 s with the
// defaults) gets the largest value the write interval allows.
func defaultRefreshBefore(session, window, jitter time.Duration) time.Duration {
	r := max(session/3, ceilMinute((window+jitter)*3/2), MinRefreshBefore)
	if mx := maxRefreshBefore(session, jitter); r > mx && leastRefreshBefore(window, jitter) <= mx {
		return mx
	}
	return r
}

// MinSessionFor is the shortest durationSeconds for which some
// refreshBefore keeps the consumer refresh window and still leaves
// MinScheduleInterval between scheduled writes (the default refreshBefore
// then finds it): 2520 s (42m) for the 15m window and 2m of jitter, 1320 s
// for a 0s window and 2m of jitter, 1200 s for 0s and 0s. Above STS's 900
// in every case: one write per MinScheduleInterval alone takes 15 minutes
// of the session.
func MinSessionFor(window, jitter time.Duration) time.Duration {
	d := leastRefreshBefore(window, jitter) + jitter + MinScheduleInterval
	return max(MinDuration, d.Truncate(time.Second)+ceilSecond(d%time.Second))
}

// below is the largest whole minute under d (negative for d ≤ 0).
func below(d time.Duration) time.Duration {
	if t := d.Truncate(time.Minute); t < d {
		return t
	}
	return d - time.Minute
}

func ceilSecond(d time.Duration) time.Duration {
	if d > 0 {
		return time.Second
	}
	return 0
}

// floorFixes lists the ways out for a target whose session, window and
// jitter leave no refreshBefore that works, each a change that the
// validator accepts: a longer session (with iam-user when the role's
// chaining cap is in the way), a lower window (the user's choice, since
// only they know their SDKs), less jitter. rbSet says whether the target
// writes refreshBefore, so each way out names the value to write with it.
func floorFixes(session, w, j time.Duration, source string, rbSet bool) []string {
	var out []string
	withRB := func(s string, r time.Duration) string {
		if rbSet {
			return s + " and refreshBefore to " + humantime.Span(r)
		}
		return s
	}
	if minD := MinSessionFor(w, j); minD <= MaxIAMUserDuration {
		s := fmt.Sprintf("set durationSeconds to %d (or more)", int(minD/time.Second))
		if minD > MaxDuration && source != SourceIAMUser {
			s = fmt.Sprintf("set sourceCredentials to %s (role chaining caps %s targets at 3600 s) and durationSeconds to %d (or more)", SourceIAMUser, SourceRole, int(minD/time.Second))
		}
		out = append(out, withRB(s, leastRefreshBefore(w, j)))
	}
	for lw := below(w); lw >= 0; lw -= time.Minute {
		if fits(session, lw, j) {
			out = append(out, withRB("set consumerRefreshWindow to "+humantime.Span(lw), leastRefreshBefore(lw, j))+
				fmt.Sprintf(", only if every consumer of this target re-fetches credentials less than %s before they expire (docs/consumers.md lists each SDK's window)", humantime.Span(lw)))
			break
		}
	}
	for lj := below(j); lj >= 0; lj -= time.Minute {
		if fits(session, w, lj) {
			out = append(out, withRB("set rotator.jitter to "+humantime.Span(lj), leastRefreshBefore(w, lj))+" (it applies to every target; 0s turns jitter off)")
			break
		}
	}
	return out
}

// refreshBeforeFix is the fix for an explicit refreshBefore the validator
// refused: the value nearest to it that works, with the range that does,
// or, when no value works for this session, window and jitter, a plain
// statement of that and floorFixes.
func refreshBeforeFix(rb, session, w, j time.Duration, source string) string {
	// hi is shown, so it is cut to the whole minute Span would otherwise
	// round it up to (lo is a whole minute already, and at most hi).
	lo, hi := leastRefreshBefore(w, j), maxRefreshBefore(session, j)
	if lo <= hi {
		hi = hi.Truncate(time.Minute)
	}
	if lo > hi {
		return fmt.Sprintf("no refreshBefore works for %d-second sessions with consumerRefreshWindow %s and rotator.jitter %s: keeping the window needs at least %s, and one scheduled write per %s allows at most %s; %s",
			int(session/time.Second), humantime.Span(w), humantime.Span(j), humantime.Span(lo), humantime.Span(MinScheduleInterval), humantime.Span(hi), strings.Join(floorFixes(session, w, j, source, true), "; or "))
	}
	near := lo
	if rb > hi {
		near = hi
	}
	span := fmt.Sprintf("any value from %s to %s works", humantime.Span(lo), humantime.Span(hi))
	if lo == hi {
		span = "the only value that works"
	}
	return fmt.Sprintf("set refreshBefore to %s (%s: at least %s keeps the SDKs' %s refresh window with rotator.jitter %s and the sweep period it sets, at most %s leaves %s between scheduled writes)",
		humantime.Span(near), span, humantime.Span(lo), humantime.Span(w), humantime.Span(j), humantime.Span(hi), humantime.Span(MinScheduleInterval))
}
