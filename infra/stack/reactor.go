package stack

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/stsrotator/stsrotator/infra/plan"
	"github.com/stsrotator/stsrotator/shared/events"
	"github.com/stsrotator/stsrotator/shared/lambdaenv"
	"github.com/stsrotator/stsrotator/shared/logwatch"
	"github.com/stsrotator/stsrotator/shared/reaction"
	"github.com/stsrotator/stsrotator/shared/rotation"
)

// Reactor sizing. The reactor has no reserved concurrency
// (plan.ReactorReservedConcurrency is 0): AWS refuses a reservation that
// would leave less than the minimum unreserved concurrency, which is every
// new account's whole quota. Its concurrency is bounded instead by the
// way events reach it: both ExpiredToken rules put them on an SQS queue,
// and the queue's event source mapping invokes the reactor with at most
// ReactorMaxConcurrency concurrent invocations, however many reports
// arrive (ScalingConfig.MaximumConcurrency, 2 to 1,000:
// https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html).
// A burst of reports waits in the queue instead of taking the concurrency
// the rotators' sweeps need. Rotations are decided by Secrets Manager's
// state and the engine's ClientRequestToken, alerts by the shared claims
// table (reaction.TableClaims), so both bounds hold across execution
// environments. It waits for a rotator's synchronous answer, so its
// timeout covers the longest rotator timeout.
const (
	ReactorMemoryMB = 256
	// ReactorMaxConcurrency is the reports queue's MaximumConcurrency:
	// the lowest AWS accepts.
	ReactorMaxConcurrency = 2
	// ReactorBatchSize is how many reports one invocation takes.
	ReactorBatchSize = 10
	// ReactorMaxEventAge bounds how long a queued report stays worth
	// acting on (the queue's retention): after an hour the credentials it
	// names have expired and the schedule has replaced them anyway.
	ReactorMaxEventAge = time.Hour
	// ReactorReceives is how often a report is tried before it goes to
	// the dead-letter queue (1 + 2 retries).
	ReactorReceives = 3
	// ReactorBacklogAlarm is the age of the oldest queued report that
	// alarms.
	ReactorBacklogAlarm = 15 * time.Minute
)

// ReactorTimeout is the reactor's timeout: a rotator's plus margin for its
// own reads and the alert.
func ReactorTimeout(sweep time.Duration) time.Duration { return Timeout(sweep) + 30*time.Second }

// Reactor is the ExpiredToken reactor and, when any target lists
// logGroups, the log watcher feeding it.
type Reactor struct {
	Function awslambda.Function
	Role     awsiam.Role
	// Reports is the queue both ExpiredToken rules deliver to; the
	// reactor reads it with at most ReactorMaxConcurrency invocations.
	Reports awssqs.Queue
	// AlertClaims is the table the reactor's environments share their
	// alert debounce in.
	AlertClaims awsdynamodb.Table
	LogWatch    awslambda.Function
	// LogSubscriptions is the nested stack of subscription filters; nil
	// without log groups.
	LogSubscriptions awscdk.NestedStack
}

// ReactorRoleUseActions are what the reactor role's credentials may do
// only from inside the reactor function: read secrets, alert, claim
// alerts, announce them.
var ReactorRoleUseActions = []string{"secretsmanager:*", "sns:Publish", "dynamodb:*", "events:PutEvents"}

// newReactorRole is created before the shards so each secret's resource
// policy can let exactly this role read it.
func newReactorRole(s *Service) awsiam.Role {
	return awsiam.NewRole(s.Stack, jsii.String("ReactorRole"), &awsiam.RoleProps{
		RoleName:    jsii.String(plan.ReactorRoleName(s.stackName)), // exact: the secrets' read deny exempts this ARN
		Description: jsii.String("stsrotator reactor: reads target secrets, asks rotators to rotate, alerts"),
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
	})
}

// AddReactor defines the reactor function from codeDir (bootstrap, the
// config and lambdaenv.RoutesFile) and sends every ExpiredToken rule to it.
func (s *Service) AddReactor(codeDir string) *Reactor {
	scope := constructs.NewConstruct(s.Stack, jsii.String("Reactor"))
	r := &Reactor{Role: s.ReactorRole}
	logs := awslogs.NewLogGroup(scope, jsii.String("Logs"), &awslogs.LogGroupProps{
		Retention:     awslogs.RetentionDays_ONE_MONTH,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	stack := awscdk.Stack_Of(s.Stack)
	// The deployment-wide alert debounce: one item per alert key, written
	// with a condition (reaction.TableClaims). DynamoDB because its
	// conditional UpdateItem is atomic per item and both emulators (kumo,
	// moto) implement it, and because the grant is one action on one
	// table; SSM parameters would pile up with no expiry, and Secrets
	// Manager has no conditional write.
	r.AlertClaims = awsdynamodb.NewTable(scope, jsii.String("AlertClaims"), &awsdynamodb.TableProps{
		PartitionKey:                     &awsdynamodb.Attribute{Name: jsii.String(reaction.TableKey), Type: awsdynamodb.AttributeType_STRING},
		BillingMode:                      awsdynamodb.BillingMode_PAY_PER_REQUEST,
		TimeToLiveAttribute:              jsii.String(reaction.TableExpires),
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{PointInTimeRecoveryEnabled: jsii.Bool(true)},
		RemovalPolicy:                    awscdk.RemovalPolicy_DESTROY,
	})
	timeout := ReactorTimeout(s.sweep)
	r.Reports = awssqs.NewQueue(scope, jsii.String("Reports"), &awssqs.QueueProps{
		// SQS-managed encryption: EventBridge can send to it with no key
		// policy statement for events.amazonaws.com (whose KMS calls carry
		// no source condition to scope one by).
		Encryption: awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL: jsii.Bool(true),
		// Lambda's guidance: at least six times the function's timeout
		// (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html).
		VisibilityTimeout: awscdk.Duration_Seconds(jsii.Number(min(6*timeout, 12*time.Hour).Seconds())),
		RetentionPeriod:   awscdk.Duration_Seconds(jsii.Number(ReactorMaxEventAge.Seconds())),
		DeadLetterQueue:   &awssqs.DeadLetterQueue{Queue: s.DeadLetterQueue, MaxReceiveCount: jsii.Number(ReactorReceives)},
	})
	patterns := plan.ReactorSecretPatterns(s.config.Targets)
	secrets := make([]*string, len(patterns))
	var wildcards []any
	for i, p := range patterns {
		secrets[i] = stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("secretsmanager"), Resource: jsii.String("secret"),
			ResourceName: jsii.String(p), ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME})
		if strings.Contains(p, "*") {
			wildcards = append(wildcards, "Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:"+p)
		}
	}
	stmts := []awsiam.PolicyStatement{
		writeOwnLogs(logs),
		// The targets' secrets by name, or by the shortest prefixes that
		// fit (plan.ReactorSecretPatterns), never secret:*; the tag
		// condition narrows further (the stack and the rotator put it on
		// every target secret), and each secret's resource policy denies
		// every reader but its own, the rotator and this role.
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("ReadTargetSecrets"),
			Actions:    jsii.Strings("secretsmanager:GetSecretValue"),
			Resources:  &secrets,
			Conditions: &map[string]any{"Null": map[string]any{"secretsmanager:ResourceTag/" + rotation.TagTarget: "false"}},
		}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("DecryptSecretsThroughSecretsManager"),
			Actions:    jsii.Strings("kms:Decrypt"),
			Resources:  &[]*string{s.Key.KeyArn()},
			Conditions: &map[string]any{"StringEquals": map[string]any{"kms:ViaService": viaService("secretsmanager")}},
		}),
		// No lambda:InvokeFunction here: each rotator function's own
		// policy names this role (below), so the reactor may invoke
		// exactly its stack's rotators, by ARN, however many lanes there
		// are (270 at 10,000 targets would not fit this policy).
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("Alert"),
			Actions:   jsii.Strings("sns:Publish"),
			Resources: &[]*string{s.Topic.TopicArn()},
		}),
		lifecycleEvents(stack, "AnnounceAlerts"),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("ClaimAlerts"),
			Actions:   jsii.Strings("dynamodb:UpdateItem"),
			Resources: &[]*string{r.AlertClaims.TableArn()},
		}),
		// The role trusts lambda.amazonaws.com: whoever may pass it to a
		// function of their own would read every target secret and send
		// alerts as the reactor. Its credentials do that only from the
		// reactor function (lambda:SourceFunctionArn, as for the rotator
		// roles; the SQS event source mapping polls with the role outside
		// the function, so sqs: actions are not in the list).
		onlyFromFunctions("OnlyTheReactorUsesThisRole", ReactorRoleUseActions, []string{plan.ReactorFunctionName(s.stackName)}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("EncryptAlertsThroughSNS"),
			Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey"),
			Resources:  &[]*string{s.Key.KeyArn()},
			Conditions: &map[string]any{"StringEquals": map[string]any{"kms:ViaService": viaService("sns")}},
		}),
	}
	policy := awsiam.NewPolicy(scope, jsii.String("Policy"), &awsiam.PolicyProps{Statements: &stmts})
	r.Role.AttachInlinePolicy(policy)
	if len(wildcards) > 0 {
		cdknag.NagSuppressions_AddResourceSuppressions(policy, &[]*cdknag.NagPackSuppression{{
			Id: jsii.String("AwsSolutions-IAM5"),
			Reason: jsii.String("Secrets: thousands of target secrets cannot be listed in one policy, so reads are scoped to the shortest name prefixes of the targets' secrets that fit (plan.ReactorSecretPatterns), " +
				"and each secret's resource policy names this role."),
			AppliesTo: &wildcards,
		}}, jsii.Bool(true))
	}
	// Each rotator lane lets exactly this role invoke it: the grant lives
	// on the function (AWS::Lambda::Permission with the role's ARN as
	// principal; within one account either policy's Allow suffices:
	// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html),
	// so no function name pattern is ever granted.
	for _, sh := range s.Shards {
		for _, rot := range sh.Rotators {
			awslambda.NewCfnPermission(rot.Function, jsii.String("ReactorMayInvoke"), &awslambda.CfnPermissionProps{
				Action:       jsii.String("lambda:InvokeFunction"),
				FunctionName: rot.Function.FunctionArn(),
				Principal:    r.Role.RoleArn(),
			})
		}
	}

	r.Function = newGoFunction(scope, codeDir, &awslambda.FunctionProps{
		FunctionName: jsii.String(plan.ReactorFunctionName(s.stackName)),
		Description:  jsii.String("stsrotator reactor: ExpiredToken reports → forced rotation, stale-consumer notice, alert"),
		MemorySize:   jsii.Number(ReactorMemoryMB),
		Timeout:      awscdk.Duration_Seconds(jsii.Number(timeout.Seconds())),
		LogGroup:     logs,
		Role:         r.Role,
		Environment: &map[string]*string{lambdaenv.TopicArn: s.Topic.TopicArn(), lambdaenv.StackName: jsii.String(s.stackName),
			lambdaenv.AlertTable: r.AlertClaims.TableName()},
	})
	// The policy is a resource of its own, attached to the role: without
	// this the function could be created, and invoked by a rule, before
	// the policy exists, and fail its first events with AccessDenied.
	r.Function.Node().AddDependency(policy)
	s.WireExpiredTokenReactor(QueueTarget(r.Reports))
	addSQSEventSource(r.Function, r.Reports, &awslambda.EventSourceMappingOptions{
		BatchSize:               jsii.Number(ReactorBatchSize),
		MaxConcurrency:          jsii.Number(ReactorMaxConcurrency),
		ReportBatchItemFailures: jsii.Bool(true),
	})
	// A burst is meant to wait in the queue, but not for long: reports
	// older than ReactorBacklogAlarm mean the reactor cannot keep up (or
	// keeps failing), and the credentials they name may be expiring.
	s.alarm("ReportsBacklog", r.Reports.MetricApproximateAgeOfOldestMessage(&awscloudwatch.MetricOptions{
		Statistic: jsii.String("Maximum"), Period: awscdk.Duration_Minutes(jsii.Number(5)),
	}), ReactorBacklogAlarm.Seconds(), awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD, awscloudwatch.TreatMissingData_NOT_BREACHING,
		"ExpiredToken reports have waited 15 minutes or more for the reactor (a burst it drains at most two invocations at a time, or an invocation that keeps failing); the queue's depth says how many, the reactor's log why.")
	s.alarm("ReactorErrors", r.Function.MetricErrors(&awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5)), Statistic: jsii.String("Sum")}),
		1, awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD, awscloudwatch.TreatMissingData_NOT_BREACHING,
		"The ExpiredToken reactor failed after Lambda's retries: reports may have gone unanswered. Its log group says why.")
	return r
}

// LogSubscriptionsID is the nested stack holding one subscription filter
// per distinct log group (plan.MaxLogGroups of them at most).
const LogSubscriptionsID = "LogSubscriptions"

// AddLogWatch subscribes the log watcher (codeDir: bootstrap and the
// config) to every distinct log group of the targets' logGroups. It does
// nothing when none has any.
func (s *Service) AddLogWatch(r *Reactor, codeDir string) {
	groups := s.plan.LogGroups()
	if len(groups) == 0 {
		return
	}
	scope := constructs.NewConstruct(s.Stack, jsii.String("LogWatch"))
	logs := awslogs.NewLogGroup(scope, jsii.String("Logs"), &awslogs.LogGroupProps{
		Retention:     awslogs.RetentionDays_ONE_MONTH,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	stack := awscdk.Stack_Of(s.Stack)
	bus := stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("events"), Resource: jsii.String("event-bus"),
		ResourceName: jsii.String(events.DefaultBus), ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME})
	role := awsiam.NewRole(scope, jsii.String("Role"), &awsiam.RoleProps{
		Path:        jsii.String("/" + s.stackName + "/logwatch/"),
		Description: jsii.String("stsrotator log watcher: turns ExpiredToken log lines into reports"),
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		InlinePolicies: &map[string]awsiam.PolicyDocument{"Report": awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{Statements: &[]awsiam.PolicyStatement{
			writeOwnLogs(logs),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				// Only reports: events:source and events:detail-type are
				// PutEvents condition keys
				// (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-conditions.html),
				// so the log watcher cannot put Credentials Rotated, Rotation
				// Failed or Alert.
				Sid: jsii.String("PublishReports"), Actions: jsii.Strings("events:PutEvents"), Resources: &[]*string{bus},
				Conditions: &map[string]any{"StringEquals": map[string]any{"events:source": events.Source, "events:detail-type": events.DetailTypeExpiredToken}},
			}),
		}})},
	})
	r.LogWatch = newGoFunction(scope, codeDir, &awslambda.FunctionProps{
		FunctionName: jsii.String(plan.LogWatchFunctionName(s.stackName)),
		Description:  jsii.String("stsrotator log watcher: ExpiredToken lines in consumers' log groups → reports"),
		MemorySize:   jsii.Number(128),
		Timeout:      awscdk.Duration_Seconds(jsii.Number(30)),
		LogGroup:     logs,
		Role:         role,
	})
	// One statement for every log group of the account and Region, as
	// AWS's example for subscription filters to Lambda grants for one
	// group (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/SubscriptionFilters.html#LambdaFunctionExample;
	// Lambda matches SourceArn as ArnLike:
	// https://docs.aws.amazon.com/lambda/latest/api/API_AddPermission.html):
	// a statement per group would fill Lambda's 20 KB function policy
	// (quotas.LambdaFunctionPolicy) at about 60 groups. SourceAccount
	// keeps other accounts' log groups out; which groups are delivered is
	// decided by the subscription filters below, which only this stack
	// creates.
	permission := awslambda.NewCfnPermission(scope, jsii.String("InvokeFromLogGroups"), &awslambda.CfnPermissionProps{
		Action:        jsii.String("lambda:InvokeFunction"),
		FunctionName:  r.LogWatch.FunctionArn(),
		Principal:     jsii.String("logs.amazonaws.com"),
		SourceAccount: awscdk.Aws_ACCOUNT_ID(),
		SourceArn: stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("logs"), Resource: jsii.String("log-group"),
			ResourceName: jsii.String("*"), ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME}),
	})
	// The filters live in a nested stack of their own, so the number of
	// log groups (plan.MaxLogGroups) is bounded by that stack alone.
	// CloudWatch Logs tests the destination when a filter is created, so
	// the nested stack waits for the permission.
	ns := awscdk.NewNestedStack(s.Stack, jsii.String(LogSubscriptionsID), &awscdk.NestedStackProps{
		Description: jsii.String(fmt.Sprintf("stsrotator: subscription filters on %d log groups for the log watcher", len(groups))),
	})
	ns.Node().AddDependency(permission)
	r.LogSubscriptions = ns
	dest := r.LogWatch.FunctionArn()
	for i, g := range groups {
		awslogs.NewCfnSubscriptionFilter(ns, jsii.String("Subscription"+strconv.Itoa(i)), &awslogs.CfnSubscriptionFilterProps{
			LogGroupName:   jsii.String(g),
			DestinationArn: dest,
			FilterPattern:  jsii.String(logwatch.FilterPattern),
		})
	}
}

// lifecycleEvents lets a function put stsrotator's own events (Credentials
// Rotated, Rotation Failed, Alert) on the account's default bus, and
// nothing else: the source must be stsrotator and the detail-type one of
// the lifecycle ones, so a function can never publish an ExpiredToken
// report (events:source and events:detail-type are PutEvents condition
// keys: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-conditions.html).
func lifecycleEvents(stack awscdk.Stack, sid string) awsiam.PolicyStatement {
	bus := stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("events"), Resource: jsii.String("event-bus"),
		ResourceName: jsii.String(events.DefaultBus), ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME})
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String(sid),
		Actions:   jsii.Strings("events:PutEvents"),
		Resources: &[]*string{bus},
		Conditions: &map[string]any{"StringEquals": map[string]any{
			"events:source":      events.Source,
			"events:detail-type": []string{events.DetailTypeRotated, events.DetailTypeRotationFailed, events.DetailTypeAlert},
		}},
	})
}
