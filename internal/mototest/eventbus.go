package mototest

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/stsrotator/stsrotator/shared/events"
)

// ReportInbox puts a rule for ExpiredToken reports on the default bus of
// cfg's account (moto reads a 12-digit access key as the account) with an
// SQS queue as its target, and returns the bus's ARN and a function that
// receives the report details delivered so far. moto routes PutEvents
// addressed to another account's bus ARN, as EventBridge does, so a
// reader-account consumer's report can be followed to the stsrotator
// account; moto does not enforce the bus's resource policy (the infra
// tests check that policy in the template).
func (s *Server) ReportInbox(tb testing.TB, cfg aws.Config, account string) (string, func() []string) {
	tb.Helper()
	bus, received := s.ReportEvents(tb, cfg, account)
	var got []string
	return bus, func() []string {
		tb.Helper()
		for _, raw := range received() {
			var ev struct {
				Detail json.RawMessage `json:"detail"`
			}
			if err := json.Unmarshal([]byte(raw), &ev); err != nil {
				tb.Fatalf("mototest: delivered event: %v", err)
			}
			got = append(got, string(ev.Detail))
		}
		return got
	}
}

// ReportEvents is ReportInbox returning each delivered event whole, as
// the rule's target receives it (envelope and detail), and only the
// events received since the last call.
func (s *Server) ReportEvents(tb testing.TB, cfg aws.Config, account string) (string, func() []string) {
	tb.Helper()
	ctx := context.Background()
	q := sqs.NewFromConfig(cfg)
	qo, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("stsrotator-reports")})
	if err != nil {
		tb.Fatalf("mototest: create queue: %v", err)
	}
	qa, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: qo.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		tb.Fatalf("mototest: queue ARN: %v", err)
	}
	eb := eventbridge.NewFromConfig(cfg)
	pattern, _ := json.Marshal(map[string][]string{"source": {events.Source}, "detail-type": {events.DetailTypeExpiredToken}})
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("stsrotator-reports"), EventPattern: aws.String(string(pattern))}); err != nil {
		tb.Fatalf("mototest: put rule: %v", err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("stsrotator-reports"),
		Targets: []ebtypes.Target{{Id: aws.String("inbox"), Arn: aws.String(qa.Attributes["QueueArn"])}}}); err != nil {
		tb.Fatalf("mototest: put targets: %v", err)
	}
	return "arn:aws:events:" + cfg.Region + ":" + account + ":event-bus/" + events.DefaultBus, func() []string {
		tb.Helper()
		var got []string
		// Long polling is the synchronisation: it returns as soon as a
		// message is there, and after a second when none is.
		for {
			out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: qo.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
			if err != nil {
				tb.Fatalf("mototest: receive: %v", err)
			}
			if len(out.Messages) == 0 {
				return got
			}
			for _, m := range out.Messages {
				got = append(got, aws.ToString(m.Body))
				if _, err := q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: qo.QueueUrl, ReceiptHandle: m.ReceiptHandle}); err != nil {
					tb.Fatalf("mototest: delete: %v", err)
				}
			}
		}
	}
}
