package reaction

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/internal/faults"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/metrics"
	"github.com/stsrotator/stsrotator/shared/rotation"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// resilient is the reactor and the scheduled sweep side by side on kumo,
// every call passing the fault layer (which records what the services
// acted on), on a simulated clock that Expiration follows.
type resilient struct {
	env   *awstest.Env
	clean *awstest.Env
	inj   *faults.Injector
	clk   *awstest.Clock
	cfg   *config.Config
	sweep *rotation.Engine
	react *Reactor
	emf   *awstest.Buffer

	mu sync.Mutex
	// alerts counts SNS Publish calls SNS accepted, per target.
	alerts map[string]int
	// puts is every PutSecretValue Secrets Manager accepted.
	puts []put
}

type put struct {
	secret, token string
	at            time.Time
}

func newResilient(t testing.TB, targets int) *resilient {
	env := awstest.Start(t)
	inj := faults.New(env.Transport.Base, awstest.Seed(1))
	env.Transport.Base = inj
	fenv := env.Retrying(faults.Retryer())
	cfg := appTargets(t, "resilience.yaml", targets, 3, "000000000000", env.Unique)
	clk := awstest.NewClock(time.Now())
	emf := &awstest.Buffer{}
	// The short run logs everything, so the package's leak check reads
	// every line a faulty run writes; the soak keeps only errors.
	log := slog.New(slog.NewJSONHandler(awstest.Logs, &slog.HandlerOptions{Level: awstest.Scale(slog.LevelInfo, slog.LevelError)}))
	engine := func() *rotation.Engine {
		return &rotation.Engine{STS: faults.SimulatedExpiry{STS: fenv.STS, Now: clk.Now}, Secrets: fenv.Secrets, Now: clk.Now,
			Log: log, Emit: metrics.NewWriter(emf, clk.Now), Verify: rotation.VerifyCaller}
	}
	topic, err := fenv.SNS().CreateTopic(awstest.Context(t), &sns.CreateTopicInput{Name: aws.String(env.Unique("alerts"))})
	if err != nil {
		t.Fatal(err)
	}
	r := &resilient{env: fenv, clean: awstest.Connect(env.URL), inj: inj, clk: clk, cfg: cfg, sweep: engine(), emf: emf, alerts: map[string]int{}}
	// The reactor's rotations run in another invocation of the rotator,
	// so another engine: nothing shared with the sweep but AWS.
	r.react = &Reactor{Config: cfg, Secrets: fenv.Secrets, Rotator: EngineRotator{Engine: engine()}, Topic: fenv.SNS(), TopicArn: aws.ToString(topic.TopicArn),
		Now: clk.Now, Log: log, Emit: metrics.NewWriter(emf, clk.Now)}
	inj.OnDelivered(r.record)
	if _, sum := r.sweep.Sweep(awstest.Context(t), cfg.Targets, 16, rotation.Request{}); len(sum.Rotated) != targets {
		t.Fatalf("initial mint: %+v", sum)
	}
	return r
}

// record notes what SNS and Secrets Manager accepted, from the wire.
func (r *resilient) record(c faults.Call, status int, _ []byte) {
	if status != 200 {
		return
	}
	switch c.Op {
	case "Publish":
		var in struct{ Subject string }
		if json.Unmarshal(c.Body, &in) != nil {
			form, _ := url.ParseQuery(string(c.Body))
			in.Subject = form.Get("Subject")
		}
		target, _, _ := strings.Cut(strings.TrimPrefix(in.Subject, "stsrotator: "), " ")
		r.alerts[target]++
	case "PutSecretValue":
		var in struct{ SecretId, ClientRequestToken string }
		_ = json.Unmarshal(c.Body, &in)
		r.puts = append(r.puts, put{in.SecretId, in.ClientRequestToken, r.clk.Now()})
	}
}

func (r *resilient) takeAlerts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.alerts
	r.alerts = map[string]int{}
	return a
}

// version reads one stage or version ID of a secret, bypassing the faults.
func (r *resilient) version(t testing.TB, secret, stage, id string) (string, secretfmt.Value) {
	t.Helper()
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(secret)}
	if id != "" {
		in.VersionId = aws.String(id)
	} else {
		in.VersionStage = aws.String(stage)
	}
	out, err := r.clean.Secrets.GetSecretValue(context.Background(), in)
	if err != nil {
		t.Fatalf("read %s %s%s: %v", secret, stage, id, err)
	}
	v, err := secretfmt.Parse([]byte(aws.ToString(out.SecretString)))
	if err != nil {
		t.Fatalf("%s %s%s is not valid credential_process JSON: %v", secret, stage, id, err)
	}
	return aws.ToString(out.VersionId), v
}

func (r *resilient) versions(t testing.TB, secret string) int {
	out, err := r.clean.Secrets.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(secret)})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.VersionIdsToStages)
}

// Issue figures: 10,000 ExpiredToken reports for 100 targets inside 60
// simulated seconds → at most one forced rotation and one alert per target
// per debounce window (and, since every target is near expiry, exactly
// one); the same storm one window later → no rotation, one alert per
// target. make soak repeats it for more windows.
func TestResilienceStorm(t *testing.T) {
	const targets = 100
	windows := awstest.Scale(2, 6)
	// The 10,000 in the first window; later windows, which prove
	// the debounce resets, are shorter in make test to keep -race quick.
	reportsIn := func(w int) int {
		if w == 0 {
			return 10_000
		}
		return awstest.Scale(2_000, 10_000)
	}
	r := newResilient(t, targets)
	oldKeys := map[string]string{}
	for _, tg := range r.cfg.Targets {
		_, v := r.version(t, tg.SecretName, "AWSCURRENT", "")
		oldKeys[tg.Name] = v.MaskedKey()
	}
	r.clk.Add(45 * time.Minute) // every current key is inside refreshBefore
	start := time.Now()
	var totalRotations, totalAlerts, totalReports int
	for w := range windows {
		reports := reportsIn(w)
		totalReports += reports
		windowStart := r.clk.Now()
		rotations := map[string]int{}
		concurrently(t, r.react, func(send func(Signal)) {
			// The window's reports spread over 60 simulated seconds.
			step := time.Minute / time.Duration(reports)
			for i := range reports {
				tg := r.cfg.Targets[i%targets]
				r.clk.Add(step)
				send(Signal{Source: FromConsumer, Target: tg.Name, Key: oldKeys[tg.Name], ErrorCode: "ExpiredToken",
					Service: "s3", Operation: "GetObject", ObservedAt: r.clk.Now(), Observer: fmt.Sprintf("worker-%d", i)})
			}
		}, func(out Outcome) {
			if out.Rotation != nil && out.Rotation.Outcome == rotation.Rotated {
				rotations[out.Target]++
			}
		})
		alerts := r.takeAlerts()
		nRot, nAlert := 0, 0
		for _, tg := range r.cfg.Targets {
			if rotations[tg.Name] > 1 || alerts[tg.Name] > 1 {
				t.Errorf("window %d, %s: %d forced rotations and %d alerts, want at most 1 and 1", w, tg.Name, rotations[tg.Name], alerts[tg.Name])
			}
			nRot += rotations[tg.Name]
			nAlert += alerts[tg.Name]
		}
		wantRot := 0
		if w == 0 {
			wantRot = targets
		}
		t.Logf("window %d: %d reports for %d targets in %s simulated: %d forced rotations, %d alerts", w, reports, targets, r.clk.Now().Sub(windowStart), nRot, nAlert)
		if nRot != wantRot || nAlert != targets {
			t.Errorf("window %d: %d forced rotations and %d alerts, want %d and %d", w, nRot, nAlert, wantRot, targets)
		}
		totalRotations += nRot
		totalAlerts += nAlert
		r.clk.Add(DefaultWindow)
	}
	tot := r.inj.Totals()
	t.Logf("%d windows, %d reports in %s: %d forced rotations (ForcedRotations metrics %d), %d alerts; AWS calls %d; %s",
		windows, totalReports, time.Since(start).Round(time.Millisecond), totalRotations, awstest.CountEMF(r.emf.String(), metrics.ForcedRotations), totalAlerts, tot.Attempted, strings.ReplaceAll(strings.TrimSpace(r.inj.Summary()), "\n", "; "))
}

// Issue figures: the scheduled sweep and the reactor rotate the same
// targets at the same moment, iteration after iteration (run under -race
// by make test): the final AWSCURRENT is valid, the version it replaced
// keeps its credentials until their own Expiration, every iteration adds
// exactly one version, and Secrets Manager never gets two writes for a
// secret within 10 simulated minutes unless the current was expired.
func TestResilienceSweepRacesReactor(t *testing.T) {
	const targets = 4
	iterations := awstest.Scale(25, 400)
	r := newResilient(t, targets)
	ctx := awstest.Context(t)
	expiredRounds, sameTokenPuts := 0, 0
	for i := range iterations {
		type state struct {
			id  string
			val secretfmt.Value
			n   int
		}
		before := map[string]state{}
		for _, tg := range r.cfg.Targets {
			id, v := r.version(t, tg.SecretName, "AWSCURRENT", "")
			before[tg.Name] = state{id, v, r.versions(t, tg.SecretName)}
		}
		// Inside refreshBefore (both want to rotate), and every fifth
		// round past Expiration (both must, urgently).
		exp := before[r.cfg.Targets[0].Name].val.Expiration
		at := exp.Add(-15 * time.Minute)
		if i%5 == 4 {
			at = exp.Add(time.Minute)
			expiredRounds++
		}
		r.clk.Add(at.Sub(r.clk.Now()))

		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			r.sweep.Sweep(ctx, r.cfg.Targets, targets, rotation.Request{Why: "schedule"})
		}()
		go func() {
			defer wg.Done()
			for _, tg := range r.cfg.Targets {
				s := Signal{Source: FromConsumer, Target: tg.Name, Key: before[tg.Name].val.MaskedKey(), ErrorCode: "ExpiredToken", ObservedAt: r.clk.Now(), Observer: "race"}
				if _, err := r.react.React(ctx, s); err != nil {
					t.Errorf("react: %v", err)
				}
			}
		}()
		wg.Wait()

		now := r.clk.Now()
		for _, tg := range r.cfg.Targets {
			b := before[tg.Name]
			id, cur := r.version(t, tg.SecretName, "AWSCURRENT", "")
			if id == b.id || cur.Expired(now) || cur.Remaining(now) <= tg.RefreshBefore {
				t.Fatalf("round %d, %s: current %s expires %s; want a new version valid past refreshBefore", i, tg.Name, id, cur.Expiration)
			}
			if n := r.versions(t, tg.SecretName); n != b.n+1 {
				t.Fatalf("round %d, %s: %d versions after the race, want %d: sweep and reactor must add exactly one", i, tg.Name, n, b.n+1)
			}
			// The replaced version still holds the same credentials, so
			// whoever read it keeps working until its own Expiration.
			if _, old := r.version(t, tg.SecretName, "", b.id); old.AccessKeyID != b.val.AccessKeyID || !old.Expiration.Equal(b.val.Expiration) {
				t.Fatalf("round %d, %s: the replaced version %s changed", i, tg.Name, b.id)
			}
		}
	}

	// Write volume, from what Secrets Manager accepted: one logical write
	// per ClientRequestToken (AWS refuses a second use of a token with
	// other data; kumo overwrites, which is counted, not hidden).
	r.mu.Lock()
	defer r.mu.Unlock()
	type last struct {
		token string
		at    time.Time
	}
	prev := map[string]last{}
	writes, tooSoon := 0, 0
	for _, p := range r.puts {
		l, seen := prev[p.secret]
		if seen && l.token == p.token {
			sameTokenPuts++
			continue
		}
		writes++
		if seen && p.at.Sub(l.at) < config.MinWriteInterval {
			tooSoon++
			t.Errorf("%s written %s after the previous write", p.secret, p.at.Sub(l.at))
		}
		prev[p.secret] = last{p.token, p.at}
	}
	t.Logf("%d rounds × %d targets, sweep and reactor at once (%d rounds past Expiration): %d writes, %d within 10 min of the previous, %d repeated-token puts kumo applied as overwrites; rotation outcomes: Rotations metrics %d, ForcedRotations %d, RotationFailures %d",
		iterations, targets, expiredRounds, writes, tooSoon, sameTokenPuts, awstest.CountEMF(r.emf.String(), metrics.Rotations), awstest.CountEMF(r.emf.String(), metrics.ForcedRotations), awstest.CountEMF(r.emf.String(), metrics.RotationFailures))
	if want := iterations * targets; writes != want {
		t.Errorf("%d logical writes for %d rotations due", writes, want)
	}
}
