package events_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/stsrotator/stsrotator/internal/mototest"
	"github.com/stsrotator/stsrotator/shared/events"
)

// Issue figure: a consumer in a replica region (its client in eu-west-1)
// reports to the bus its secret's reportBus names — the primary region's —
// and the report arrives there, on moto, where a rule of the primary
// region delivers it to a queue.
func TestReportFromAReplicaRegionReachesThePrimaryBus(t *testing.T) {
	ctx := context.Background()
	s := mototest.Start(t)
	primary := s.Config("") // us-east-1
	q, err := sqs.NewFromConfig(primary).CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("reports")})
	if err != nil {
		t.Fatal(err)
	}
	qa, err := sqs.NewFromConfig(primary).GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	eb := eventbridge.NewFromConfig(primary)
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("reports"), EventPattern: aws.String(`{"source":["` + events.Source + `"]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("reports"), Targets: []ebtypes.Target{{Id: aws.String("q"), Arn: aws.String(qa.Attributes["QueueArn"])}}}); err != nil {
		t.Fatal(err)
	}

	replica := s.Config("")
	replica.Region = "eu-west-1"
	bus := "arn:aws:events:us-east-1:" + mototest.Account + ":event-bus/default"
	d := events.ExpiredToken{Target: "web", AccessKeyID: "ASIA…7XQZ", ErrorCode: events.CodeExpiredToken, ObservedAt: time.Now().UTC().Truncate(time.Second), Observer: events.Observer{Via: "cli"}}
	if _, err := events.Publish(ctx, eventbridge.NewFromConfig(replica), bus, d); err != nil {
		t.Fatal(err)
	}
	got, err := sqs.NewFromConfig(primary).ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Messages) != 1 {
		t.Fatalf("the primary region's rule saw %d reports, want 1", len(got.Messages))
	}
}
