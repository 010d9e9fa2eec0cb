package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/metrics"
	"github.com/stsrotator/stsrotator/shared/reaction"
)

// Malformed events are dropped with a logged reason and a metric, and the
// invocation succeeds so asynchronous retries do not amplify them.
func TestHandleDropsMalformedEvents(t *testing.T) {
	cfg, err := config.Parse("t.yaml", []byte("targets:\n  - name: a\n    roleArn: arn:aws:iam::000000000000:role/A\n"))
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	h := &Handler{Reactor: &reaction.Reactor{Config: cfg, Now: time.Now}, Log: awstest.Logger(&logs), Emit: metrics.NewWriter(&logs, time.Now)}
	cases := []struct{ why, in, reason string }{
		{"not JSON", `hello`, "not an EventBridge event"},
		{"someone else's event", `{"source":"myapp","detail-type":"Order Placed","detail":{}}`, "neither an stsrotator report"},
		{"a report with a whole key", `{"source":"stsrotator","detail-type":"ExpiredToken Observed","detail":{"schemaVersion":1,"target":"a","accessKeyId":"ASIAABCDEFGHIJKLMNOP","errorCode":"ExpiredToken","observedAt":"2026-11-25T10:00:00Z","observer":{"via":"cli"}}}`, "accessKeyId is not masked"},
	}
	for _, c := range cases {
		logs.Reset()
		if _, err := h.Handle(context.Background(), []byte(c.in)); err != nil {
			t.Errorf("%s: returned %v; a malformed event must not be retried", c.why, err)
		}
		if !strings.Contains(logs.String(), c.reason) || !strings.Contains(logs.String(), `"RejectedEvents":1`) {
			t.Errorf("%s: want the reason %q logged and a RejectedEvents metric, got:\n%s", c.why, c.reason, logs.String())
		}
		if strings.Contains(logs.String(), "ASIAABCDEFGHIJKLMNOP") {
			t.Errorf("%s: a whole access key reached the log", c.why)
		}
	}
}

type throttled struct{}

func (throttled) GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return nil, &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}
}

// From the reports queue the reactor gets a batch of SQS messages, each an
// EventBridge event: a malformed one is dropped (not retried), one that
// failed for a transient reason is named in BatchItemFailures so SQS
// retries only it.
func TestHandleSQSBatch(t *testing.T) {
	cfg, err := config.Parse("t.yaml", []byte("targets:\n  - name: a\n    roleArn: arn:aws:iam::000000000000:role/A\n"))
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	h := &Handler{Reactor: &reaction.Reactor{Config: cfg, Secrets: throttled{}, Now: time.Now, Log: awstest.Logger(&logs)}, Log: awstest.Logger(&logs), Emit: metrics.NewWriter(&logs, time.Now)}
	report := `{"source":"stsrotator","detail-type":"ExpiredToken Observed","account":"000000000000","detail":{"schemaVersion":1,"target":"a","errorCode":"ExpiredToken","observedAt":"2026-11-25T10:00:00Z","observer":{"via":"cli"}}}`
	batch, _ := json.Marshal(map[string]any{"Records": []map[string]any{
		{"messageId": "m-malformed", "body": "hello", "eventSource": "aws:sqs"},
		{"messageId": "m-throttled", "body": report, "eventSource": "aws:sqs"},
	}})
	resp, err := h.Handle(context.Background(), batch)
	if err != nil || resp == nil || len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "m-throttled" {
		t.Fatalf("want only m-throttled retried, got %+v %v\n%s", resp, err, logs.String())
	}
}
