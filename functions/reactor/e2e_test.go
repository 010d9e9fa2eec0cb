package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/internal/eventschema"
	"github.com/stsrotator/stsrotator/shared/events"
	"github.com/stsrotator/stsrotator/shared/lambdaenv"
	"github.com/stsrotator/stsrotator/shared/rotation"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

func TestMain(m *testing.M) { awstest.MainWithKumoPort(m) }

// End to end through kumo: a consumer's PutEvents → kumo EventBridge →
// kumo's Lambda Runtime API → the real reactor binary → the real rotator
// binary → a new secret version, and an alert on SNS read back from SQS.
func TestReportThroughEventBridge(t *testing.T) {
	env := awstest.Start(t)
	env.ServeKumoPort(t)
	ctx := awstest.Context(t)
	root := awstest.RepoRoot(t)

	secret := env.Unique("billing-reader")
	cfgPath := filepath.Join(t.TempDir(), lambdaenv.ConfigFile)
	cfgText := fmt.Sprintf("targets:\n  - name: billing-reader\n    roleArn: arn:aws:iam::000000000000:role/BillingReadOnly\n    secretName: %s\n", secret)
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}

	// The secret as a missed schedule would leave it: valid JSON whose
	// credentials expired five minutes ago.
	issued := time.Now().Add(-65 * time.Minute)
	expired := secretfmt.Value{AccessKeyID: "ASIAEXPIREDKEY0000001", SecretAccessKey: "expired-secret-material", SessionToken: "expired-token-material",
		Expiration: time.Now().Add(-5 * time.Minute).UTC().Truncate(time.Second),
		Meta:       secretfmt.Metadata{Target: "billing-reader", IssuedAt: issued}}
	body, _ := secretfmt.Marshal(expired)
	if _, err := env.Secrets.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(secret), SecretString: aws.String(string(body))}); err != nil {
		t.Fatal(err)
	}

	topic, err := env.SNS().CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(env.Unique("alerts"))})
	if err != nil {
		t.Fatal(err)
	}
	q, err := env.SQS().CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(env.Unique("alert-inbox"))})
	if err != nil {
		t.Fatal(err)
	}
	qa, err := env.SQS().GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.SNS().Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(qa.Attributes["QueueArn"])}); err != nil {
		t.Fatal(err)
	}

	rotatorName, reactorName := env.Unique("rotator"), env.Unique("reactor")
	common := []string{lambdaenv.ConfigPath + "=" + cfgPath, lambdaenv.VerifyMode + "=" + string(rotation.VerifyCaller)}
	logs := &awstest.Buffer{}
	env.RunFunction(t, rotatorName, awstest.BuildFunction(t, root, "rotator"), common, logs)
	env.RunFunction(t, reactorName, awstest.BuildFunction(t, root, "reactor"),
		append(common, lambdaenv.TopicArn+"="+aws.ToString(topic.TopicArn), lambdaenv.RotatorFunction+"="+rotatorName), logs)

	// What the functions announce on the default bus, seen by rules.
	announced := env.LifecycleRules(t, "")
	eb := env.EventBridge()
	alertEvents, err := env.SQS().CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(env.Unique("alert-events"))})
	if err != nil {
		t.Fatal(err)
	}
	alertPattern, _ := json.Marshal(map[string]any{"source": []string{events.Source}, "detail-type": []string{events.DetailTypeAlert}})
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(env.Unique("alert-events")), EventPattern: aws.String(string(alertPattern))}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(env.Unique("alert-events")), Targets: []ebtypes.Target{{
		Id: aws.String("queue"), Arn: aws.String("arn:aws:sqs:us-east-1:000000000000:" + env.Unique("alert-events"))}}}); err != nil {
		t.Fatal(err)
	}
	rule := env.Unique("expired-token")
	pattern, _ := json.Marshal(map[string]any{"source": []string{events.Source}, "detail-type": []string{events.DetailTypeExpiredToken}})
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(rule), EventPattern: aws.String(string(pattern))}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(rule), Targets: []ebtypes.Target{{
		Id: aws.String("reactor"), Arn: aws.String("arn:aws:lambda:us-east-1:000000000000:function:" + reactorName)}}}); err != nil {
		t.Fatal(err)
	}

	detail, _ := json.Marshal(events.ExpiredToken{SchemaVersion: events.SchemaVersion, Target: "billing-reader", AccessKeyID: expired.MaskedKey(),
		Service: "s3", Operation: "GetObject", Region: awstest.Region, ErrorCode: events.CodeExpiredToken, ErrorMessage: "The provided token has expired.",
		ObservedAt: time.Now().UTC(), Observer: events.Observer{App: "nightly-report", Host: "host-7", Via: "cli"}})
	put, err := eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		Source: aws.String(events.Source), DetailType: aws.String(events.DetailTypeExpiredToken), Detail: aws.String(string(detail))}}})
	if err != nil || put.FailedEntryCount != 0 {
		t.Fatalf("put events: %v %+v", err, put)
	}

	// SQS long polling is the synchronisation: it returns as soon as the
	// alert arrives.
	var alert string
	for attempt := 0; attempt < 3 && alert == ""; attempt++ {
		msgs, err := env.SQS().ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, WaitTimeSeconds: 10, MaxNumberOfMessages: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs.Messages {
			alert = aws.ToString(m.Body)
		}
	}
	if alert == "" {
		t.Fatalf("no alert reached the topic within 30s; function logs:\n%s", logs.String())
	}
	// SNS delivers to SQS in its JSON envelope; the email is its Subject
	// and Message.
	var note struct{ Subject, Message string }
	if err := json.Unmarshal([]byte(alert), &note); err != nil || note.Message == "" {
		t.Fatalf("SQS body is not an SNS notification: %v\n%s", err, alert)
	}
	alert = note.Subject + "\n" + note.Message
	for _, want := range []string{"rotated after ExpiredToken", `> observer:    "nightly-report on host-7 via cli"`, `> call:        "s3" "GetObject"`, "forced a rotation because the current credentials expired", "stsrotator status --target billing-reader"} {
		if !strings.Contains(alert, want) {
			t.Errorf("alert lacks %q:\n%s", want, alert)
		}
	}
	// The failing credentials were the current version until the forced
	// rotation replaced them; the alert still says how old they were. The
	// reactor's clock is the wall clock, so the age lies between 65
	// minutes and 65 minutes plus the time this test has taken since.
	m := regexp.MustCompile(`Failing key:\s+` + regexp.QuoteMeta(expired.MaskedKey()) + ` \(current version\), issued (\S+) ago`).FindStringSubmatch(alert)
	if m == nil {
		t.Fatalf("alert lacks the failing key's age:\n%s", alert)
	}
	age, err := time.ParseDuration(m[1])
	if lo, hi := 65*time.Minute-time.Second, time.Since(issued)+time.Second; err != nil || age < lo || age > hi {
		t.Errorf("failing key issued %q ago, want between %s and %s (%v)", m[1], lo, hi, err)
	}
	got, err := env.Secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secret)})
	if err != nil {
		t.Fatal(err)
	}
	v, err := secretfmt.Parse([]byte(aws.ToString(got.SecretString)))
	if err != nil || v.AccessKeyID == expired.AccessKeyID || v.Expired(time.Now()) {
		t.Fatalf("the current version was not replaced by fresh credentials: %v %v", v, err)
	}
	// The rotator announced the rotation (why: the report) and the
	// reactor the alert, each received by a rule asking for its
	// detail-type, each matching its published schema; the reaction
	// rule's ExpiredToken pattern received only the report itself.
	// The reactor puts its Alert event after the email; a rule delivering
	// Alert events to a queue lets long polling wait for it.
	for attempt := 0; attempt < 3; attempt++ {
		msgs, err := env.SQS().ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: alertEvents.QueueUrl, WaitTimeSeconds: 10, MaxNumberOfMessages: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs.Messages) > 0 {
			break
		}
	}
	seen := announced()
	for dt, want := range map[string]string{events.DetailTypeRotated: `"why":"expired-token-report"`, events.DetailTypeAlert: `"action":"force-rotation"`} {
		if len(seen[dt]) != 1 || !strings.Contains(seen[dt][0].Detail, want) {
			t.Fatalf("want one %q event with %s, got %+v\nfunction logs:\n%s", dt, want, seen[dt], logs.String())
		}
		if err := eventschema.Validate(root, dt, []byte(seen[dt][0].Detail)); err != nil {
			t.Error(err)
		}
		if leaks := awstest.Leaks([]byte(seen[dt][0].Detail)); len(leaks) > 0 {
			t.Errorf("%s event carries secret material %v", dt, leaks)
		}
	}
	if len(seen[events.DetailTypeExpiredToken]) != 1 {
		t.Fatalf("the ExpiredToken pattern matched %d events, want only the report", len(seen[events.DetailTypeExpiredToken]))
	}
}
