package humantime

import (
	"strconv"
	"strings"
	"time"
)

// ClockHint follows an instant that should be in the past but is not: the
// usual cause is a clock running behind the one that wrote it.
const ClockHint = "check the clock"

// Span is d in the shortest exact form people read: "45s", "25m",
// "25m31s", "1h5m", "49h", and for a negative d the same with a leading
// minus ("-1m"): the one formatter for a duration shown as a value (config
// messages, tables), so a sign is never lost. Under an hour it is rounded
// to the second, from an hour on to the minute; what rounds to zero is
// "0s", unsigned. Sentences about an instant say the sign in words
// instead, through Since, Until or Left.
func Span(d time.Duration) string {
	m := magnitude(d)
	if d < 0 && m != "0s" {
		return "-" + m
	}
	return m
}

// magnitude is Span without the sign, for the functions that say the sign
// in words.
func magnitude(d time.Duration) string {
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

// Signed is Span with a sign for every non-zero d: for tables and
// offsets where a number, not a sentence, is shown ("-25m", "+2h").
// Zero has no sign.
func Signed(d time.Duration) string {
	switch r := magnitude(d); {
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
	case magnitude(d) == "0s":
		return "just now"
	case d < 0:
		return magnitude(d) + " in the future — " + ClockHint
	}
	return magnitude(d) + " ago"
}

// Until describes t, a deadline, seen at now: "in 25m", "now", or for a
// t already passed "25m ago".
func Until(now, t time.Time) string {
	d := t.Sub(now)
	switch {
	case magnitude(d) == "0s":
		return "now"
	case d < 0:
		return magnitude(d) + " ago"
	}
	return "in " + magnitude(d)
}

// Left describes an expiry exp seen at now: "25m left" while it lies
// ahead, and from exp on "expired 25m ago" (or "expired just now").
func Left(now, exp time.Time) string {
	d := exp.Sub(now)
	switch {
	case d > 0:
		return magnitude(d) + " left"
	case magnitude(d) == "0s":
		return "expired just now"
	}
	return "expired " + magnitude(d) + " ago"
}

// Remaining is Left for a validity already measured as a duration (the
// rotator's validitySeconds, a status row's time left): positive reads
// "25m left", zero or negative "expired 25m ago".
func Remaining(d time.Duration) string {
	var epoch time.Time
	return Left(epoch, epoch.Add(d))
}
