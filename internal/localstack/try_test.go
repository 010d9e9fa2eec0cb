package localstack

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Issue 21 §6: the commands make local printed carried internal paths
// (--config cdk.out/asset.…/stsrotator.yaml --function
// stsrotator-shard234-rotator0) that worked only from the checkout, status
// showed a 45-minute session with 1h25m LEFT (the demo's clock ran ahead
// of the CLI's), and a report sent from another shell showed nothing in
// the demo terminal.
var (
	reInternalPath = regexp.MustCompile(`cdk\.out|asset\.[0-9a-f]{8,}|stsrotator-shard\d+|-rotator\d+\b|--function\b`)
	reEmulatorLog  = regexp.MustCompile(`(^|\s)(time=\S+ level=|level=(INFO|WARN|DEBUG|ERROR))|^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} |"msg":`)
	reStatusLeft   = regexp.MustCompile(`\s((?:\d+h)?(?:\d+m)?(?:\d+s)?)\s+\[`)
)

// plainLine says what is wrong with a line a make local user reads, or "".
func plainLine(line string) string {
	switch {
	case strings.ContainsRune(line, '\x1b') || strings.ContainsRune(line, '\r'):
		return "a terminal escape code or carriage return (a spinner)"
	case reInternalPath.MatchString(line):
		return "an internal path or function name (" + reInternalPath.FindString(line) + ")"
	case reEmulatorLog.MatchString(line):
		return "an emulator or function log line"
	case reGoDuration.MatchString(line):
		return "a Go duration (" + reGoDuration.FindString(line) + "); humantime.Span says 8m, not 8m0s"
	case strings.Contains(line, "(s) "):
		return `a "(s)" plural`
	}
	return ""
}

// triesWork runs every command make local suggests, as printed, from an
// empty directory in a shell with the printed export line, while the
// stack runs: none may name an internal path, each must work, status
// must count LEFT on the demo clock, and a report must come back as the
// reactor's decision.
func triesWork(ctx context.Context, t *testing.T, s *Stack, res Result) {
	t.Helper()
	setup, cmds := s.Try(res)
	for _, l := range setup {
		if why := plainLine(l); why != "" && !strings.HasPrefix(l, "export ") {
			t.Errorf("make local prints %q: %s", l, why)
		}
	}
	for _, c := range cmds {
		if why := plainLine(c[0]); why != "" {
			t.Errorf("make local suggests %q: %s", c[0], why)
		}
		out, err := s.Shell(ctx, c[0])
		if err != nil {
			t.Errorf("%q, run as printed from another directory: %v\n%s", c[0], err, out)
			continue
		}
		switch {
		case strings.HasPrefix(c[0], "stsrotator status"):
			for _, tg := range s.Config.Targets {
				row := ""
				for _, l := range strings.Split(out, "\n") {
					if strings.HasPrefix(l, tg.Name+" ") {
						row = l
					}
				}
				m := reStatusLeft.FindStringSubmatch(row)
				if m == nil {
					t.Errorf("status has no LEFT for %s:\n%s", tg.Name, out)
					continue
				}
				left, err := time.ParseDuration(m[1])
				if err != nil || left > tg.Duration {
					t.Errorf("status shows %s LEFT for %s, whose sessions last %s: LEFT is not on the demo clock (clock %s ahead)\n%s", m[1], tg.Name, tg.Duration, s.Offset(), out)
				}
			}
		case strings.HasPrefix(c[0], "stsrotator report-expired"):
			d, ok := s.NextDecision(ctx, 30*time.Second)
			if !ok || d.Target != s.Config.Targets[0].Name || !strings.HasPrefix(d.Describe(), "reactor: report for "+d.Target) {
				t.Errorf("a report from another shell (%q) reached no reactor decision the demo could show: %+v", c[0], d)
			}
		}
	}
}

// reGoDuration is time.Duration's String form with a zero tail (8m0s,
// 1h0m0s), which people read as noise; humantime.Span prints 8m.
var reGoDuration = regexp.MustCompile(`\b\d+[hm]0s\b`)

func TestPlainLine(t *testing.T) {
	for _, c := range []struct {
		line string
		bad  bool
		why  string
	}{
		{"[12:00:00.000] minted deploy-bot: key ASIA…4bda, valid 45m, stored in Secrets Manager as version 2fa65b2b of stsrotator/deploy-bot", false, "the story itself"},
		{"    stsrotator revoke --target deploy-bot --yes --config cdk.out/asset.e9b0c1d2e3/stsrotator.yaml", true, "an assembly path"},
		{"    stsrotator rotate --target x --function stsrotator-shard234-rotator0", true, "an internal function name"},
		{`time=2026-12-04T23:00:00Z level=INFO msg="delivered event to SQS"`, true, "kumo's INFO line"},
		{`{"time":"2026-12-04T23:00:00Z","level":"INFO","msg":"expired-token signal"}`, true, "a function's JSON log"},
		{"\x1b[1G\x1b[0K⠙", true, "npm's spinner"},
		{"[00:34:13.846] up: 3 secrets in Secrets Manager, 2 EventBridge rules, 3 rotator function(s) on a 8m0s schedule", true, "Go's duration form and a (s) plural"},
		{"[00:34:15.500 (clock +20m)] clock moved 20m ahead: deploy-bot is inside its refreshBefore (26m); the schedule ticks", false, "humantime's durations"},
		{"    deploy-bot       ASIA…ac1f  1         2026-12-05T01:23:20Z 44m59s left", false, "a duration with seconds is not Go's zero tail"},
	} {
		if got := plainLine(c.line) != ""; got != c.bad {
			t.Errorf("%s: plainLine(%q) flags it: %v, want %v", c.why, c.line, got, c.bad)
		}
	}
}
