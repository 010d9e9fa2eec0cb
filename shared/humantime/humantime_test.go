package humantime_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stsrotator/stsrotator/shared/humantime"
)

var now = time.Date(2026, 11, 1, 1, 30, 0, 0, time.UTC)

func TestSpan(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
		why  string
	}{
		{0, "0s", "zero still reads as a duration"},
		{400 * time.Millisecond, "0s", "under half a second rounds to zero"},
		{45 * time.Second, "45s", "seconds only"},
		{25 * time.Minute, "25m", "no trailing 0s, unlike time.Duration.String"},
		{25*time.Minute + 31*time.Second, "25m31s", "minutes and seconds under an hour"},
		{-25 * time.Minute, "-25m", "a negative value keeps its sign (issue 15 §5: -1m once read as 1m)"},
		{-5 * time.Minute, "-5m", "the same form as a positive one, not Go's -5m0s"},
		{-300 * time.Millisecond, "0s", "what rounds to zero has no sign"},
		{-(time.Hour + 5*time.Minute), "-1h5m", "hours keep the sign too"},
		{time.Hour + 5*time.Minute + 40*time.Second, "1h6m", "from an hour on, rounded to the minute"},
		{time.Hour, "1h", "whole hours"},
		{49 * time.Hour, "49h", "no days: hours stay comparable"},
		{59*time.Minute + 59*time.Second + 600*time.Millisecond, "1h", "rounding up across the hour"},
	} {
		if got := humantime.Span(c.d); got != c.want {
			t.Errorf("Span(%v) = %q, want %q (%s)", c.d, got, c.want, c.why)
		}
	}
}

func TestSigned(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{-25 * time.Minute, "-25m"}, {2 * time.Hour, "+2h"}, {0, "0s"}, {-300 * time.Millisecond, "0s"},
	} {
		if got := humantime.Signed(c.d); got != c.want {
			t.Errorf("Signed(%v) = %q, want %q", c.d, got, c.want)
		}
	}
}

// The issue's cases: an instant on the wrong side of now must not read
// like one on the right side.
func TestSignKept(t *testing.T) {
	for _, c := range []struct {
		name string
		got  string
		want string
	}{
		{"a past write", humantime.Since(now, now.Add(-25*time.Minute)), "25m ago"},
		{"a write in the future is a clock problem, not 'ago'", humantime.Since(now, now.Add(25*time.Minute)), "25m in the future — check the clock"},
		{"a write this instant", humantime.Since(now, now.Add(200*time.Millisecond)), "just now"},
		{"credentials still valid", humantime.Left(now, now.Add(25*time.Minute)), "25m left"},
		{"expired credentials never show time left", humantime.Left(now, now.Add(-25*time.Minute)), "expired 25m ago"},
		{"expiring this instant", humantime.Left(now, now), "expired just now"},
		{"a fraction of a second left is still left", humantime.Left(now, now.Add(300*time.Millisecond)), "0s left"},
		{"a deadline ahead", humantime.Until(now, now.Add(35*time.Minute+31*time.Second)), "in 35m31s"},
		{"a deadline passed", humantime.Until(now, now.Add(-3*time.Minute)), "3m ago"},
		{"a deadline now", humantime.Until(now, now), "now"},
		{"a measured validity", humantime.Remaining(40 * time.Minute), "40m left"},
		{"a measured validity below zero", humantime.Remaining(-90 * time.Second), "expired 1m30s ago"},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
}

func ExampleLeft() {
	exp := time.Date(2026, 11, 1, 1, 5, 0, 0, time.UTC)
	fmt.Println(humantime.Left(exp.Add(-10*time.Minute), exp))
	fmt.Println(humantime.Left(exp.Add(25*time.Minute), exp))
	// Output:
	// 10m left
	// expired 25m ago
}
