package reaction

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/metrics"
	"github.com/stsrotator/stsrotator/shared/rotation"
)

func TestMain(m *testing.M) { awstest.Main(m) }

// fixture is a reactor wired to kumo: real Secrets Manager, real STS
// through the rotation engine, real SNS.
type fixture struct {
	env     *awstest.Env
	clk     *awstest.Clock
	cfg     *config.Config
	engine  *rotation.Engine
	reactor *Reactor
}

// appTargets is a config, read as file, of n targets app-<i> (i padded to
// width digits) assuming role App<i> of account; secretName, when not nil,
// names each target's secret from its name (env.Unique keeps runs apart);
// readers, when given, lists each target's readers by index.
func appTargets(t testing.TB, file string, n, width int, account string, secretName func(string) string, readers ...func(i int) []string) *config.Config {
	t.Helper()
	var b strings.Builder
	b.WriteString("targets:\n")
	for i := range n {
		name := fmt.Sprintf("app-%0*d", width, i)
		fmt.Fprintf(&b, "  - name: %s\n    roleArn: arn:aws:iam::%s:role/App%0*d\n", name, account, width, i)
		if secretName != nil {
			fmt.Fprintf(&b, "    secretName: %s\n", secretName(name))
		}
		for _, rd := range readers {
			if rs := rd(i); len(rs) > 0 {
				fmt.Fprintf(&b, "    readers: [%s]\n", strings.Join(rs, ", "))
			}
		}
	}
	cfg, err := config.Parse(file, []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func newFixture(t testing.TB, targets int, readers ...func(i int) []string) *fixture {
	env := awstest.Start(t)
	cfg := appTargets(t, "storm.yaml", targets, 2, "000000000000", env.Unique, readers...)
	clk := awstest.NewClock(time.Now())
	log := awstest.Logger(nil)
	emit := metrics.NewWriter(awstest.Logs, clk.Now)
	eng := &rotation.Engine{STS: env.STS, Secrets: env.Secrets, Now: clk.Now, Log: log, Emit: emit, Verify: rotation.VerifyCaller}
	topic, err := env.SNS().CreateTopic(awstest.Context(t), &sns.CreateTopicInput{Name: aws.String(env.Unique("alerts"))})
	if err != nil {
		t.Fatal(err)
	}
	r := &Reactor{Config: cfg, Secrets: env.Secrets, Rotator: EngineRotator{Engine: eng}, Topic: env.SNS(), TopicArn: aws.ToString(topic.TopicArn),
		Now: clk.Now, Log: log, Emit: emit}
	if _, sum := eng.Sweep(awstest.Context(t), cfg.Targets, 8, rotation.Request{}); len(sum.Rotated) != targets {
		t.Fatalf("initial mint: %+v", sum)
	}
	return &fixture{env: env, clk: clk, cfg: cfg, engine: eng, reactor: r}
}

func (f *fixture) currentKey(t *testing.T, tg config.Target) string {
	v, err := f.reactor.version(context.Background(), tg, "AWSCURRENT")
	if err != nil || !v.Exists {
		t.Fatalf("read %s: %v", tg.Name, err)
	}
	return v.Value.MaskedKey()
}

func (f *fixture) versions(t *testing.T, tg config.Target) int {
	out, err := f.env.Secrets.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(tg.SecretName)})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.VersionIdsToStages)
}

// concurrently has 16 workers react to what produce sends, calling each
// with every outcome under one lock, so tallies need no locking of their
// own.
func concurrently(t *testing.T, r *Reactor, produce func(send func(Signal)), each func(Outcome)) {
	var mu sync.Mutex
	work := make(chan Signal)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range work {
				out, err := r.React(context.Background(), s)
				if err != nil {
					t.Errorf("react: %v", err)
					continue
				}
				mu.Lock()
				each(out)
				mu.Unlock()
			}
		}()
	}
	produce(func(s Signal) { work <- s })
	close(work)
	wg.Wait()
}

// storm sends signals from 16 goroutines at once and tallies what happened.
func (f *fixture) storm(t *testing.T, signals []Signal) (rotations, alerts, suppressed int) {
	concurrently(t, f.reactor, func(send func(Signal)) {
		for _, s := range signals {
			send(s)
		}
	}, func(out Outcome) {
		if out.Rotation != nil && out.Rotation.Outcome == rotation.Rotated {
			rotations++
		}
		if out.Alerted {
			alerts++
			suppressed += out.Suppressed
		}
	})
	return rotations, alerts, suppressed
}

// Issue figures: 1,000 reports for 10 targets inside one window → exactly
// 10 forced rotations and 10 alerts; reports for stale keys → 0 rotations.
func TestStorm(t *testing.T) {
	f := newFixture(t, 10)
	oldKeys := map[string]string{}
	for _, tg := range f.cfg.Targets {
		oldKeys[tg.Name] = f.currentKey(t, tg)
	}
	f.clk.Add(45 * time.Minute) // every current key is now inside refreshBefore
	var signals []Signal
	for i := range 1000 {
		tg := f.cfg.Targets[i%10]
		signals = append(signals, Signal{Source: FromConsumer, Target: tg.Name, Key: oldKeys[tg.Name], ErrorCode: "ExpiredToken",
			Service: "s3", Operation: "GetObject", ObservedAt: f.clk.Now(), Observer: fmt.Sprintf("worker-%d via library", i)})
	}
	f.env.Transport.Reset()
	rotations, alerts, _ := f.storm(t, signals)
	if rotations != 10 || alerts != 10 {
		t.Fatalf("1,000 reports for 10 targets: %d rotations and %d alerts, want exactly 10 and 10", rotations, alerts)
	}
	if n := f.env.Transport.Calls("Publish"); n != 10 {
		t.Fatalf("%d SNS Publish calls, want 10", n)
	}
	for _, tg := range f.cfg.Targets {
		if n := f.versions(t, tg); n != 2 {
			t.Errorf("%s: %d versions, want 2 (one forced rotation)", tg.Name, n)
		}
	}

	// The same old keys are now the previous version: stale consumers.
	f.clk.Add(time.Minute)
	rotations, alerts, _ = f.storm(t, signals)
	if rotations != 0 || alerts != 0 {
		t.Fatalf("stale-key reports inside the window: %d rotations, %d alerts; want 0 and 0", rotations, alerts)
	}
	// After the window the next report alerts once, counting what was held back.
	f.clk.Add(DefaultWindow)
	_, alerts, suppressed := f.storm(t, signals[:1])
	if alerts != 1 || suppressed != 99+100 {
		t.Fatalf("first alert after the window: %d alerts with %d suppressed, want 1 with 199 (99 from the storm, 100 stale)", alerts, suppressed)
	}
}

// Transient AWS errors are returned so Lambda retries; nothing is rotated
// or alerted on the failed attempt, and the retry succeeds.
func TestTransientErrorsAreReturned(t *testing.T) {
	f := newFixture(t, 1)
	tg := f.cfg.Targets[0]
	key := f.currentKey(t, tg)
	f.clk.Add(45 * time.Minute)
	f.env.Transport.Fault = func(op string, _ []byte) *http.Response {
		if op == "GetSecretValue" {
			return awstest.JSONError(400, "ThrottlingException", "Rate exceeded")
		}
		return nil
	}
	s := Signal{Source: FromConsumer, Target: tg.Name, Key: key, ErrorCode: "ExpiredToken", ObservedAt: f.clk.Now(), Observer: "t"}
	if _, err := f.reactor.React(awstest.Context(t), s); err == nil || !strings.Contains(err.Error(), "ThrottlingException") {
		t.Fatalf("want the throttling error returned for a retry, got %v", err)
	}
	if f.versions(t, tg) != 1 {
		t.Fatal("a failed attempt rotated")
	}
	f.env.Transport.Fault = nil
	out, err := f.reactor.React(awstest.Context(t), s)
	if err != nil || out.Rotation == nil || out.Rotation.Outcome != rotation.Rotated || !out.Alerted {
		t.Fatalf("the retry should rotate and alert: %+v %v", out, err)
	}
}

// Unknown targets in consumer reports alert once per window with what was
// received; CloudTrail events for a role that is no target (the stack's one
// CloudTrail rule sees every expired session in the account) never alert.
func TestUnmatchedAlerts(t *testing.T) {
	f := newFixture(t, 1)
	report := Signal{Source: FromConsumer, Target: "nobody", ErrorCode: "ExpiredToken", Observer: "worker via library"}
	trail := Signal{Source: FromCloudTrail, RoleArn: "arn:aws:iam::000000000000:role/Nobody", ErrorCode: "ExpiredToken", Observer: "CloudTrail"}
	for i := range 3 {
		out, err := f.reactor.React(awstest.Context(t), report)
		if err != nil || out.Decision.Action != Unmatched || out.Alerted != (i == 0) {
			t.Fatalf("report %d: %+v %v", i, out, err)
		}
		out, err = f.reactor.React(awstest.Context(t), trail)
		if err != nil || out.Decision.Action != Unmatched || out.Alerted {
			t.Fatalf("CloudTrail event %d for a role that is no target: %+v %v", i, out, err)
		}
	}
	if n := f.env.Transport.Calls("Publish"); n != 1 {
		t.Fatalf("%d SNS Publish calls, want 1 (the first unmatched report)", n)
	}
}

// Proves: the samples in testdata/ignored — CloudTrail events the stack's
// one CloudTrail rule delivers (aws.* source, an expired-token code, an
// assumed-role session) for a role that is no target — parse, and the
// reactor drops them without an alert or a rotation.
func TestCloudTrailForOtherRolesIsIgnored(t *testing.T) {
	f := newFixture(t, 2)
	files, err := filepath.Glob("testdata/ignored/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		s, err := ParseEvent(raw)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		out, err := f.reactor.React(awstest.Context(t), s)
		if err != nil || out.Decision.Action != Unmatched || out.Alerted || out.Rotation != nil {
			t.Errorf("%s: %+v %v; want dropped: unmatched, no alert, no rotation", file, out, err)
		}
	}
	if n := f.env.Transport.Calls("Publish"); n != 0 {
		t.Fatalf("%d SNS Publish calls for events of roles that are no target", n)
	}
}
