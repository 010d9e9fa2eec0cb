package config

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// hintConfig is one target's timing, rendered as a config file.
type hintConfig struct {
	dur              int
	win, jitter, rb  string
	source           string
	otherRefreshBefo string // a second target's refreshBefore, "" for none
}

func (c hintConfig) yaml() string {
	src := fmt.Sprintf("rotator: {jitter: %s}\ntargets:\n  - name: app\n    roleArn: arn:aws:iam::123456789012:role/App\n    durationSeconds: %d\n", c.jitter, c.dur)
	if c.source != "" {
		src += "    sourceCredentials: " + c.source + "\n"
	}
	if c.win != "" {
		src += "    consumerRefreshWindow: " + c.win + "\n"
	}
	if c.rb != "" {
		src += "    refreshBefore: " + c.rb + "\n"
	}
	if c.otherRefreshBefo != "" {
		src += "  - name: other\n    roleArn: arn:aws:iam::123456789012:role/Other\n    refreshBefore: " + c.otherRefreshBefo + "\n"
	}
	return src
}

// reSetting reads one "set X to V" (or "and X to V") of a printed fix.
var reSetting = regexp.MustCompile(`(?:set|and) (durationSeconds|refreshBefore|consumerRefreshWindow|rotator\.jitter|sourceCredentials) to ([^\s,;()]+)`)

// follow applies one way out, as printed, to c.
func follow(t *testing.T, c hintConfig, option string) hintConfig {
	t.Helper()
	ms := reSetting.FindAllStringSubmatch(option, -1)
	if len(ms) == 0 {
		t.Fatalf("the fix %q names no value to set", option)
	}
	for _, m := range ms {
		switch m[1] {
		case "durationSeconds":
			if _, err := fmt.Sscan(m[2], &c.dur); err != nil {
				t.Fatalf("durationSeconds %q in %q: %v", m[2], option, err)
			}
		case "refreshBefore":
			c.rb = m[2]
		case "consumerRefreshWindow":
			c.win = m[2]
		case "rotator.jitter":
			c.jitter = m[2]
		case "sourceCredentials":
			c.source = m[2]
		}
	}
	return c
}

// appErrors are the errors about target app's timing.
func appErrors(err error) []*FieldError {
	var es Errors
	if !errors.As(err, &es) {
		return nil
	}
	var out []*FieldError
	for _, e := range es {
		if strings.HasPrefix(e.Field, "targets[0](app).") {
			out = append(out, e)
		}
	}
	return out
}

// Issue 15 §1: the hints the trial followed, each now a value that passes
// at the first try.
func TestRefreshBeforeHintSettles(t *testing.T) {
	for _, c := range []struct {
		why  string
		cfg  hintConfig
		want string
	}{
		{"1800 s with the default window and jitter: no value works, and the message says so",
			hintConfig{dur: 1800, jitter: "2m", rb: "10m"},
			"no refreshBefore works for 1800-second sessions with consumerRefreshWindow 15m and rotator.jitter 2m: keeping the window needs at least 25m, and one scheduled write per 15m allows at most 13m; set durationSeconds to 2520 (or more) and refreshBefore to 25m; or set consumerRefreshWindow to 7m and refreshBefore to 13m"},
		{"2580 s at 20m: 25m, not 23m (the sweep period of 23m is 7m, not 6m)",
			hintConfig{dur: 2580, jitter: "2m", rb: "20m"}, "set refreshBefore to 25m (any value from 25m to 26m works"},
		{"2580 s at 21m: 25m, not 24m",
			hintConfig{dur: 2580, jitter: "2m", rb: "21m"}, "set refreshBefore to 25m (any value from 25m to 26m works"},
		{"2580 s at 23m: 25m, not 24m (24m's sweep period is 8m)",
			hintConfig{dur: 2580, jitter: "2m", rb: "23m"}, "set refreshBefore to 25m (any value from 25m to 26m works"},
		{"a value above the range gets the top of the range",
			hintConfig{dur: 2580, jitter: "2m", rb: "30m"}, "set refreshBefore to 26m (any value from 25m to 26m works"},
		{"1800 s without jitter: lowering the jitter alone cannot help, the window can",
			hintConfig{dur: 1800, jitter: "0s", rb: "10m"}, "set consumerRefreshWindow to 10m and refreshBefore to 14m"},
		{"2400 s: the largest jitter that works is offered, with the refreshBefore that then works",
			hintConfig{dur: 2400, jitter: "2m", rb: "10m"}, "set rotator.jitter to 1m and refreshBefore to 23m"},
		{"a role target whose window needs more than an hour is pointed at iam-user",
			hintConfig{dur: 3600, jitter: "10m", win: "30m", rb: "10m"}, "set sourceCredentials to iam-user (role chaining caps role targets at 3600 s) and durationSeconds to"},
	} {
		t.Run(c.why, func(t *testing.T) {
			_, err := Parse("cfg.yaml", []byte(c.cfg.yaml()))
			es := appErrors(err)
			if len(es) != 1 || !strings.Contains(es[0].Fix, c.want) {
				t.Fatalf("want one error about app whose fix contains %q; got %v", c.want, err)
			}
			for _, option := range strings.Split(es[0].Fix, "; or ") {
				next := follow(t, c.cfg, option)
				if _, err := Parse("cfg.yaml", []byte(next.yaml())); err != nil {
					t.Errorf("following %q still fails:\n%s\n%v", option, next.yaml(), err)
				}
			}
		})
	}
}

// Every refusal of a target's timing, over a grid of sessions, windows,
// jitters and refreshBefore values, either prints ways out that each
// yield a config the validator accepts, or says that no value works (and
// then its other ways out are accepted). A second target with a smaller
// refreshBefore shortens the sweep period; following the hint must work
// with or without it.
func TestFollowingTheTimingHintIsAccepted(t *testing.T) {
	followed, noValue := 0, 0
	for _, dur := range []int{900, 1200, 1320, 1500, 1800, 2400, 2520, 2580, 3600, 7200} {
		for _, win := range []string{"", "0s", "90s", "5m", "10m", "15m", "20m"} {
			for _, jitter := range []string{"0s", "30s", "2m", "5m", "10m"} {
				for _, rb := range []string{"", "-5m", "3m", "10m", "20m", "23m", "26m", "40m", "2h"} {
					for _, other := range []string{"", "5m"} {
						for _, source := range []string{"", SourceIAMUser} {
							c := hintConfig{dur: dur, win: win, jitter: jitter, rb: rb, source: source, otherRefreshBefo: other}
							if dur > 3600 && source == "" {
								continue
							}
							_, err := Parse("cfg.yaml", []byte(c.yaml()))
							es := appErrors(err)
							if err == nil || len(es) == 0 {
								continue
							}
							for _, e := range es {
								if !strings.Contains(e.Field, "refreshBefore") && !strings.Contains(e.Field, "durationSeconds") {
									continue // a window at or above the session length: its own fix
								}
								if strings.Contains(e.Fix, "no refreshBefore works") {
									noValue++
								}
								for _, option := range strings.Split(e.Fix, "; or ") {
									if !reSetting.MatchString(option) {
										t.Fatalf("%s: a fix with no value to set: %q", c.yaml(), option)
									}
									next := follow(t, c, option)
									if _, err := Parse("cfg.yaml", []byte(next.yaml())); appErrors(err) != nil {
										t.Errorf("following %q from\n%s\nyields\n%s\nwhich fails: %v", option, c.yaml(), next.yaml(), err)
									}
									followed++
								}
							}
						}
					}
				}
			}
		}
	}
	t.Logf("%d printed ways out followed and accepted; %d messages said no refreshBefore works", followed, noValue)
	if followed < 500 || noValue < 50 {
		t.Fatalf("the grid should reach both kinds of message: %d followed, %d without a value", followed, noValue)
	}
}

// Every value from the printed least refreshBefore up to the printed most
// is accepted: "any value from … to … works" holds, in whole seconds too,
// across the multiples of 3m where the sweep period steps up.
func TestEveryValueInThePrintedRangeIsAccepted(t *testing.T) {
	reRange := regexp.MustCompile(`any value from (\S+) to (\S+) works`)
	for _, jitter := range []string{"0s", "30s", "2m", "7m"} {
		for _, win := range []string{"0s", "90s", "15m"} {
			c := hintConfig{dur: 3600, win: win, jitter: jitter, rb: "4m"}
			_, err := Parse("cfg.yaml", []byte(c.yaml()))
			es := appErrors(err)
			if len(es) == 0 {
				t.Fatalf("%s: 4m accepted", c.yaml())
			}
			m := reRange.FindStringSubmatch(es[0].Fix)
			if m == nil {
				t.Fatalf("%s: no range in %q", c.yaml(), es[0].Fix)
			}
			lo, hi := mustDuration(t, m[1]), mustDuration(t, m[2])
			for r := lo; r <= hi; r += 20e9 {
				c.rb = r.String()
				if _, err := Parse("cfg.yaml", []byte(c.yaml())); err != nil {
					t.Errorf("refreshBefore %s inside the printed %s–%s is refused: %v", r, m[1], m[2], err)
				}
			}
		}
	}
}

func mustDuration(t *testing.T, s string) time.Duration {
	t.Helper()
	v, err := time.ParseDuration(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Issue 15 §5: a negative duration in a config message keeps its sign, in
// the same form as every other duration shown (humantime.Span), never
// Go's -5m0s.
func TestNegativeDurationsKeepTheirSign(t *testing.T) {
	for _, c := range []struct {
		why, yaml, want string
	}{
		{"a negative refresh window", okTarget + "    consumerRefreshWindow: -1m\n", "targets[0](app).consumerRefreshWindow: -1m is not a refresh window for 1h sessions"},
		{"a negative refreshBefore, in humantime's form", okTarget + "    refreshBefore: -5m\n", "targets[0](app).refreshBefore: -5m leaves the sweep no time"},
		{"a negative jitter", "rotator: {jitter: -90s}\n" + okTarget, "rotator.jitter: -1m30s is outside 0s–10m"},
		{"a negative source key age", "rotator: {sourceKeyMaxAge: -48h}\n" + okTarget, "rotator.sourceKeyMaxAge: -48h is outside 48h–2160h (2–90 days)"},
	} {
		_, err := Parse("cfg.yaml", []byte(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: want %q in %v", c.why, c.want, err)
		}
		if err != nil && regexp.MustCompile(`\d+m0s`).MatchString(err.Error()) {
			t.Errorf("%s: Go's duration form in %v", c.why, err)
		}
	}
}

// Issue 15 §4: every error about a field of a named target names it,
// targets[i](name), however the error arises (decoding a field written
// above name:, a duplicate session tag key, a duplicate secret or log
// group, the value's own checks, the floor across targets).
func TestTargetErrorsCarryTheTargetName(t *testing.T) {
	src := `targets:
  - sessionTags: {Team: a, TEAM: b}
    name: first
    roleArn: arn:aws:iam::123456789012:role/A
    tags: {Env: a, Env: b}
    durationSeconds: ten
    refreshBefor: 10m
    logGroups: [/ecs/a]
  - name: second
    roleArn: not-an-arn
    sessionName: 'has space'
    consumerRefreshWindow: -1m
    sessionTags: {'bad key!': x}
    readers: ['*']
    policyArns: [nope]
  - name: third
    roleArn: arn:aws:iam::123456789012:role/C
    secretName: stsrotator/fourth
    logGroups: [/ecs/a]
    durationSeconds: 1800
    refreshBefore: 10m
  - name: fourth
    roleArn: arn:aws:iam::123456789012:role/D
  - name: third
    roleArn: arn:aws:iam::123456789012:role/E
`
	_, err := Parse("cfg.yaml", []byte(src))
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("want config errors, got %v", err)
	}
	names := []string{"first", "second", "third", "fourth", "third"}
	reTarget := regexp.MustCompile(`^targets\[(\d)\]`)
	seen := map[string]bool{}
	for _, e := range es {
		m := reTarget.FindStringSubmatch(e.Field)
		if m == nil {
			continue
		}
		var i int
		fmt.Sscan(m[1], &i)
		if want := fmt.Sprintf("targets[%d](%s).", i, names[i]); !strings.HasPrefix(e.Field, want) {
			t.Errorf("%s: field lacks the target's name, want prefix %s", e.Error(), want)
		}
		seen[e.Field[strings.Index(e.Field, ").")+2:]] = true
	}
	for _, f := range []string{"sessionTags.TEAM", "tags.Env", "durationSeconds", "refreshBefor", "roleArn", "sessionName", "consumerRefreshWindow", "sessionTags.bad key!", "readers[0]", "policyArns[0]", "logGroups", "refreshBefore", "secretName", "name"} {
		if !seen[f] {
			t.Errorf("no error about %s; the test no longer covers it:\n%v", f, err)
		}
	}
}
