package reaction

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/internal/mototest"
	"github.com/stsrotator/stsrotator/shared/metrics"
	"github.com/stsrotator/stsrotator/shared/rotation"
)

// Issue 11: the reactor runs without reserved concurrency (AWS refuses a
// reservation that leaves fewer than the minimum unreserved on new
// accounts), so a storm lands on several execution environments, each
// with its own memory. Four Reactor values — four environments — share
// only AWS, here moto, whose Secrets Manager enforces ClientRequestToken
// as AWS does (kumo overwrites a repeated token, which would hide a
// second write). 400 reports for 8 targets still give exactly one forced
// rotation and one new version per target, and exactly one rotation
// alert: Secrets Manager's state and the engine's token decide, not the
// in-process lock. Non-rotation alerts are debounced per environment, so
// at most one more per environment per window (docs/reaction.md).
func TestStormAcrossEnvironments(t *testing.T) {
	const envs, targets, reports = 4, 8, 400
	ctx := context.Background()
	moto := mototest.Start(t)
	cfgAWS := moto.Config("")
	secrets := secretsmanager.NewFromConfig(cfgAWS)
	topics := sns.NewFromConfig(cfgAWS)
	cfg := appTargets(t, "storm.yaml", targets, 2, mototest.Account, nil)
	clk := awstest.NewClock(time.Now())
	log := awstest.Logger(nil)
	emit := metrics.NewWriter(awstest.Logs, clk.Now)
	eng := &rotation.Engine{STS: sts.NewFromConfig(cfgAWS), Secrets: secrets, Now: clk.Now, Log: log, Emit: emit, Verify: rotation.VerifyCaller}
	if _, sum := eng.Sweep(ctx, cfg.Targets, 8, rotation.Request{}); len(sum.Rotated) != targets {
		t.Fatalf("initial mint on moto: %+v", sum)
	}
	topic, err := topics.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("alerts")})
	if err != nil {
		t.Fatal(err)
	}
	reactors := make([]*Reactor, envs)
	for i := range reactors {
		reactors[i] = &Reactor{Config: cfg, Secrets: secrets, Rotator: EngineRotator{Engine: eng}, Topic: topics, TopicArn: aws.ToString(topic.TopicArn), Now: clk.Now, Log: log, Emit: emit}
	}
	oldKeys := map[string]string{}
	for _, tg := range cfg.Targets {
		v, err := reactors[0].version(ctx, tg, "AWSCURRENT")
		if err != nil || !v.Exists {
			t.Fatalf("read %s: %v", tg.Name, err)
		}
		oldKeys[tg.Name] = v.Value.MaskedKey()
	}
	clk.Add(45 * time.Minute) // every current key is inside refreshBefore

	var mu sync.Mutex
	rotations, rotationAlerts, alerts := map[string]int{}, map[string]int{}, map[string]int{}
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < reports; i += 16 {
				tg := cfg.Targets[i%targets]
				s := Signal{Source: FromConsumer, Target: tg.Name, Key: oldKeys[tg.Name], ErrorCode: "ExpiredToken", ObservedAt: clk.Now(), Observer: fmt.Sprintf("worker-%d", i)}
				out, err := reactors[i%envs].React(ctx, s)
				if err != nil {
					t.Errorf("react: %v", err)
					continue
				}
				mu.Lock()
				rotated := out.Rotation != nil && out.Rotation.Outcome == rotation.Rotated
				if rotated {
					rotations[tg.Name]++
				}
				if out.Alerted {
					alerts[tg.Name]++
					if rotated {
						rotationAlerts[tg.Name]++
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, tg := range cfg.Targets {
		if rotations[tg.Name] != 1 || rotationAlerts[tg.Name] != 1 || alerts[tg.Name] > envs {
			t.Errorf("%s: %d forced rotations, %d rotation alerts, %d alerts; want 1, 1 and at most %d", tg.Name, rotations[tg.Name], rotationAlerts[tg.Name], alerts[tg.Name], envs)
		}
		d, err := secrets.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(tg.SecretName)})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(d.VersionIdsToStages); n != 2 {
			t.Errorf("%s: %d versions, want 2 (one forced rotation across %d environments)", tg.Name, n, envs)
		}
	}
}
