package localstack

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/stsrotator/stsrotator/internal/emulator"
	"github.com/stsrotator/stsrotator/shared/events"
)

// eventInbox is the queue a rule on the default bus fills with every
// lifecycle event the functions publish, so make local can narrate them.
const eventInbox = "stsrotator-event-inbox"

// Event is one lifecycle event as delivered: its detail-type and detail.
type Event struct {
	DetailType string
	Detail     json.RawMessage
}

// eventsInbox creates the queue and the rule that feeds it, as a team
// routing stsrotator's events would.
func (s *Stack) eventsInbox(ctx context.Context) error {
	q, err := sqs.NewFromConfig(s.aws).CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(eventInbox)})
	if err != nil {
		return fmt.Errorf("create event inbox: %w", err)
	}
	s.eventsURL = aws.ToString(q.QueueUrl)
	pattern, _ := json.Marshal(map[string][]string{"source": {events.Source},
		"detail-type": {events.DetailTypeRotated, events.DetailTypeRotationFailed, events.DetailTypeAlert}})
	eb := eventbridge.NewFromConfig(s.aws)
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("stsrotator-lifecycle-events"), EventPattern: aws.String(string(pattern))}); err != nil {
		return fmt.Errorf("lifecycle rule: %w", err)
	}
	_, err = eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("stsrotator-lifecycle-events"), Targets: []ebtypes.Target{{
		Id: aws.String("inbox"), Arn: aws.String(fmt.Sprintf("arn:aws:sqs:%s:%s:%s", emulator.Region, emulator.Account, eventInbox))}}})
	return err
}

// Events returns the lifecycle events delivered since the last call,
// waiting up to wait for the first one (kumo delivers to queues
// asynchronously), then taking whatever else is there.
func (s *Stack) Events(ctx context.Context, wait time.Duration) ([]Event, error) {
	q := sqs.NewFromConfig(s.aws)
	var got []Event
	secs := int32(wait / time.Second)
	for {
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(s.eventsURL), WaitTimeSeconds: secs, MaxNumberOfMessages: 10})
		if err != nil {
			return got, err
		}
		if len(out.Messages) == 0 {
			return got, nil
		}
		for _, m := range out.Messages {
			_, _ = q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(s.eventsURL), ReceiptHandle: m.ReceiptHandle})
			var env struct {
				DetailType string          `json:"detail-type"`
				Detail     json.RawMessage `json:"detail"`
			}
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &env); err != nil {
				return got, fmt.Errorf("event inbox: not an EventBridge event: %w", err)
			}
			got = append(got, Event{DetailType: env.DetailType, Detail: env.Detail})
		}
		secs = 0
	}
}

// Describe is the one line make local prints for an event.
func (e Event) Describe() string {
	switch e.DetailType {
	case events.DetailTypeRotated:
		var d events.Rotated
		_ = json.Unmarshal(e.Detail, &d)
		line := fmt.Sprintf("%s: %s (why: %s) → key %s, version %s, expires %s", e.DetailType, d.Target, d.Why, d.AccessKeyID, shortID(d.VersionID), d.Expiration.Format(time.RFC3339))
		if p := d.Previous; p != nil {
			line += fmt.Sprintf("; previous %s still valid: %v", p.AccessKeyID, p.StillValid)
		}
		return line
	case events.DetailTypeRotationFailed:
		var d events.RotationFailed
		_ = json.Unmarshal(e.Detail, &d)
		return fmt.Sprintf("%s: %s (why: %s): %s; current version valid %ds more", e.DetailType, d.Target, d.Why, d.Reason, d.CurrentValidSeconds)
	case events.DetailTypeAlert:
		var d events.Alert
		_ = json.Unmarshal(e.Detail, &d)
		return fmt.Sprintf("%s: %s (action %s, signal %s)", e.DetailType, d.Subject, d.Action, d.Signal)
	}
	return e.DetailType + ": " + strings.TrimSpace(string(e.Detail))
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
