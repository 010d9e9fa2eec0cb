package stack

import (
	"fmt"
	"regexp"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/stsrotator/stsrotator/infra/plan"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/events"
	"github.com/stsrotator/stsrotator/shared/metrics"
	"github.com/stsrotator/stsrotator/shared/reaction"
)

// Props is what the service is built from.
type Props struct {
	// StackName is the CloudFormation name of the root stack.
	StackName string
	// Plan places every target of the validated config.
	Plan *plan.Plan
	// CodeDir is the staged function package: bootstrap plus the config
	// files of plan.Plan.Files.
	CodeDir string
	// WorkDir receives each shard's TargetTemplate, which CDK reads while
	// the shard is defined; it must exist until synth ends.
	WorkDir string
}

// Service is the built stack, with handles for steps wired in later.
type Service struct {
	Stack           awscdk.Stack
	Key             awskms.Key
	Topic           awssns.Topic
	DeadLetterQueue awssqs.Queue
	// ReportRule matches ExpiredToken reports consumers publish.
	ReportRule awsevents.Rule
	// ReportBusPolicies let reader accounts put reports on the default
	// bus (whole accounts, and accounts narrowed to their reader ARNs);
	// empty when no target has readers in an account.
	ReportBusPolicies []awscdk.CfnResource
	// CloudTrailRule matches API calls refused with an expired token, for
	// every assumed-role session of the account; the reactor keeps the
	// target roles' ones.
	CloudTrailRule awsevents.Rule
	Shards         []*Shard
	// ReactorRole may read every target's secret; AddReactor gives it its
	// function and permissions.
	ReactorRole awsiam.Role
	// Source is the IAM user of sourceCredentials: iam-user targets; nil
	// when no target asks for it.
	Source *SourceUser

	sweep     time.Duration
	stackName string
	qualifier string
	config    *config.Config
	plan      *plan.Plan
}

// CDKQualifier is the CDK bootstrap qualifier the stack deploys with,
// read from the stack's DefaultStackSynthesizer: its CloudFormation
// execution role (cdk-<qualifier>-cfn-exec-role-<account>-<region>) is the
// one principal besides a secret's rotator that may update the stack's
// secrets (plan.ReadPolicy).
func (s *Service) CDKQualifier() string { return s.qualifier }

var reExecRole = regexp.MustCompile(`^arn:\$\{AWS::Partition\}:iam::\$\{AWS::AccountId\}:role/cdk-([A-Za-z0-9_-]{1,10})-cfn-exec-role-\$\{AWS::AccountId\}-\$\{AWS::Region\}$`)

// cdkQualifier reads the bootstrap qualifier of st's synthesizer. Only the
// DefaultStackSynthesizer with its standard execution role name is
// accepted: any other leaves no exact ARN to let write the secrets.
func cdkQualifier(st awscdk.Stack) (string, error) {
	if d, ok := st.Synthesizer().(awscdk.DefaultStackSynthesizer); ok {
		if arn := d.CloudFormationExecutionRoleArn(); arn != nil {
			if m := reExecRole.FindStringSubmatch(*arn); m != nil {
				return m[1], nil
			}
		}
	}
	return "", fmt.Errorf("the stack must deploy with the CDK bootstrap's CloudFormation execution role (DefaultStackSynthesizer, cdk-<qualifier>-cfn-exec-role-<account>-<region>): the secrets' policies let only it and the rotators write them")
}

// Routes maps each target to the name of the rotator function serving it,
// the content of the reactor's lambdaenv.RoutesFile.
func (s *Service) Routes() map[string]string {
	routes := map[string]string{}
	for _, sh := range s.Shards {
		for _, r := range sh.Rotators {
			for _, t := range r.Plan.Targets {
				routes[t.Name] = FunctionName(s.stackName, sh.Plan.ID, r.Plan.ID)
			}
		}
	}
	return routes
}

// New defines the service in scope. It fails only when a shard's
// per-target template cannot be written to props.WorkDir.
func New(scope constructs.Construct, id string, props Props) (*Service, error) {
	cfg := props.Plan.Config
	st := awscdk.NewStack(scope, jsii.String(id), &awscdk.StackProps{
		StackName:   jsii.String(props.StackName),
		Description: jsii.String(fmt.Sprintf("stsrotator: STS credentials for %d targets from %s, kept fresh in Secrets Manager", len(cfg.Targets), cfg.File)),
	})
	s := &Service{Stack: st, sweep: cfg.SweepInterval(), stackName: props.StackName, config: cfg, plan: props.Plan}
	var err error
	if s.qualifier, err = cdkQualifier(st); err != nil {
		return nil, err
	}
	replicasOutsideTheStacksRegion(st, cfg)

	s.Key = awskms.NewKey(st, jsii.String("Key"), &awskms.KeyProps{
		Description:       jsii.String("stsrotator: encrypts the credential secrets, the alert topic and the dead-letter queue"),
		EnableKeyRotation: jsii.Bool(true),
		// Deleting the key would make every stored version unreadable,
		// including ones a later deploy of the same config could reuse.
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	allowReadersThroughSecretsManager(s.Key, cfg.Targets)
	s.ReportBusPolicies = allowReadersToReport(st, s.stackName, cfg.Targets)
	// CloudWatch alarms publish to the encrypted topic as the service
	// principal, which has no IAM policy of its own to lean on. This is
	// AWS's documented statement for an AWS service publishing to an
	// encrypted topic, with the confused-deputy conditions the same page
	// gives (aws:SourceArn of the publishing resource, here any alarm of
	// this account and Region, and aws:SourceAccount):
	// https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services,
	// https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Notify_Users_Alarm_Changes.html
	// (the topic policy's Allow_Publish_Alarms below carries the same two).
	s.Key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("Allow_CloudWatch_for_CMK"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey*"),
		// In a key policy, "*" means this key.
		Resources:  jsii.Strings("*"),
		Conditions: alarmSource(st),
	}), jsii.Bool(false))

	s.Topic = awssns.NewTopic(st, jsii.String("Alerts"), &awssns.TopicProps{
		DisplayName: jsii.String("stsrotator alerts"),
		MasterKey:   s.Key,
		EnforceSSL:  jsii.Bool(true),
	})
	// A topic policy replaces SNS's default one, so without this statement
	// no alarm could publish ("is not authorized to perform: SNS:Publish").
	// Scoped as AWS documents against the confused deputy: only alarms of
	// this account and Region
	// (https://docs.aws.amazon.com/sns/latest/dg/sns-access-policy-use-cases.html,
	// https://repost.aws/knowledge-center/cloudwatch-receive-sns-for-alarm-trigger).
	s.Topic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("Allow_Publish_Alarms"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  &[]*string{s.Topic.TopicArn()},
		Conditions: alarmSource(st),
	}))
	for _, e := range cfg.Alerts.Emails {
		s.Topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(e), nil))
	}

	s.DeadLetterQueue = awssqs.NewQueue(st, jsii.String("SweepDeadLetters"), &awssqs.QueueProps{
		Encryption:          awssqs.QueueEncryption_KMS,
		EncryptionMasterKey: s.Key,
		EnforceSSL:          jsii.Bool(true),
		RetentionPeriod:     awscdk.Duration_Days(jsii.Number(14)),
	})
	cdknag.NagSuppressions_AddResourceSuppressions(s.DeadLetterQueue, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-SQS3"),
		Reason: jsii.String("This queue is itself the dead-letter queue of the EventBridge Scheduler sweeps; a queue behind it would only move the same alarm one hop further."),
	}}, jsii.Bool(false))
	s.alarm("DeadLettersWaiting", s.DeadLetterQueue.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
		Statistic: jsii.String("Maximum"), Period: awscdk.Duration_Minutes(jsii.Number(5)),
	}), 1, awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD, awscloudwatch.TreatMissingData_NOT_BREACHING,
		"A scheduled sweep could not be delivered to a rotator after every retry, or an ExpiredToken report failed the reactor three times; the message in the dead-letter queue says which and why.")
	s.rotationAlarms()

	// Lifecycle events (Credentials Rotated, Rotation Failed, Alert) that
	// could not be put on EventBridge: the rotations and alerts happened,
	// but whoever routes the events did not hear of them.
	s.alarm("LifecycleEventsLost", awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace: jsii.String(metrics.Namespace), MetricName: jsii.String(metrics.EventPublishFailures),
		Statistic: jsii.String("Sum"), Period: awscdk.Duration_Minutes(jsii.Number(5)),
	}), 1, awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD, awscloudwatch.TreatMissingData_NOT_BREACHING,
		"A Credentials Rotated, Rotation Failed or Alert event could not be put on the default event bus; the functions' logs say which (\"event not published\"). Rotations and SNS alerts are unaffected.")

	s.ReportRule = awsevents.NewRule(st, jsii.String("ExpiredTokenReports"), &awsevents.RuleProps{
		Description: jsii.String("ExpiredToken reports published by consumers of stsrotator secrets"),
		EventPattern: &awsevents.EventPattern{
			Source:     jsii.Strings(events.Source),
			DetailType: jsii.Strings(events.DetailTypeExpiredToken),
		},
	})

	// One rule for the whole account, whatever the number of targets: a
	// rule per role list would grow past EventBridge's rules-per-bus quota
	// (quotas.RulesPerBus) and give the reactor one function-policy
	// statement each (quotas.LambdaFunctionPolicy). The reactor matches the
	// session's role to a target and drops the rest.
	s.CloudTrailRule = awsevents.NewRule(st, jsii.String("CloudTrailExpiredToken"), &awsevents.RuleProps{
		Description: jsii.String("AWS API calls refused with an expired token, made with an assumed-role session; the reactor keeps target roles"),
		EventPattern: &awsevents.EventPattern{
			// Only aws.* sources: anyone allowed to PutEvents on the default
			// bus could otherwise send CloudTrail's detail-type with a target
			// role's ARN and force rotations. PutEvents refuses aws.* sources
			// to everyone but AWS services, so the prefix makes the rule
			// unspoofable without naming (and one day missing) the services
			// CloudTrail reports for.
			Source:     awsevents.Match_Prefix(jsii.String(reaction.CloudTrailSourcePrefix)),
			DetailType: jsii.Strings(reaction.DetailTypeCloudTrail),
			Detail: &map[string]any{
				"errorCode":    ExpiredTokenErrorCodes,
				"userIdentity": map[string]any{"type": []string{"AssumedRole"}},
			},
		},
	})

	s.ReactorRole = newReactorRole(s)
	if cfg.UsesIAMUser() {
		s.Source = newSourceUser(s, props.Plan, props.CodeDir)
	}

	keys := plan.OutputKeys(cfg)
	for _, sp := range props.Plan.Shards {
		sh, err := newShard(s, sp, props.CodeDir, props.WorkDir, keys)
		if err != nil {
			return nil, err
		}
		s.Shards = append(s.Shards, sh)
	}
	s.dashboard()
	s.outputs(props.Plan, keys)
	return s, nil
}

// WireExpiredTokenReactor sends every ExpiredToken signal — consumer
// reports and CloudTrail errors — to target. It is the
// hook for the reactor function, which a later change adds.
func (s *Service) WireExpiredTokenReactor(target awsevents.IRuleTarget) {
	s.ReportRule.AddTarget(target)
	s.CloudTrailRule.AddTarget(target)
}

// alarm creates an alarm in the root stack that notifies the topic.
func (s *Service) alarm(id string, m awscloudwatch.IMetric, threshold float64, op awscloudwatch.ComparisonOperator, missing awscloudwatch.TreatMissingData, why string) awscloudwatch.Alarm {
	return newAlarm(s.Stack, id, s.Topic, m, threshold, op, missing, why)
}

func newAlarm(scope constructs.Construct, id string, topic awssns.ITopic, m awscloudwatch.IMetric, threshold float64, op awscloudwatch.ComparisonOperator, missing awscloudwatch.TreatMissingData, why string) awscloudwatch.Alarm {
	a := awscloudwatch.NewAlarm(scope, jsii.String(id), &awscloudwatch.AlarmProps{
		Metric:             m,
		Threshold:          jsii.Number(threshold),
		ComparisonOperator: op,
		EvaluationPeriods:  jsii.Number(1),
		TreatMissingData:   missing,
		AlarmDescription:   jsii.String(why),
	})
	a.AddAlarmAction(awscloudwatchactions.NewSnsAction(topic))
	return a
}

// dashboard shows every target with one search per widget, so its size
// does not grow with the config and new targets appear without a deploy.
func (s *Service) dashboard() {
	period := awscdk.Duration_Minutes(jsii.Number(5))
	search := func(metric, stat, label string) awscloudwatch.IMetric {
		return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression: jsii.String(fmt.Sprintf(`SEARCH('{%s,%s} MetricName="%s"', '%s', %d)`,
				metrics.Namespace, metrics.DimTarget, metric, stat, int(*period.ToSeconds(nil)))),
			Label:  jsii.String(label),
			Period: period,
		})
	}
	awscloudwatch.NewDashboard(s.Stack, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		Widgets: &[]*[]awscloudwatch.IWidget{
			{awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
				Title: jsii.String("Validity left per target (seconds, minimum)"),
				Left:  &[]awscloudwatch.IMetric{search(metrics.ValiditySeconds, "Minimum", "")},
				Width: jsii.Number(24), Height: jsii.Number(8),
			})},
			{
				awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
					Title: jsii.String("Rotations per target"),
					Left:  &[]awscloudwatch.IMetric{search(metrics.Rotations, "Sum", "")},
					Width: jsii.Number(12), Height: jsii.Number(6),
				}),
				awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
					Title: jsii.String("Rotation failures per target"),
					Left:  &[]awscloudwatch.IMetric{search(metrics.RotationFailures, "Sum", "")},
					Width: jsii.Number(12), Height: jsii.Number(6),
				}),
			},
		},
	})
}

// outputs tells a user what to publish to and how to consume each secret.
// Per-target outputs always live on the target's shard stack; they are
// repeated on the root stack, which `cdk deploy` prints, only while they
// fit CloudFormation's 200-output limit.
func (s *Service) outputs(p *plan.Plan, keys map[string]string) {
	out := func(id, value, desc string) {
		awscdk.NewCfnOutput(s.Stack, jsii.String(id), &awscdk.CfnOutputProps{Value: jsii.String(value), Description: jsii.String(desc)})
	}
	awscdk.NewCfnOutput(s.Stack, jsii.String("AlertTopicArn"), &awscdk.CfnOutputProps{
		Value: s.Topic.TopicArn(), Description: jsii.String("SNS topic the alarms notify; subscribe more endpoints here"),
	})
	bus := awsevents.EventBus_FromEventBusName(s.Stack, jsii.String("DefaultBus"), jsii.String("default"))
	awscdk.NewCfnOutput(s.Stack, jsii.String("ExpiredTokenEventBusArn"), &awscdk.CfnOutputProps{
		Value: bus.EventBusArn(), Description: jsii.String("Event bus to publish ExpiredToken reports to (PutEvents)"),
	})
	if s.Source != nil {
		// The user, never its key: target roles with sourceCredentials:
		// iam-user trust this ARN.
		awscdk.NewCfnOutput(s.Stack, jsii.String("SourceUserArn"), &awscdk.CfnOutputProps{
			Value:       s.Source.User.UserArn(),
			Description: jsii.String("IAM user whose rotated key signs AssumeRole for sourceCredentials: iam-user targets; let those target roles trust it"),
		})
	}
	out("ExpiredTokenSource", events.Source, "Source of an ExpiredToken report")
	out("ExpiredTokenDetailType", events.DetailTypeExpiredToken, "DetailType of an ExpiredToken report")
	lanes := len(p.Lanes())
	summary := fmt.Sprintf("%d targets in %d shard stacks, rotated by %d functions every %s", len(p.Config.Targets), len(p.Shards), lanes, s.sweep)
	if len(p.Config.Targets) > plan.MaxRootOutputTargets {
		summary += fmt.Sprintf("; each target's SecretArn<Name> and AwsConfig<Name> outputs are on its nested stack %s-ShardNNN…", *s.Stack.StackName())
	}
	out("Summary", summary, "What this deploy manages")
	if len(p.Config.Targets) > plan.MaxRootOutputTargets {
		return
	}
	for _, sh := range s.Shards {
		for _, t := range sh.Plan.Targets {
			k := keys[t.Name]
			arn := sh.Secret(t.Name).Ref()
			awscdk.NewCfnOutput(s.Stack, jsii.String("SecretArn"+k), &awscdk.CfnOutputProps{
				Value: arn, Description: jsii.String("Secret holding the credentials of target " + t.Name),
			})
			awscdk.NewCfnOutput(s.Stack, jsii.String("AwsConfig"+k), &awscdk.CfnOutputProps{
				Value: ProfileLine(arn), Description: jsii.String("Line for a ~/.aws/config profile that uses target " + t.Name),
			})
		}
	}
}

// ProfileLine is the ~/.aws/config line that makes the AWS SDKs and CLI
// read a target's credentials from its secret. It names the secret by ARN
// and pins the region, so it works from any directory (no config file to
// map a target to a custom secretName), from other accounts (which must
// name a secret by ARN) and under a profile with another default region.
func ProfileLine(secretArn *string) *string {
	return awscdk.Fn_Join(jsii.String(""), &[]*string{
		jsii.String("credential_process = stsrotator credential-process --secret-id "), secretArn,
		jsii.String(" --region "), awscdk.Aws_REGION(),
	})
}

// rotationAlarms watch what the rotators report about a secret's
// versions, whatever the lane: both metrics are emitted undimensioned as
// well as per target, so one alarm each covers the stack.
func (s *Service) rotationAlarms() {
	sum := func(name string) awscloudwatch.IMetric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String(metrics.Namespace), MetricName: jsii.String(name),
			Statistic: jsii.String("Sum"), Period: awscdk.Duration_Minutes(jsii.Number(5)),
		})
	}
	s.alarm("SecretNotCurrent", sum(metrics.SupersededNotCurrent), 1, awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD, awscloudwatch.TreatMissingData_NOT_BREACHING,
		"A rotation lost its write to a version that is not AWSCURRENT and usable (AWSCURRENT moved, or was rolled back to an expired version): the secret may be stuck. The rotator's log line 'rotation failed' names the target; run stsrotator status.")
	s.alarm("VersionQuotaHeld", sum(metrics.VersionQuotaHeld), 1, awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD, awscloudwatch.TreatMissingData_NOT_BREACHING,
		"A rotation was held back because the secret already has 100 versions written in the last 24 hours (Secrets Manager keeps every version younger than 24 h and refuses new ones past about 100). The log line says when the next write is allowed.")
	s.alarm("RevocationCutoffsRefused", sum(metrics.RevocationCutoffsRefused), 1, awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD, awscloudwatch.TreatMissingData_NOT_BREACHING,
		"The rotator refused an invocation whose revokedBefore was ahead of its clock: nothing was written, but whoever may invoke the rotator sent a cutoff no revoke sends (docs/incident.md). The rotator's 'rejected input' log line names the target and the reason given.")
}
