package rotation

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/internal/faults"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/metrics"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// faulty is an engine whose every AWS call passes a fault injector, with
// the SDK's standard retryer and a simulated clock.
type faulty struct {
	env   *awstest.Env
	clean *awstest.Env // bypasses the injector: the test's own eyes
	inj   *faults.Injector
	clk   *awstest.Clock
	eng   *Engine
	emf   *awstest.Buffer
}

func newFaulty(t testing.TB, seed uint64, rules ...faults.Rule) *faulty {
	env := awstest.Start(t)
	inj := faults.New(env.Transport.Base, seed, rules...)
	env.Transport.Base = inj
	fenv := env.Retrying(faults.Retryer())
	clk := awstest.NewClock(time.Now())
	emf := &awstest.Buffer{}
	// Errors go to the package sink, so the leak check covers every
	// failure message; the thousands of routine lines a simulated day
	// writes are dropped to keep that check fast.
	// The short run logs everything, so the package's leak check reads
	// every line a faulty run writes; the soak keeps only errors.
	log := slog.New(slog.NewJSONHandler(awstest.Logs, &slog.HandlerOptions{Level: awstest.Scale(slog.LevelInfo, slog.LevelError)}))
	eng := &Engine{
		STS: faults.SimulatedExpiry{STS: fenv.STS, Now: clk.Now}, Secrets: fenv.Secrets, Now: clk.Now,
		Log: log, Emit: metrics.NewWriter(emf, clk.Now), Verify: VerifyCaller, Jitter: 2 * time.Minute,
	}
	return &faulty{env: fenv, clean: awstest.Connect(env.URL), inj: inj, clk: clk, eng: eng, emf: emf}
}

func manyTargets(t testing.TB, env *awstest.Env, n int) *config.Config {
	var b strings.Builder
	b.WriteString("rotator: {concurrency: 16, jitter: 2m}\ntargets:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - name: app-%03d\n    roleArn: arn:aws:iam::000000000000:role/App%03d\n    secretName: %s\n", i, i, env.Unique(fmt.Sprintf("app-%03d", i)))
	}
	cfg, err := config.Parse("resilience.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// audit is what every stored version of every secret says.
type audit struct {
	versions, invalid, unverified, duplicates, tooSoon int
	// emulatorDuplicates are second copies kumo made because its
	// CreateSecret ignores ClientRequestToken (see faults.Ledger).
	emulatorDuplicates int
	problems           []string
}

// auditSecrets reads every version of every secret without faults and
// checks it: valid credential_process JSON, credentials AssumeRole issued
// and GetCallerIdentity accepted before they were stored, no two versions
// with the same credentials, and no write within 10 minutes of the
// previous one unless that one had expired by then.
func (f *faulty) auditSecrets(t testing.TB, secrets []string) audit {
	t.Helper()
	ctx := context.Background()
	var a audit
	for _, name := range secrets {
		d, err := f.clean.Secrets.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
		if err != nil {
			a.problems = append(a.problems, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		keys := map[string]string{}
		var vals []secretfmt.Value
		created, token, ignored := f.inj.Ledger().IgnoredToken(name)
		for id := range d.VersionIdsToStages {
			a.versions++
			out, err := f.clean.Secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name), VersionId: aws.String(id)})
			if err != nil {
				t.Fatalf("read %s version %s: %v", name, id, err)
			}
			v, err := secretfmt.Parse([]byte(aws.ToString(out.SecretString)))
			if err != nil {
				a.invalid++
				a.problems = append(a.problems, fmt.Sprintf("%s %s: %v", name, id, err))
				continue
			}
			if err := f.inj.Ledger().Provenance(name, v.AccessKeyID); err != nil {
				a.unverified++
				a.problems = append(a.problems, err.Error())
			}
			if other, dup := keys[v.AccessKeyID]; dup {
				if pair := map[string]bool{id: true, other: true}; ignored && pair[created] && pair[token] {
					a.emulatorDuplicates++
					continue
				}
				a.duplicates++
				a.problems = append(a.problems, fmt.Sprintf("%s: two versions hold key %s", name, v.MaskedKey()))
			}
			keys[v.AccessKeyID] = id
			vals = append(vals, v)
		}
		sort.Slice(vals, func(i, j int) bool { return vals[i].Meta.IssuedAt.Before(vals[j].Meta.IssuedAt) })
		for i := 1; i < len(vals); i++ {
			prev, next := vals[i-1], vals[i]
			if next.Meta.IssuedAt.Sub(prev.Meta.IssuedAt) < config.MinWriteInterval && !prev.Expired(next.Meta.IssuedAt) {
				a.tooSoon++
				a.problems = append(a.problems, fmt.Sprintf("%s: written %s after the previous version, which was still valid", name, next.Meta.IssuedAt.Sub(prev.Meta.IssuedAt)))
			}
		}
	}
	return a
}

// current reads a target's AWSCURRENT without faults.
func (f *faulty) current(ctx context.Context, secret string) (secretfmt.Value, bool, error) {
	out, err := f.clean.Secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secret)})
	if isCode(err, "ResourceNotFoundException") {
		return secretfmt.Value{}, false, nil
	}
	if err != nil {
		return secretfmt.Value{}, false, err
	}
	v, err := secretfmt.Parse([]byte(aws.ToString(out.SecretString)))
	return v, true, err
}

// Issue figures: with 30% of AWS calls failing (throttling, 5xx, resets,
// timeouts, lost responses; seeded), 100 targets on the schedule's own
// interval over a simulated span (3 h in make test, 24 h in make soak):
// every target holds unexpired credentials at every check after its first
// mint; no stored version is invalid, unverified or a duplicate; no write
// comes within 10 minutes of a still-valid version; every failed attempt
// is a RotationFailures metric.
func TestResilienceFaultyDay(t *testing.T) {
	seed := awstest.Seed(1)
	span := awstest.Scale(3*time.Hour, 24*time.Hour)
	f := newFaulty(t, seed, faults.Rule{Rate: 0.3})
	cfg := manyTargets(t, f.env, 100)
	ctx := awstest.Context(t)
	interval := cfg.SweepInterval()
	start := time.Now()
	end := f.clk.Now().Add(span)

	minted := map[string]bool{}
	var sweeps, checks, rotated, failedAttempts, expiredAtCheck int
	minLeft := time.Duration(1<<63 - 1)
	for ; f.clk.Now().Before(end); f.clk.Add(interval) {
		sweeps++
		_, sum := f.eng.Sweep(ctx, cfg.Targets, cfg.Rotator.Concurrency, Request{Why: "schedule"})
		rotated += len(sum.Rotated)
		failedAttempts += len(sum.Failed)
		now := f.clk.Now()
		for _, tg := range cfg.Targets {
			v, exists, err := f.current(ctx, tg.SecretName)
			if err != nil {
				t.Fatalf("seed %d, %s at +%s: the current version is unusable: %v", seed, tg.Name, now.Sub(start), err)
			}
			if !exists {
				if minted[tg.Name] {
					t.Fatalf("seed %d: %s lost its secret", seed, tg.Name)
				}
				continue
			}
			minted[tg.Name] = true
			checks++
			left := v.Remaining(now)
			if v.Expired(now) {
				expiredAtCheck++
				t.Errorf("seed %d: %s expired %s ago at check %d", seed, tg.Name, -left, sweeps)
			}
			minLeft = min(minLeft, left)
		}
	}
	secrets := make([]string, len(cfg.Targets))
	for i, tg := range cfg.Targets {
		secrets[i] = tg.SecretName
	}
	a := f.auditSecrets(t, secrets)
	tot := f.inj.Totals()
	emfFailures := awstest.CountEMF(f.emf.String(), metrics.RotationFailures)
	t.Logf("seed %d, 100 targets, simulated %s in %s: %d sweeps every %s, %d checks, %d minted; AWS calls attempted %d, failed %d (%.1f%%) %v; rotations %d, failed attempts %d, RotationFailures metrics %d; versions %d: invalid %d, unverified %d, duplicate %d (+%d kumo CreateSecret-token copies), written too soon %d; expired at a check %d, least validity at a check %s",
		seed, span, time.Since(start).Round(time.Millisecond), sweeps, interval, checks, len(minted), tot.Attempted, tot.Failed, 100*float64(tot.Failed)/float64(tot.Attempted), tot.ByKind,
		rotated, failedAttempts, emfFailures, a.versions, a.invalid, a.unverified, a.duplicates, a.emulatorDuplicates, a.tooSoon, expiredAtCheck, minLeft)
	t.Logf("per operation:\n%s", f.inj.Summary())
	for _, p := range a.problems {
		t.Error(p)
	}
	if len(minted) != len(cfg.Targets) {
		t.Errorf("only %d of %d targets were ever minted", len(minted), len(cfg.Targets))
	}
	if emfFailures != failedAttempts {
		t.Errorf("%d failed attempts but %d RotationFailures metrics: a failure went silent", failedAttempts, emfFailures)
	}
	if share := float64(tot.Failed) / float64(tot.Attempted); share < 0.25 || share > 0.35 {
		t.Errorf("the layer failed %.1f%% of calls, not the 30%% asked for: the figures above do not test what they claim", share*100)
	}
	if got := awstest.CountEMF(f.emf.String(), metrics.Rotations); got != rotated {
		t.Errorf("%d rotations but %d Rotations metrics", rotated, got)
	}
}
