package reaction

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/internal/faults"
	"github.com/stsrotator/stsrotator/internal/mototest"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/metrics"
	"github.com/stsrotator/stsrotator/shared/rotation"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// The scheduled sweep and the reactor rotate the same targets at once, on
// moto: unlike kumo, moto refuses a repeated ClientRequestToken with other
// data, as Secrets Manager does, so a lost race is the refusal AWS gives
// and not an overwrite. Each round, once inside refreshBefore and once
// after a rollback of AWSCURRENT, must add exactly one version per target,
// leave a usable AWSCURRENT, and report superseded only for it.
func TestSweepRacesReactorOnMoto(t *testing.T) {
	const targets = 3
	m := mototest.Start(t)
	awsCfg := m.Config("")
	sm := secretsmanager.NewFromConfig(awsCfg)
	clk := awstest.NewClock(time.Now())
	cfg := appTargets(t, "race.yaml", targets, 0, mototest.Account, nil)
	engine := func() *rotation.Engine {
		return &rotation.Engine{STS: faults.SimulatedExpiry{STS: sts.NewFromConfig(awsCfg), Now: clk.Now}, Secrets: sm, Now: clk.Now,
			Log: awstest.Logger(nil), Emit: metrics.NewWriter(awstest.Logs, clk.Now), Verify: rotation.VerifyIdentity}
	}
	ctx := context.Background()
	topic, err := sns.NewFromConfig(awsCfg).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("alerts")})
	if err != nil {
		t.Fatal(err)
	}
	sweep := engine()
	react := &Reactor{Config: cfg, Secrets: sm, Rotator: EngineRotator{Engine: engine()}, Topic: sns.NewFromConfig(awsCfg), TopicArn: aws.ToString(topic.TopicArn),
		Now: clk.Now, Log: awstest.Logger(nil), Emit: metrics.NewWriter(awstest.Logs, clk.Now)}
	if _, sum := sweep.Sweep(ctx, cfg.Targets, targets, rotation.Request{}); len(sum.Rotated) != targets {
		t.Fatalf("initial mint: %+v", sum)
	}

	type state struct {
		current string
		key     string
		exp     time.Time
		n       int
	}
	read := func(tg config.Target) state {
		t.Helper()
		out, err := sm.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(tg.SecretName), IncludeDeprecated: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		s := state{n: len(out.Versions)}
		cur, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(tg.SecretName), VersionStage: aws.String("AWSCURRENT")})
		if err != nil {
			t.Fatal(err)
		}
		v, err := secretfmt.Parse([]byte(aws.ToString(cur.SecretString)))
		if err != nil {
			t.Fatal(err)
		}
		s.current, s.key, s.exp = aws.ToString(cur.VersionId), v.MaskedKey(), v.Expiration
		return s
	}

	for round, rollback := range []bool{false, true, false, true} {
		before := map[string]state{}
		for _, tg := range cfg.Targets {
			before[tg.Name] = read(tg)
		}
		// Inside refreshBefore: both the schedule and the reactor want to
		// rotate every target.
		clk.Add(before[cfg.Targets[0].Name].exp.Add(-cfg.Targets[0].RefreshBefore + time.Minute).Sub(clk.Now()))
		if rollback {
			// An operator moves AWSCURRENT back to the version before: the
			// token for replacing it is already spent.
			for _, tg := range cfg.Targets {
				out, err := sm.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(tg.SecretName)})
				if err != nil {
					t.Fatal(err)
				}
				var prev string
				for _, v := range out.Versions {
					for _, st := range v.VersionStages {
						if st == "AWSPREVIOUS" {
							prev = aws.ToString(v.VersionId)
						}
					}
				}
				if _, err := sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(tg.SecretName),
					VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: aws.String(prev), RemoveFromVersionId: aws.String(before[tg.Name].current)}); err != nil {
					t.Fatal(err)
				}
				before[tg.Name] = read(tg)
			}
		}
		var wg sync.WaitGroup
		var swept []rotation.Result
		var reacted []Outcome
		wg.Add(2)
		go func() {
			defer wg.Done()
			swept, _ = sweep.Sweep(ctx, cfg.Targets, targets, rotation.Request{Why: "schedule"})
		}()
		go func() {
			defer wg.Done()
			for _, tg := range cfg.Targets {
				out, err := react.React(ctx, Signal{Source: FromConsumer, Target: tg.Name, Key: before[tg.Name].key, ErrorCode: "ExpiredToken", ObservedAt: clk.Now(), Observer: "race"})
				if err != nil {
					t.Errorf("react: %v", err)
				}
				reacted = append(reacted, out)
			}
		}()
		wg.Wait()

		results := swept
		for _, o := range reacted {
			if o.Rotation != nil {
				results = append(results, *o.Rotation)
			}
		}
		for _, tg := range cfg.Targets {
			b, a := before[tg.Name], read(tg)
			if a.current == b.current || !a.exp.After(clk.Now().Add(tg.RefreshBefore)) {
				t.Fatalf("round %d (rollback %v), %s: AWSCURRENT %s expires %s; want a new version valid past refreshBefore", round, rollback, tg.Name, a.current, a.exp)
			}
			if a.n != b.n+1 {
				t.Fatalf("round %d (rollback %v), %s: %d versions after the race, want %d: sweep and reactor must add exactly one", round, rollback, tg.Name, a.n, b.n+1)
			}
			for _, r := range results {
				if r.Target != tg.Name {
					continue
				}
				switch r.Outcome {
				case rotation.Failed:
					t.Errorf("round %d, %s: %s", round, tg.Name, r.Reason)
				case rotation.Superseded:
					if r.VersionID != a.current {
						t.Errorf("round %d, %s: superseded by %s, which is not AWSCURRENT (%s)", round, tg.Name, r.VersionID, a.current)
					}
				}
			}
		}
	}
}
