package humantime

import (
	"strconv"
	"strings"
	"time"
)

// ClockHint follows an instant that should be in the past but is not: the
// usual cause is a clock running behind the one that wrote it.
const ClockHint = "check the clock"

// Span is the magnitude of d in the shortest exact form people read:
// "45s", "25m", "25m31s", "1h5m", "49h". Under an hour it is rounded to
// the second, from an hour on to the minute. The sign is dropped on
// purpose: callers say it in words, through Since, Until or Left, or with
// Signed.
func Span(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	if d >= time.Hour {
		d = d.Round(time.Minute)
	} else {
		d = d.Round(time.Second)
	}
	h, m, s := int64(d/time.Hour), int64(d%time.Hour/time.Minute), int64(d%time.Minute/time.Second)
	var b strings.Builder
	if h > 0 {
		b.WriteString(strconv.FormatInt(h, 10) + "h")
	}
	if m > 0 {
		b.WriteString(strconv.FormatInt(m, 10) + "m")
	}
	if s > 0 || b.Len() == 0 {
		b.WriteString(strconv.FormatInt(s, 10) + "s")
	}
	return b.String()
}

// Signed is Span with a leading minus for negative d: for tables and
// offsets where a number, not a sentence, is shown ("-25m", "+2h").
// Zero has no sign.
func Signed(d time.Duration) string {
	switch r := Span(d); {
	case d < 0 && r != "0s":
		return "-" + r
	case d > 0 && r != "0s":
		return "+" + r
	default:
		return r
	}
}

// Since describes t, an event that should lie in the past, seen at now:
// "25m ago", "just now" within half a second, and for a t after now
// "25m in the future — check the clock".
func Since(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case Span(d) == "0s":
		return "just now"
	case d < 0:
		return Span(d) + " in the future — " + ClockHint
	}
	return Span(d) + " ago"
}

// Until describes t, a deadline, seen at now: "in 25m", "now", or for a
// t already passed "25m ago".
func Until(now, t time.Time) string {
	d := t.Sub(now)
	switch {
	case Span(d) == "0s":
		return "now"
	case d < 0:
		return Span(d) + " ago"
	}
	return "in " + Span(d)
}

// Left describes an expiry exp seen at now: "25m left" while it lies
// ahead, and from exp on "expired 25m ago" (or "expired just now").
func Left(now, exp time.Time) string {
	d := exp.Sub(now)
	switch {
	case d > 0:
		return Span(d) + " left"
	case Span(d) == "0s":
		return "expired just now"
	}
	return "expired " + Span(d) + " ago"
}

// Remaining is Left for a validity already measured as a duration (the
// rotator's validitySeconds, a status row's time left): positive reads
// "25m left", zero or negative "expired 25m ago".
func Remaining(d time.Duration) string {
	var epoch time.Time
	return Left(epoch, epoch.Add(d))
}
