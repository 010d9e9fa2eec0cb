package reaction

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/internal/eventschema"
	"github.com/stsrotator/stsrotator/shared/events"
	"github.com/stsrotator/stsrotator/shared/metrics"
	"github.com/stsrotator/stsrotator/shared/rotation"
)

// Every alert the reactor emails also goes on EventBridge as an "Alert"
// event with the same facts, structured; the forced rotation behind it
// announces itself as "Credentials Rotated" (why expired-token-report).
// Both match their schemas; neither can reach the ExpiredToken rule. An
// EventBridge outage costs the event, never the reaction.
func TestAlertEvents(t *testing.T) {
	f := newFixture(t, 2)
	ctx := awstest.Context(t)
	bus := f.env.Unique("reactor-events")
	if _, err := f.env.EventBridge().CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(bus)}); err != nil {
		t.Fatal(err)
	}
	seen := f.env.LifecycleRules(t, bus)
	em := &events.Emitter{API: f.env.EventBridge(), Bus: bus}
	f.reactor.Events, f.engine.Events = em, em
	box := &inbox{next: f.reactor.Topic}
	f.reactor.Topic = box
	tg := f.cfg.Targets[0]
	key := f.currentKey(t, tg)
	f.clk.Add(45 * time.Minute)
	out, err := f.reactor.React(ctx, Signal{Source: FromConsumer, Target: tg.Name, Key: key, ErrorCode: "ExpiredToken", Service: "s3", Operation: "GetObject",
		ObservedAt: f.clk.Now(), Observer: "nightly on host-7 via cli"})
	if err != nil || out.Rotation == nil || out.Rotation.Outcome != rotation.Rotated || !out.Alerted {
		t.Fatalf("want a forced rotation and its alert: %+v %v", out, err)
	}
	if _, err := f.reactor.React(ctx, Signal{Source: FromLogs, Target: "nope", ErrorCode: "ExpiredToken", ObservedAt: f.clk.Now(), Observer: "logs"}); err != nil {
		t.Fatal(err)
	}
	got := seen()
	root := awstest.RepoRoot(t)
	for dt, n := range map[string]int{events.DetailTypeAlert: 2, events.DetailTypeRotated: 1} {
		if len(got[dt]) != n {
			t.Fatalf("%d %q events, want %d: %+v", len(got[dt]), dt, n, got)
		}
		for _, d := range got[dt] {
			if err := eventschema.Validate(root, dt, []byte(d.Detail)); err != nil {
				t.Error(err)
			}
		}
	}
	if len(got[events.DetailTypeExpiredToken]) != 0 {
		t.Fatal("a lifecycle event reached the ExpiredToken reaction pattern")
	}
	var alert events.Alert
	if err := json.Unmarshal([]byte(got[events.DetailTypeAlert][0].Detail), &alert); err != nil {
		t.Fatal(err)
	}
	subjects, _ := box.sent()
	if alert.Subject != subjects[0] || alert.Target != tg.Name || alert.Action != string(Force) || alert.FailingKey != key || alert.KeyMatch != string(KeyCurrent) ||
		alert.Rotation == nil || alert.Rotation.AccessKeyID != out.Rotation.Key || alert.Current == nil || alert.Current.AccessKeyID != out.Rotation.Key ||
		alert.Service != "s3" || alert.Inspect != "stsrotator status --target "+tg.Name {
		t.Fatalf("the Alert event does not carry the email's facts: %+v (email subject %q)", alert, subjects[0])
	}
	var rotated events.Rotated
	_ = json.Unmarshal([]byte(got[events.DetailTypeRotated][0].Detail), &rotated)
	if rotated.Why != events.CauseExpiredTokenReport || rotated.Previous == nil || rotated.Previous.AccessKeyID != key {
		t.Fatalf("the forced rotation's event: %+v", rotated)
	}

	// EventBridge down: the alert email still goes, the event is counted
	// as lost, and React succeeds.
	f.env.Transport.Fault = func(op string, body []byte) *http.Response {
		if op == "PutEvents" {
			return awstest.JSONError(500, "InternalException", "EventBridge is unavailable")
		}
		return nil
	}
	logs := &awstest.Buffer{}
	f.reactor.Log = awstest.Logger(logs)
	f.reactor.Emit = metrics.NewWriter(logs, f.clk.Now)
	other := f.cfg.Targets[1]
	if out, err := f.reactor.React(ctx, Signal{Source: FromConsumer, Target: other.Name, ErrorCode: "ExpiredToken", ObservedAt: f.clk.Now(), Observer: "x"}); err != nil || !out.Alerted {
		t.Fatalf("an EventBridge outage failed the reaction: %+v %v", out, err)
	}
	if !strings.Contains(logs.String(), `"EventPublishFailures":1`) || !strings.Contains(logs.String(), "alert event not published") {
		t.Fatalf("the lost event was not counted and logged:\n%s", logs.String())
	}
}
