package rotation

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/internal/faults"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/metrics"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// worstConfig is the config the validator accepts that writes most often:
// 1200 s sessions rotated with 5m left, no jitter and no consumer window
// (an explicit choice), i.e. one scheduled write every 15 minutes.
const worstConfig = "rotator: {jitter: 0s}\ntargets:\n  - name: busy\n    roleArn: arn:aws:iam::000000000000:role/Busy\n" +
	"    durationSeconds: 1200\n    refreshBefore: 5m\n    consumerRefreshWindow: 0s\n"

// The worst config is accepted and every step towards more writes is not.
func TestWorstConfigIsTheEdge(t *testing.T) {
	if _, err := config.Parse("worst.yaml", []byte(worstConfig)); err != nil {
		t.Fatalf("the worst config must be accepted: %v", err)
	}
	for _, worse := range []struct{ from, to string }{
		{"durationSeconds: 1200", "durationSeconds: 1199"},
		{"refreshBefore: 5m", "refreshBefore: 301"},
		{"jitter: 0s", "jitter: 1s"},
	} {
		src := strings.Replace(worstConfig, worse.from, worse.to, 1)
		if _, err := config.Parse("worse.yaml", []byte(src)); err == nil {
			t.Errorf("%s instead of %s writes more often, yet is accepted", worse.to, worse.from)
		}
	}
}

// Issue 15 §2: a simulated 48 hours at the worst accepted config, and at
// the defaults, with a forced rotation requested every 10 minutes on top
// of the schedule (a report storm), never writes more than 100 versions
// of the secret in any rolling 24 hours. Forced rotations held back say
// so and when the next write is allowed; the schedule is never held back,
// so the secret never expires. Before the fix the 10-minute guard alone
// allowed 144.
func TestVersionQuotaOver48Hours(t *testing.T) {
	for _, c := range []struct{ name, src string }{
		{"worst accepted config", worstConfig},
		{"one-hour sessions, defaults", "targets:\n  - name: calm\n    roleArn: arn:aws:iam::000000000000:role/Calm\n"},
	} {
		t.Run(c.name, func(t *testing.T) { simulateQuota(t, c.src) })
	}
}

func simulateQuota(t *testing.T, src string) {
	cfg, err := config.Parse("sim.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	env := awstest.Start(t)
	ctx := awstest.Context(t)
	clk := awstest.NewClock(time.Now())
	eng := newEngine(env, clk)
	eng.STS = faults.SimulatedExpiry{STS: env.STS, Now: clk.Now}
	eng.Jitter = cfg.Rotator.Jitter
	// Thousands of attempts: log failures only, and drop the metrics.
	eng.Log = slog.New(slog.NewJSONHandler(awstest.Logs, &slog.HandlerOptions{Level: slog.LevelError}))
	eng.Emit = metrics.NewWriter(io.Discard, clk.Now)
	tg := cfg.Targets[0]
	tg.SecretName = env.Unique(tg.SecretName)
	sweep := cfg.SweepInterval()

	var writes []time.Time
	scheduled, forced, held := 0, 0, 0
	start := clk.Now()
	// Every result but a failure carries the current version's expiry, so
	// the secret's validity is followed without extra reads (the race
	// detector slows each call by an order of magnitude).
	var expires time.Time
	seen := func(r Result) {
		if !r.Expires.IsZero() {
			expires = r.Expires
		}
	}
	for minute := 0; minute < 48*60; minute++ {
		if time.Duration(minute)*time.Minute%sweep == 0 {
			res := eng.Rotate(ctx, tg, Request{Why: "schedule"})
			seen(res)
			switch res.Outcome {
			case Rotated:
				scheduled++
				writes = append(writes, clk.Now())
			case Failed:
				t.Fatalf("at +%s the scheduled rotation failed: %+v", clk.Now().Sub(start), res)
			}
		}
		if minute%10 == 2 {
			r := eng.Rotate(ctx, tg, Request{Force: true, Why: "expired-token report"})
			seen(r)
			switch {
			case r.Outcome == Rotated:
				forced++
				writes = append(writes, clk.Now())
			case !r.HeldUntil.IsZero():
				held++
				want := "next write is allowed at " + r.HeldUntil.UTC().Format(time.RFC3339)
				if r.Outcome != Fresh || !strings.Contains(r.Reason, "held back") || !strings.Contains(r.Reason, want) {
					t.Fatalf("a forced rotation held back by the quota must say so and when: %+v", r)
				}
			}
		}
		if !clk.Now().Before(expires) {
			t.Fatalf("at +%s the secret expired (%s)", clk.Now().Sub(start), expires)
		}
		clk.Add(time.Minute)
	}

	worst := 0
	for i, w := range writes {
		n := 0
		for _, x := range writes[:i+1] {
			if w.Sub(x) < 24*time.Hour {
				n++
			}
		}
		worst = max(worst, n)
	}
	t.Logf("48 h, sweep every %s, a forced rotation asked every 10 minutes: %d writes (%d scheduled, %d forced), %d forced held back; at most %d writes in any rolling 24 h",
		sweep, len(writes), scheduled, forced, held, worst)
	if worst > config.MaxVersionsPerDay {
		t.Fatalf("%d writes in one rolling 24 h, over Secrets Manager's %d", worst, config.MaxVersionsPerDay)
	}
	if held == 0 {
		t.Fatal("the simulation never reached the quota: it proves nothing")
	}
}

// The quota rules, case by case: the count is over the 24 hours before
// now, a write stamped in the future counts, the allowed time is when
// enough writes age out, and a forced-only write leaves the schedule's
// share.
func TestDecideVersionQuota(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tg := config.Target{Name: "app", Duration: time.Hour, RefreshBefore: 26 * time.Minute}
	every := func(n int, step time.Duration, last time.Time) []time.Time {
		out := make([]time.Time, n)
		for i := range out {
			out[i] = last.Add(-time.Duration(n-1-i) * step)
		}
		return out
	}
	cur := func(left time.Duration, writes []time.Time) Current {
		return Current{Exists: true, VersionID: "v", Value: secretValue0(now.Add(left), writes)}
	}
	full := every(100, 14*time.Minute, now.Add(-20*time.Minute)) // 100 writes, the oldest 23h26m ago
	cases := []struct {
		why       string
		cur       Current
		force     bool
		due, held bool
		heldUntil time.Time
	}{
		{"99 writes in 24 h: a due write is allowed", cur(20*time.Minute, full[1:]), false, true, false, time.Time{}},
		{"100 writes: a due write waits until the oldest is 24 h old", cur(20*time.Minute, full), false, false, true, full[0].Add(24 * time.Hour)},
		{"100 writes: an expired secret waits too (AWS would refuse the write)", cur(-time.Minute, full), false, false, true, full[0].Add(24 * time.Hour)},
		{"writes older than 24 h do not count", cur(20*time.Minute, every(100, 15*time.Minute, now.Add(-25*time.Hour))), false, true, false, time.Time{}},
		{"writes stamped more than a day ahead are a damaged history, not counted", cur(20*time.Minute, append(every(100, time.Minute, now.Add(30*24*time.Hour)), full[99])), false, true, false, time.Time{}},
		{"a write stamped within ClockSkew ahead (another rotator's clock) counts", cur(20*time.Minute, append([]time.Time{now.Add(ClockSkew)}, full[1:]...)), false, false, true, full[1].Add(24 * time.Hour)},
		{"a write stamped further ahead is no write a rotator made: ignored", cur(20*time.Minute, append([]time.Time{now.Add(ClockSkew + time.Second)}, full[1:]...)), false, true, false, time.Time{}},
		{"issue 19 §3: an expired secret with 100 stamps at +23h50m is replaced at once", cur(-time.Minute, every(100, time.Second, now.Add(23*time.Hour+50*time.Minute))), false, true, false, time.Time{}},
		// One-hour sessions with the defaults: 45 scheduled writes a day,
		// so a forced-only write may use 55.
		{"a forced-only write stops at 100 − the schedule's 45", cur(50*time.Minute, every(55, 20*time.Minute, now.Add(-15*time.Minute))), true, false, true, now.Add(-15*time.Minute - 54*20*time.Minute + 24*time.Hour)},
		{"a forced write that is due anyway may use all 100", cur(20*time.Minute, every(55, 20*time.Minute, now.Add(-15*time.Minute))), true, true, false, time.Time{}},
	}
	for _, c := range cases {
		d := Decide(now, tg, c.cur, 2*time.Minute, c.force)
		if d.Due != c.due || (!d.HeldUntil.IsZero()) != c.held || !d.HeldUntil.Equal(c.heldUntil) {
			t.Errorf("%s: got due=%v heldUntil=%s (%s); want due=%v heldUntil=%s", c.why, d.Due, d.HeldUntil, d.Reason, c.due, c.heldUntil)
		}
		if c.held && !strings.Contains(d.Reason, "next write is allowed at "+c.heldUntil.Format(time.RFC3339)) {
			t.Errorf("%s: the reason does not say when: %q", c.why, d.Reason)
		}
	}
	if got := ScheduleReserve(config.Target{Duration: 1200 * time.Second, RefreshBefore: 5 * time.Minute}, 0); got != 96 {
		t.Errorf("the worst accepted config writes %d a day on schedule, want 96", got)
	}
}

func secretValue0(exp time.Time, writes []time.Time) secretfmt.Value {
	return secretfmt.Value{AccessKeyID: "ASIAEXAMPLEEXAMPLE01", SecretAccessKey: "s", SessionToken: "t", Expiration: exp,
		Meta: secretfmt.Metadata{IssuedAt: writes[len(writes)-1], Writes: writes}}
}

// A stamp more than ClockSkew after a write is dropped from the history
// stored with it, so a forged one is not carried forward; WritesAhead
// names what QuotaHold ignores.
func TestHistoryDropsStampsAhead(t *testing.T) {
	issued := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	forged := issued.Add(23*time.Hour + 50*time.Minute)
	skewed := issued.Add(ClockSkew)
	got := History(issued, []time.Time{issued.Add(-time.Hour), forged, skewed, issued.Add(-25 * time.Hour)})
	want := []time.Time{issued.Add(-time.Hour), issued, skewed}
	if !slices.Equal(got, want) {
		t.Errorf("History = %v, want %v (the day-old and the forged stamp dropped)", got, want)
	}
	if ahead := WritesAhead(issued, []time.Time{forged, skewed, issued}); !slices.Equal(ahead, []time.Time{forged}) {
		t.Errorf("WritesAhead = %v, want only the forged stamp", ahead)
	}
}

// pagedVersions answers ListSecretVersionIds in pages of the given dates,
// as Secrets Manager does past MaxResults.
type pagedVersions struct {
	Secrets
	pages [][]time.Time
	asked []*secretsmanager.ListSecretVersionIdsInput
}

func (p *pagedVersions) ListSecretVersionIds(_ context.Context, in *secretsmanager.ListSecretVersionIdsInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretVersionIdsOutput, error) {
	p.asked = append(p.asked, in)
	i := 0
	if in.NextToken != nil {
		i, _ = strconv.Atoi(*in.NextToken)
	}
	out := &secretsmanager.ListSecretVersionIdsOutput{}
	for _, d := range p.pages[i] {
		out.Versions = append(out.Versions, smtypes.SecretVersionsListEntry{CreatedDate: aws.Time(d)})
	}
	if i+1 < len(p.pages) {
		out.NextToken = aws.String(strconv.Itoa(i + 1))
	}
	return out, nil
}

// Every page is read, versions without labels included, and every
// CreatedDate counts.
func TestVersionDatesReadsEveryPage(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	p := &pagedVersions{pages: [][]time.Time{{now.Add(-3 * time.Hour), now.Add(-2 * time.Hour)}, {now.Add(-time.Hour)}, {now}}}
	e := &Engine{Secrets: p}
	got, err := e.versionDates(context.Background(), config.Target{SecretName: "s"})
	if err != nil || len(got) != 4 || !got[3].Equal(now) {
		t.Fatalf("versionDates = %v, %v; want the 4 dates of 3 pages", got, err)
	}
	if len(p.asked) != 3 || !aws.ToBool(p.asked[0].IncludeDeprecated) || aws.ToInt32(p.asked[0].MaxResults) != 100 {
		t.Fatalf("asked %d pages, first %+v", len(p.asked), p.asked[0])
	}
}
