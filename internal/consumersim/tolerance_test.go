package consumersim

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/rotation"
)

// outcome is what supported consumers saw in one outage run.
type outcome struct{ failed, expired int }

// outageRun mints one target with the config's defaults, starts an
// outage of kind and length d at the worst moment (the moment its
// version becomes due), and plays on until 30 minutes after the outage
// ends, with one consumer of every model signing every 10 s and no other
// fault.
func outageRun(t *testing.T, seed uint64, tg Target, kind EventKind, d time.Duration) (outcome, *Sim) {
	s := New(t, Options{Seed: seed, Tick: 10 * time.Second, PerModel: 1}, Fleet{Jitter: config.DefaultJitter, Targets: []Target{tg}})
	at := s.Due(tg.Name)
	s.Add(Event{At: at, Kind: kind, Len: d})
	s.SetSpan(at + d + 30*time.Minute)
	var o outcome
	for _, st := range s.Run() {
		if !st.Control {
			o.failed += st.Failed
			o.expired += st.Expired
		}
	}
	return o, s
}

// longest is the longest outage, to the minute, in [0, hi] after which
// ok holds, by bisection (a longer outage is never easier).
func longest(hi time.Duration, ok func(time.Duration) bool) time.Duration {
	lo := time.Duration(0)
	if ok(hi) {
		return hi
	}
	for hi-lo > time.Minute {
		mid := (lo + hi) / 2
		mid = mid.Truncate(time.Minute)
		if ok(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// Issue 22 figures: outage tolerance. For each session length (the
// config's defaults otherwise), the longest STS outage and the longest
// Secrets Manager outage, starting the moment the version becomes due,
// after which no supported consumer failed a request, next to what the
// config rules predict: refreshBefore R plus the target's jitter offset,
// less one sweep period S and credential-process's one-minute
// --min-validity for STS (the version stored before the outage is served
// until then); for Secrets Manager, less the larger of that and
// botocore's 10-minute mandatory window (the latest a botocore consumer
// can do without reading the secret). No length tried
// makes a supported consumer sign with expired credentials.
func TestResilienceOutageTolerance(t *testing.T) {
	seed := awstest.Seed(22)
	sessions := awstest.Scale([]Target{{Name: "role-3600", Session: time.Hour}},
		[]Target{{Name: "role-2520", Session: 2520 * time.Second}, {Name: "role-3600", Session: time.Hour}, {Name: "user-43200", Source: config.SourceIAMUser, Session: 12 * time.Hour}})
	var rows []string
	for _, tg := range sessions {
		tgd, cfg := withDefaults(t, tg)
		ct := cfg.Targets[0]
		r, sw, off := ct.RefreshBefore, cfg.SweepInterval(), rotation.JitterOffset(ct.Name, cfg.Rotator.Jitter)
		expired := 0
		tolerate := func(kind EventKind) func(time.Duration) bool {
			return func(d time.Duration) bool {
				o, _ := outageRun(t, seed, tgd, kind, d)
				expired += o.expired
				return o.failed == 0 && o.expired == 0
			}
		}
		sts := longest(r+off, tolerate(STSOutage))
		sm := longest(r+off, tolerate(SecretsOutage))
		predSTS, predSM := r+off-sw-MinValidity, r+off-max(Botocore.Mandatory, sw+MinValidity)
		rows = append(rows, fmt.Sprintf("| %d s (%s) | %s | %s | %s | %s | %s / %s | %s / %s |", int(ct.Duration/time.Second), ct.SourceCredentials, r, sw, off.Round(time.Second),
			(r-ct.ConsumerRefreshWindow-sw-cfg.Rotator.Jitter).Round(time.Second), sts, predSTS.Round(time.Second), sm, predSM.Round(time.Second)))
		if expired > 0 {
			t.Errorf("seed %d, %s: supported consumers signed %d requests with expired credentials across the outage runs", seed, tg.Name, expired)
		}
		// The measured tolerance must reach the prediction less one
		// sweep period and a tick, or the rules promise more than the
		// product keeps.
		if sts < predSTS-sw-time.Minute || sm < predSM-sw-time.Minute {
			t.Errorf("%s: tolerated STS %s (predicted %s), Secrets Manager %s (predicted %s)", tg.Name, sts, predSTS, sm, predSM)
		}
	}
	t.Logf("seed %d, outage tolerance (longest outage, from the moment the version is due, after which no supported consumer failed a request or signed with expired credentials):\n| session | refreshBefore | sweep period | jitter offset | window margin R−W−S−J (config floor) | STS outage tolerated / predicted | Secrets Manager outage tolerated / predicted |\n|---|---|---|---|---|---|---|\n%s",
		seed, strings.Join(rows, "\n"))
}

// withDefaults is tg with the refreshBefore and window the validator
// gives a target that sets neither, and that one-target config.
func withDefaults(t *testing.T, tg Target) (Target, *config.Config) {
	y := fmt.Sprintf("targets:\n  - name: %s\n    roleArn: arn:aws:iam::000000000000:role/T\n    durationSeconds: %d\n", tg.Name, int(tg.Session/time.Second))
	if tg.Source != "" {
		y += "    sourceCredentials: " + tg.Source + "\n"
	}
	cfg, err := config.Parse("defaults.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	tg.RefreshBefore, tg.Window = cfg.Targets[0].RefreshBefore, cfg.Targets[0].ConsumerRefreshWindow
	return tg, cfg
}
