package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	awsevents "github.com/aws/aws-lambda-go/events"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/events"
	"github.com/stsrotator/stsrotator/shared/logwatch"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

func TestMain(m *testing.M) { awstest.Main(m) }

func load(t *testing.T, file string) awsevents.CloudwatchLogsEvent {
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var ev awsevents.CloudwatchLogsEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// A real subscription payload becomes one report on kumo's EventBridge:
// two ExpiredToken lines, rate-limited to one; the key masked; the info
// line ignored.
func TestSubscriptionBecomesReport(t *testing.T) {
	env := awstest.Start(t)
	ctx := awstest.Context(t)
	cfg, err := config.Parse("t.yaml", []byte("targets:\n  - name: billing-reader\n    roleArn: arn:aws:iam::000000000000:role/B\n    logGroups: [/ecs/nightly-report]\n"))
	if err != nil {
		t.Fatal(err)
	}
	bus, delivered := env.ObservedBus(t, "reports")
	var logs bytes.Buffer
	now := time.Date(2026, 11, 25, 10, 16, 0, 0, time.UTC)
	h := &Handler{Router: logwatch.NewRouter(cfg, logwatch.DefaultInterval, func() time.Time { return now }), Events: env.EventBridge(), Bus: bus, Log: awstest.Logger(&logs)}
	if err := h.Handle(ctx, load(t, "testdata/subscription.json")); err != nil {
		t.Fatal(err)
	}
	details := delivered()
	if len(details) != 1 {
		t.Fatalf("want 1 report (two ExpiredToken lines within one interval), got %d", len(details))
	}
	d, err := events.ParseExpiredToken([]byte(details[0]))
	if err != nil {
		t.Fatalf("the report does not validate: %v", err)
	}
	want := events.ExpiredToken{Target: "billing-reader", AccessKeyID: "ASIA…QZ12", Service: "S3", Operation: "PutObject", ErrorCode: "ExpiredToken"}
	if d.Target != want.Target || d.AccessKeyID != want.AccessKeyID || d.Service != want.Service || d.Operation != want.Operation ||
		d.ErrorCode != want.ErrorCode || d.Observer.Via != "logs" || d.Observer.App != "/ecs/nightly-report" {
		t.Fatalf("report %+v", d)
	}
	if strings.Contains(details[0]+logs.String(), "ASIAEXAMPLEKEY7XQZ12") {
		t.Fatal("the whole access key from the log line left the function")
	}
	if !strings.Contains(logs.String(), `"suppressed":1`) {
		t.Fatalf("the rate-limited line is not counted:\n%s", logs.String())
	}

	// A report that could not be published is not held back from the
	// retry: Lambda redelivers the same payload inside the interval.
	now = now.Add(logwatch.DefaultInterval)
	env.Transport.Fault = func(op string, _ []byte) *http.Response {
		if op == "PutEvents" {
			return awstest.JSONError(http.StatusBadRequest, "AccessDeniedException", "not allowed yet")
		}
		return nil
	}
	if err := h.Handle(ctx, load(t, "testdata/subscription.json")); err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Fatalf("a failed publish must fail the delivery so Lambda retries it, got %v", err)
	}
	env.Transport.Fault = nil
	if err := h.Handle(ctx, load(t, "testdata/subscription.json")); err != nil {
		t.Fatal(err)
	}
	if n := len(delivered()); n != 2 {
		t.Fatalf("the retried delivery published %d reports in all, want 2", n)
	}

	// The next interval lets one more through.
	now = now.Add(logwatch.DefaultInterval)
	if err := h.Handle(ctx, load(t, "testdata/subscription.json")); err != nil {
		t.Fatal(err)
	}
	if n := len(delivered()); n != 3 {
		t.Fatalf("after the interval: %d reports, want 3", n)
	}
}

func TestDropsWhatItCannotUse(t *testing.T) {
	cfg, err := config.Parse("t.yaml", []byte("targets:\n  - name: a\n    roleArn: arn:aws:iam::000000000000:role/A\n"))
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	h := &Handler{Router: logwatch.NewRouter(cfg, time.Minute, time.Now), Log: awstest.Logger(&logs)}
	cases := []struct {
		why  string
		ev   awsevents.CloudwatchLogsEvent
		want string
	}{
		{"CloudWatch's health check is ignored silently", load(t, "testdata/control.json"), ""},
		{"a log group no target lists is dropped with the reason", load(t, "testdata/subscription.json"), "not in any target's logGroups"},
		{"a payload that is not gzip+base64 is dropped with the reason", awsevents.CloudwatchLogsEvent{AWSLogs: awsevents.CloudwatchLogsRawData{Data: "bm90IGd6aXA="}}, "not a CloudWatch Logs subscription payload"},
	}
	for _, c := range cases {
		logs.Reset()
		if err := h.Handle(context.Background(), c.ev); err != nil {
			t.Errorf("%s: returned %v; a retry would resend the same bytes", c.why, err)
		}
		if c.want != "" && !strings.Contains(logs.String(), c.want) {
			t.Errorf("%s: log %q lacks %q", c.why, logs.String(), c.want)
		}
	}
}

func FuzzReport(f *testing.F) {
	f.Add("api error ExpiredToken: expired ASIAEXAMPLEKEY7XQZ12")
	f.Add("An error occurred (ExpiredTokenException) when calling the Query operation")
	f.Add("ExpiredToken operation error Dynamo DB: GetItem")
	f.Fuzz(func(t *testing.T, msg string) {
		d, ok := logwatch.Report("app", logwatch.Line{Group: "/g", Stream: "s", Time: time.Unix(1, 0), Message: msg})
		if !ok {
			return
		}
		if err := d.Validate(); err != nil {
			t.Fatalf("a report from %q does not validate: %v", msg, err)
		}
		// No whole key anywhere in the report (Validate refuses one in any
		// free-text field too), and the reported key is the masked form of
		// a key that really was in the line.
		if k := events.FirstKey(d.ErrorMessage); k != "" {
			t.Fatalf("a whole key survived into the message: %s…", k[:4])
		}
		if d.AccessKeyID != "" && d.AccessKeyID != secretfmt.Mask(events.FirstKey(msg)) {
			t.Fatalf("reported key %q is not the masked first key of the line", d.AccessKeyID)
		}
	})
}
