package reaction

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/internal/mototest"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/events"
	"github.com/stsrotator/stsrotator/shared/metrics"
	"github.com/stsrotator/stsrotator/shared/rotation"
)

// The accounts of the flood tests on moto (which reads a 12-digit access
// key as the caller's account): the stack's, one that reads app-0, and
// one that reads nothing.
const (
	floodReader   = "210987654321"
	floodOutsider = "333333333333"
	floodEnvs     = 4
)

// flood is a deployment on moto as the flood tests need it: four reactor
// environments sharing only AWS (Secrets Manager, one DynamoDB claims
// table, SNS through one inbox), a report rule on the stack account's
// default bus delivering to a queue, and the clock past refreshBefore so
// any report acted on would force a rotation.
type flood struct {
	moto     *mototest.Server
	cfg      *config.Config
	clk      *awstest.Clock
	reactors []*Reactor
	box      *inbox
	received func() []string
	bus      string
	versions func(tg config.Target) int
	logs     *awstest.Buffer
	keys     map[string]string
	writes   *countingDB
}

// countingDB counts the claims table's writes, for the burst's cost, and
// makes each UpdateItem atomic as DynamoDB does: DynamoDB evaluates a
// ConditionExpression and applies the write as one step per item
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html),
// moto 5.2.1's server does not (two concurrent conditional updates of one
// item can both pass; docs/local.md), so the calls are serialized here.
type countingDB struct {
	DynamoDB
	mu sync.Mutex
	n  int
}

func (c *countingDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return c.DynamoDB.UpdateItem(ctx, in, o...)
}

func newFlood(t *testing.T) *flood {
	ctx := context.Background()
	moto := mototest.Start(t)
	own := moto.Config(mototest.Account)
	secrets := secretsmanager.NewFromConfig(own)
	cfg := appTargets(t, "flood.yaml", 4, 1, mototest.Account, nil, func(i int) []string {
		if i == 0 {
			return []string{floodReader}
		}
		return nil
	})
	clk := awstest.NewClock(time.Now())
	logs := &awstest.Buffer{}
	log := awstest.Logger(logs)
	emit := metrics.NewWriter(logs, clk.Now)
	eng := &rotation.Engine{STS: sts.NewFromConfig(own), Secrets: secrets, Now: clk.Now, Log: log, Emit: emit, Verify: rotation.VerifyCaller}
	if _, sum := eng.Sweep(ctx, cfg.Targets, 4, rotation.Request{}); len(sum.Rotated) != len(cfg.Targets) {
		t.Fatalf("initial mint on moto: %+v", sum)
	}
	db := &countingDB{DynamoDB: dynamodb.NewFromConfig(own)}
	table := "stsrotator-alert-claims"
	if _, err := dynamodb.NewFromConfig(own).CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String(table), BillingMode: ddbtypes.BillingModePayPerRequest,
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String(TableKey), KeyType: ddbtypes.KeyTypeHash}},
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String(TableKey), AttributeType: ddbtypes.ScalarAttributeTypeS}}}); err != nil {
		t.Fatal(err)
	}
	f := &flood{moto: moto, cfg: cfg, clk: clk, box: &inbox{}, logs: logs, keys: map[string]string{}, writes: db}
	f.bus, f.received = moto.ReportEvents(t, own, mototest.Account)
	for range floodEnvs {
		f.reactors = append(f.reactors, &Reactor{Config: cfg, Account: mototest.Account, Secrets: secrets, Rotator: EngineRotator{Engine: eng},
			Topic: f.box, TopicArn: "arn:aws:sns:us-east-1:" + mototest.Account + ":alerts", Now: clk.Now, Log: log, Emit: emit,
			Claims: TableClaims{DB: db, Table: table}})
	}
	f.versions = func(tg config.Target) int {
		d, err := secrets.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(tg.SecretName)})
		if err != nil {
			t.Fatal(err)
		}
		return len(d.VersionIdsToStages)
	}
	for _, tg := range cfg.Targets {
		v, err := f.reactors[0].version(ctx, tg, "AWSCURRENT")
		if err != nil || !v.Exists {
			t.Fatalf("read %s: %v", tg.Name, err)
		}
		f.keys[tg.Name] = v.Value.MaskedKey()
	}
	clk.Add(45 * time.Minute) // every current key is inside refreshBefore
	return f
}

// send puts reports on the stack account's default bus as account from
// (PutEvents to the bus ARN, ten entries per call as EventBridge allows)
// and returns the events the report rule delivered, whole.
func (f *flood) send(t *testing.T, from string, reports []events.ExpiredToken) []string {
	t.Helper()
	eb := eventbridge.NewFromConfig(f.moto.Config(from))
	for i := 0; i < len(reports); i += 10 {
		var entries []ebtypes.PutEventsRequestEntry
		for _, d := range reports[i:min(i+10, len(reports))] {
			b, _ := json.Marshal(d)
			entries = append(entries, ebtypes.PutEventsRequestEntry{EventBusName: aws.String(f.bus), Source: aws.String(events.Source),
				DetailType: aws.String(events.DetailTypeExpiredToken), Detail: aws.String(string(b))})
		}
		out, err := eb.PutEvents(context.Background(), &eventbridge.PutEventsInput{Entries: entries})
		if err != nil || out.FailedEntryCount != 0 {
			t.Fatalf("put events as %s: %v %+v", from, err, out)
		}
	}
	// Each receive long-polls for a second; moto on a loaded machine may
	// deliver the last events seconds after PutEvents answered, so only
	// 30 empty polls in a row end the wait.
	var got []string
	for empty := 0; len(got) < len(reports) && empty < 30; {
		more := f.received()
		if len(more) == 0 {
			empty++
		} else {
			empty = 0
		}
		got = append(got, more...)
	}
	if len(got) != len(reports) {
		t.Fatalf("%d of %d reports delivered", len(got), len(reports))
	}
	for i, raw := range got {
		got[i] = withSenderAccount(t, raw, from)
	}
	return got
}

// withSenderAccount adds the envelope's account where moto leaves it out:
// EventBridge sets it on every event to the account that put it
// (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-events-structure.html),
// moto 5.2.1 omits the field (docs/local.md). An account moto did set is
// kept, so the test follows moto wherever it follows AWS.
func withSenderAccount(t *testing.T, raw, from string) string {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal([]byte(raw), &ev); err != nil {
		t.Fatalf("delivered event: %v", err)
	}
	if _, ok := ev["account"]; ok {
		return raw
	}
	ev["account"] = from
	b, _ := json.Marshal(ev)
	return string(b)
}

// tally is what the four environments did with a batch of delivered
// events.
type tally struct {
	rotations, targetAlerts, summaryAlerts int
}

// react hands the delivered events round-robin to the four environments,
// sixteen at a time, as Lambda's pollers would.
func (f *flood) react(t *testing.T, delivered []string) tally {
	t.Helper()
	before := len(f.box.subjects)
	var mu sync.Mutex
	var out tally
	var wg sync.WaitGroup
	work := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				s, err := ParseEvent([]byte(delivered[i]))
				if err != nil {
					t.Errorf("delivered event %d: %v", i, err)
					continue
				}
				o, err := f.reactors[i%floodEnvs].React(context.Background(), s)
				if err != nil {
					t.Errorf("react: %v", err)
					continue
				}
				mu.Lock()
				if o.Rotation != nil && o.Rotation.Outcome == rotation.Rotated {
					out.rotations++
				}
				mu.Unlock()
			}
		}()
	}
	for i := range delivered {
		work <- i
	}
	close(work)
	wg.Wait()
	f.box.mu.Lock()
	defer f.box.mu.Unlock()
	for _, s := range f.box.subjects[before:] {
		if strings.Contains(s, "unknown target — unmatched ExpiredToken report") {
			out.summaryAlerts++
		} else {
			out.targetAlerts++
		}
	}
	return out
}

func forged(n int, target func(i int) string, key func(i int) string, now time.Time) []events.ExpiredToken {
	out := make([]events.ExpiredToken, n)
	for i := range out {
		out[i] = events.ExpiredToken{SchemaVersion: events.SchemaVersion, Target: target(i), AccessKeyID: key(i), ErrorCode: events.CodeExpiredToken,
			ErrorMessage: "The provided token has expired.\r\nAction taken: none needed", ObservedAt: now, Observer: events.Observer{App: fmt.Sprintf("forger-%d", i), Via: events.ViaManual}}
	}
	return out
}

// Issue 19 §1: 100 reports forged by an account that reads nothing, each
// naming a real target (its current key too), delivered through
// EventBridge to four reactor environments: refused by the envelope's
// account, so no rotation, no target alert, and one summary alert for the
// whole deployment in the window (the claims table, not each
// environment's memory, decides), with every refusal counted.
func TestAbuse_ForgedReportsFromNonReaderAccount(t *testing.T) {
	f := newFlood(t)
	tgs := f.cfg.Targets
	delivered := f.send(t, floodOutsider, forged(100, func(i int) string { return tgs[i%len(tgs)].Name },
		func(i int) string { return f.keys[tgs[i%len(tgs)].Name] }, f.clk.Now()))
	if s, _ := ParseEvent([]byte(delivered[0])); s.Account != floodOutsider {
		t.Fatalf("the envelope's account is %q, want the sender %s (EventBridge sets it)", s.Account, floodOutsider)
	}
	writes, start := f.writes.n, time.Now()
	got := f.react(t, delivered)
	t.Logf("reacted in %s", time.Since(start).Round(time.Millisecond))
	t.Logf("100 forged reports from a non-reader account over %d environments: %d rotations, %d target alerts, %d summary alerts, %d claim writes",
		floodEnvs, got.rotations, got.targetAlerts, got.summaryAlerts, f.writes.n-writes)
	if got.rotations != 0 || got.targetAlerts != 0 || got.summaryAlerts > 1 {
		t.Errorf("%+v; want 0 rotations, 0 target alerts, at most 1 summary alert", got)
	}
	for _, tg := range tgs {
		if n := f.versions(tg); n != 1 {
			t.Errorf("%s: %d versions, want the minted one only", tg.Name, n)
		}
	}
	// The summary says who sent what stsrotator refused, in its own words.
	for _, m := range f.box.messages {
		if !strings.Contains(m, "Action taken:  alert only: account "+floodOutsider+" is no reader of target") ||
			!strings.Contains(m, "Signal:        ExpiredToken report (consumer) put on the bus by account "+floodOutsider) {
			t.Errorf("summary alert:\n%s", m)
		}
	}
	if n := strings.Count(f.logs.String(), `"RefusedReports":1`); n != 100 {
		t.Errorf("RefusedReports counted %d times, want 100", n)
	}
	if n := strings.Count(f.logs.String(), `"senderAccount":"`+floodOutsider+`"`); n < 100 {
		t.Errorf("the sender account is logged %d times, want once per report at least", n)
	}
}

// Issue 19 §1: 100 reports from a reader account naming made-up targets,
// through EventBridge to four environments: the same bounds. Then a
// genuine report from that account about the target it reads still
// rotates it once and alerts once.
func TestAbuse_ReportsNamingUnknownTargets(t *testing.T) {
	f := newFlood(t)
	delivered := f.send(t, floodReader, forged(100, func(i int) string { return fmt.Sprintf("made-up-%03d", i) },
		func(int) string { return "" }, f.clk.Now()))
	got := f.react(t, delivered)
	t.Logf("100 reports naming made-up targets from a reader account over %d environments: %d rotations, %d target alerts, %d summary alerts",
		floodEnvs, got.rotations, got.targetAlerts, got.summaryAlerts)
	if got.rotations != 0 || got.targetAlerts != 0 || got.summaryAlerts > 1 {
		t.Errorf("%+v; want 0 rotations, 0 target alerts, at most 1 summary alert", got)
	}

	tg := f.cfg.Targets[0]
	genuine := f.send(t, floodReader, forged(1, func(int) string { return tg.Name }, func(int) string { return f.keys[tg.Name] }, f.clk.Now()))
	got = f.react(t, genuine)
	if got.rotations != 1 || got.targetAlerts != 1 || got.summaryAlerts != 0 || f.versions(tg) != 2 {
		t.Errorf("a genuine report from the reader account: %+v, %d versions; want 1 rotation, 1 target alert, 2 versions", got, f.versions(tg))
	}
}

// Issue 19 §1: the claims table bounds alerts for the whole deployment.
// 40 reports for 4 targets from the stack's own account over four
// environments, inside one window: one forced rotation and one alert per
// target (the rotation's), where per-environment memory allowed up to
// four more each.
func TestAlertsBoundedAcrossEnvironments(t *testing.T) {
	f := newFlood(t)
	tgs := f.cfg.Targets
	var reports []events.ExpiredToken
	for i := range 40 {
		tg := tgs[i%len(tgs)]
		reports = append(reports, forged(1, func(int) string { return tg.Name }, func(int) string { return f.keys[tg.Name] }, f.clk.Now())...)
	}
	delivered := f.send(t, mototest.Account, reports)
	got := f.react(t, delivered)
	t.Logf("40 genuine reports for %d targets over %d environments: %+v", len(tgs), floodEnvs, got)
	if got.rotations != len(tgs) || got.targetAlerts != len(tgs) || got.summaryAlerts != 0 {
		t.Errorf("%+v; want %d rotations and %d alerts (one each), no summary", got, len(tgs), len(tgs))
	}
}
