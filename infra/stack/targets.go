package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawsevents"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// The stack wires its rule target, its SQS event source, its alarm action
// and its email subscriptions by hand instead of through the CDK's glue
// packages (awseventstargets, awslambdaeventsources, awscloudwatchactions,
// awssnssubscriptions). Each of those Go packages imports the bindings of
// every service it can target, so the four of them made the CDK app
// compile about 170 CDK packages where it uses 16: most of a cold
// `make local` (docs/benchmarks.md, "make local from a cold cache"). What
// follows synthesises the same resources, with the same logical IDs, as
// the aws-cdk-lib v2 constructs it replaces; the infra/stack tests check
// the resources (rule targets, queue policy, event source mapping, alarm
// actions, subscriptions).

// QueueTarget is an EventBridge rule target delivering matched events to
// q, as aws-events-targets' SqsQueue: the queue policy lets
// events.amazonaws.com send messages only on behalf of the rule it is bound
// to (aws:SourceArn, against the confused deputy:
// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sqs-permissions).
// q must not be encrypted with a customer managed KMS key (EventBridge
// would also need kms:GenerateDataKey and kms:Decrypt on it).
func QueueTarget(q awssqs.IQueue) awsevents.IRuleTarget { return &queueTarget{q} }

type queueTarget struct{ q awssqs.IQueue }

// Bind implements awsevents.IRuleTarget.
func (t *queueTarget) Bind(rule interfacesawsevents.IRuleRef, _ *string) *awsevents.RuleTargetConfig {
	if t.q.EncryptionMasterKey() != nil {
		panic("stack: QueueTarget: a queue encrypted with a customer managed key also needs a key grant to EventBridge")
	}
	t.q.GrantSendMessages(awsiam.NewServicePrincipal(jsii.String("events.amazonaws.com"), &awsiam.ServicePrincipalOpts{
		Conditions: &map[string]any{"ArnEquals": map[string]any{"aws:SourceArn": awsevents.CfnRule_ArnForRule(rule)}},
	}))
	return &awsevents.RuleTargetConfig{Arn: t.q.QueueArn(), TargetResource: t.q}
}

// addSQSEventSource has f poll q, as aws-lambda-event-sources'
// SqsEventSource: an event source mapping under f with the construct ID
// that class gives it (so the logical ID is the same), and the consume
// grant on f's role
// (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html#events-sqs-permissions).
func addSQSEventSource(f awslambda.Function, q awssqs.IQueue, opts *awslambda.EventSourceMappingOptions) {
	opts.EventSourceArn = q.QueueArn()
	f.AddEventSourceMapping(jsii.String("SqsEventSource:"+*awscdk.Names_NodeUniqueId(q.Node())), opts)
	q.GrantConsumeMessages(f)
}

// topicAction is a CloudWatch alarm action publishing to a topic, as
// aws-cloudwatch-actions' SnsAction.
type topicAction struct{ topic awssns.ITopic }

// Bind implements awscloudwatch.IAlarmAction.
func (a *topicAction) Bind(constructs.Construct, awscloudwatch.IAlarm) *awscloudwatch.AlarmActionConfig {
	return &awscloudwatch.AlarmActionConfig{AlarmActionArn: a.topic.TopicArn()}
}

// emailSubscription subscribes address to topic, as
// aws-sns-subscriptions' EmailSubscription: the address is the
// subscription's construct ID, so a repeated address is refused.
type emailSubscription struct{ address string }

// Bind implements awssns.ITopicSubscription.
func (e *emailSubscription) Bind(awssns.ITopic) *awssns.TopicSubscriptionConfig {
	return &awssns.TopicSubscriptionConfig{
		SubscriberId: jsii.String(e.address),
		Endpoint:     jsii.String(e.address),
		Protocol:     awssns.SubscriptionProtocol_EMAIL,
	}
}
