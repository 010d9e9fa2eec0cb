package consumersim

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/shared/config"
)

// edges are the least and greatest whole-minute refreshBefore the
// validator accepts for one target alone.
func edges(session, window, jitter time.Duration, source string) (lo, hi time.Duration, ok bool) {
	for rb := time.Minute; rb < session; rb += time.Minute {
		y := fmt.Sprintf("rotator: {jitter: %ds}\ntargets:\n  - name: t\n    roleArn: arn:aws:iam::000000000000:role/T\n    durationSeconds: %d\n    consumerRefreshWindow: %ds\n    refreshBefore: %ds\n",
			int(jitter/time.Second), int(session/time.Second), int(window/time.Second), int(rb/time.Second))
		if source != "" {
			y += "    sourceCredentials: " + source + "\n"
		}
		if _, err := config.Parse("edge.yaml", []byte(y)); err == nil {
			if !ok {
				lo, ok = rb, true
			}
			hi = rb
		}
	}
	return lo, hi, ok
}

// edgeFleets are the targets at the edges the validator accepts: 2520 s
// and 3600 s role sessions and 43200 s iam-user sessions, jitter 0 and
// 10m, consumerRefreshWindow 0 and 15m, refreshBefore at its least and
// greatest; a combination the validator refuses is left out (2520 s with
// the 15m window and 10m of jitter).
func edgeFleets(tb testing.TB) []Fleet {
	var out []Fleet
	for _, j := range []time.Duration{0, 10 * time.Minute} {
		f := Fleet{Jitter: j}
		for _, s := range []struct {
			d      time.Duration
			source string
		}{{2520 * time.Second, ""}, {3600 * time.Second, ""}, {43200 * time.Second, config.SourceIAMUser}} {
			for _, w := range []time.Duration{15 * time.Minute, 0} {
				lo, hi, ok := edges(s.d, w, j, s.source)
				if !ok {
					continue
				}
				name := fmt.Sprintf("j%d-s%d-w%d", int(j/time.Minute), int(s.d/time.Second), int(w/time.Minute))
				f.Targets = append(f.Targets, Target{Name: name + "-rbmin", Source: s.source, Session: s.d, Window: w, RefreshBefore: lo})
				if hi != lo {
					f.Targets = append(f.Targets, Target{Name: name + "-rbmax", Source: s.source, Session: s.d, Window: w, RefreshBefore: hi})
				}
			}
		}
		if len(f.Targets) == 0 {
			tb.Fatalf("no target fits jitter %s", j)
		}
		out = append(out, f)
	}
	return out
}

// dayTargets are the targets the day in make test keeps: every edge at
// least once (each session length, jitter 0 and 10m, window 0 and 15m,
// refreshBefore least and greatest) in six targets instead of twenty, so
// the day fits its budget under -race; the week runs them all.
var dayTargets = map[string]bool{
	"j0-s2520-w15-rbmin": true, "j0-s2520-w15-rbmax": true, "j0-s3600-w0-rbmin": true, "j0-s43200-w15-rbmin": true,
	"j10-s2520-w0-rbmax": true, "j10-s43200-w15-rbmax": true,
}

// short keeps only dayTargets.
func short(fleets []Fleet) []Fleet {
	var out []Fleet
	for _, f := range fleets {
		kept := Fleet{Jitter: f.Jitter}
		for _, t := range f.Targets {
			if dayTargets[t.Name] {
				kept.Targets = append(kept.Targets, t)
			}
		}
		out = append(out, kept)
	}
	return out
}

// table is the figures as a Markdown table.
func table(stats []Stats) string {
	var b strings.Builder
	b.WriteString("| model | consumers | requests | signed | failed | signed expired | signed revoked | least validity at signing | fetches per rotation |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range stats {
		name := s.Model
		if s.Control {
			name += " (control)"
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %d | %s | %.2f |\n", name, s.Consumers, s.Requests, s.Signed, s.Failed, s.Expired, s.Revoked, s.MinLeft.Round(time.Second), s.FetchesPerRotation())
	}
	return b.String()
}

// checkPromise fails the test if a supported model signed with expired
// credentials, or a control did not (then the simulator cannot see an
// expiry at all).
func checkPromise(t *testing.T, seed uint64, stats []Stats) {
	t.Helper()
	for _, s := range stats {
		switch {
		case s.Consumers == 0:
			t.Errorf("%s ran no consumer", s.Model)
		case !s.Control && s.Expired > 0:
			t.Errorf("seed %d: %s signed %d requests with expired credentials; first: %s", seed, s.Model, s.Expired, s.FirstExpired)
		case s.Control && s.Expired == 0:
			t.Errorf("seed %d: the control %s never signed with expired credentials: the simulator cannot see an expiry", seed, s.Model)
		}
	}
}

// Issue 22 figures: the simulated day (make test) or week (make soak).
// Every target at the validator's edges, every consumer model on every
// target whose consumerRefreshWindow covers it, each consumer signing a
// request every 5 s of simulated time, 30 % of AWS calls failing
// throughout. No supported model signs with expired credentials; both
// controls do.
func TestResilienceConsumers(t *testing.T) {
	seed := awstest.Seed(22)
	span := awstest.Scale(24*time.Hour, 7*24*time.Hour)
	start := time.Now()
	s := New(t, Options{Seed: seed, Span: span, Tick: 5 * time.Second, PerModel: awstest.Scale(1, 3), FaultRate: 0.3, Events: days(span)}, awstest.Scale(short, func(f []Fleet) []Fleet { return f })(edgeFleets(t))...)
	stats := s.Run()
	tot := s.Injector().Totals()
	t.Logf("seed %d (STSROTATOR_SEED=%d replays), simulated %s in %s: %d sweeps (%d with a failed target, %d killed), rotations %v, forced writes %d, held by the version quota %d, values rolled back %d, rotations for ExpiredToken reports %d; AWS calls %d, failed %d (%.1f%%; outside outages and crash points %d of %d, %.1f%%)",
		seed, seed, span, time.Since(start).Round(time.Millisecond), s.Sweeps, s.FailedSweepRuns, s.Crashed, s.Rotations(), s.QuotaWrites, s.Held, s.RolledBack, s.StormRotations, tot.Attempted, tot.Failed, 100*float64(tot.Failed)/float64(tot.Attempted),
		s.Calm.Failed, s.Calm.Attempted, 100*float64(s.Calm.Failed)/float64(s.Calm.Attempted))
	t.Logf("events:\n%s", strings.Join(s.Log(), "\n"))
	t.Logf("AWS calls by operation:\n%s", s.Injector().Summary())
	t.Logf("figures:\n%s", table(stats))
	for _, st := range stats {
		if st.Failed > 0 && !st.Control {
			t.Logf("%s failed requests by hour of the run: %v", st.Model, st.FailedAt)
		}
	}
	checkPromise(t, seed, stats)
	// The events must have happened, or the figures do not test them.
	if want := len(CrashPoints) * int((span+24*time.Hour-1)/(24*time.Hour)); s.Crashed != want {
		t.Errorf("%d sweeps killed by crash points, want %d", s.Crashed, want)
	}
	if s.Held == 0 || s.QuotaWrites == 0 {
		t.Errorf("forced rotations: %d written, %d held back: the version quota was never reached", s.QuotaWrites, s.Held)
	}
	if s.RolledBack == 0 || s.StormRotations == 0 {
		t.Errorf("%d values rolled back, %d rotations for ExpiredToken reports: an event did nothing", s.RolledBack, s.StormRotations)
	}
	revoked := 0
	for _, st := range stats {
		revoked += st.Revoked
	}
	if revoked == 0 {
		t.Error("no consumer signed with a revoked key: the revoke did not happen or the simulator cannot see it")
	}
	if share := float64(s.Calm.Failed) / float64(s.Calm.Attempted); share < 0.25 || share > 0.35 {
		t.Errorf("outside outages the layer failed %.1f%% of calls, not the 30%% asked for", share*100)
	}
}

// days is the event script, once per simulated day, each day's events
// 53 minutes later than the day before's so they meet the rotation
// schedule at different points.
func days(span time.Duration) []Event {
	var out []Event
	for d := time.Duration(0); d*24*time.Hour < span; d++ {
		at := func(h time.Duration) time.Duration { return d*24*time.Hour + d*53*time.Minute + h }
		out = append(out,
			Event{At: at(2 * time.Hour), Kind: STSOutage, Len: 20 * time.Minute},
			Event{At: at(5 * time.Hour), Kind: SecretsOutage, Len: 20 * time.Minute},
			Event{At: at(8 * time.Hour), Kind: Crash},
			Event{At: at(11 * time.Hour), Kind: Rollback},
			Event{At: at(14 * time.Hour), Kind: Storm},
			Event{At: at(17 * time.Hour), Kind: Revoke},
		)
		if d == 0 {
			out = append(out, Event{At: time.Hour, Kind: Quota, Len: 22 * time.Hour})
		}
	}
	return out
}
