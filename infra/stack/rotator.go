package stack

import (
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsscheduler"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/stsrotator/stsrotator/infra/plan"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/lambdaenv"
)

// Sizing of a rotator. A sweep is a few network calls per due target, run
// config.Rotator.Concurrency at a time; memory buys CPU for TLS and JSON,
// not heap.
const (
	MemoryMB   = 256
	MinTimeout = time.Minute
	MaxTimeout = 5 * time.Minute
	// RetryAttempts is how often the scheduler retries a sweep it could not
	// deliver before it goes to the dead-letter queue; the next sweep comes
	// soon anyway, so a few retries are enough.
	RetryAttempts = 2
	// AlarmThresholdFloor keeps a validity threshold meaningful when a
	// target's refreshBefore is barely longer than one sweep.
	AlarmThresholdFloor = time.Minute
)

// TargetsPerAlarm is CloudWatch's limit on metrics in one alarm's math
// expression (quotas.AlarmMetrics).
var TargetsPerAlarm = plan.TargetsPerAlarm

// Timeout is the rotator's timeout for a sweep interval: half of it, so a
// sweep normally ends long before the next starts, within the bounds above.
func Timeout(sweep time.Duration) time.Duration {
	return min(max(sweep/2, MinTimeout), MaxTimeout)
}

// Rotator is one lane: the function, its role and its schedule.
type Rotator struct {
	Plan     plan.Lane
	Function awslambda.Function
	Role     awsiam.Role
	Schedule awsscheduler.CfnSchedule
}

func newRotator(s *Service, sh *Shard, lp plan.Lane, codeDir string) *Rotator {
	scope := constructs.NewConstruct(sh.Stack, jsii.String(lp.ID))
	r := &Rotator{Plan: lp}
	logs := awslogs.NewLogGroup(scope, jsii.String("Logs"), &awslogs.LogGroupProps{
		Retention:     awslogs.RetentionDays_ONE_MONTH,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	r.Role = sh.Role
	fixed, grants := rotatorStatements(s, sh, lp, logs)
	sh.rotate.AddStatements(fixed...)
	// The lane's per-target grants, each half in its own managed policy
	// (plan.ManagedPolicyBudget); attaching them through the role's
	// ManagedPolicyArns makes the role, and so the function, wait for them.
	for i, g := range grants {
		if len(g) == 0 {
			continue
		}
		mp := awsiam.NewManagedPolicy(scope, jsii.String(fmt.Sprintf("Grants%d", i)), &awsiam.ManagedPolicyProps{
			Description: jsii.String(fmt.Sprintf("stsrotator %s/%s: %s of %d targets", sh.Plan.ID, lp.ID, []string{"the target roles it assumes", "the secrets it writes"}[i], len(lp.Targets))),
			Document:    awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{Statements: &g}),
		})
		r.Role.AddManagedPolicy(mp)
		if i == 0 {
			// The replica keys' key/* statements live in this one.
			suppressReplicaKeyWildcards(mp, lp.Targets)
		}
	}
	// Each secret it writes names the bus to report ExpiredToken to, so a
	// consumer in any reader account reports there with no configuration.
	env := map[string]*string{lambdaenv.KMSKeyID: s.Key.KeyArn(), lambdaenv.EventBus: reportBusArn(scope), lambdaenv.StackName: jsii.String(s.stackName)}
	if lp.ConfigEnv != "" {
		env[lambdaenv.ConfigPath] = jsii.String(lp.ConfigEnv)
	}
	if s.Source != nil && usesIAMUser(lp.Targets) {
		env[lambdaenv.SourceKeySecret] = s.Source.KeySecret.Ref()
	}
	r.Function = newGoFunction(scope, codeDir, &awslambda.FunctionProps{
		FunctionName: jsii.String(FunctionName(s.stackName, sh.Plan.ID, lp.ID)),
		Description:  jsii.String(fmt.Sprintf("stsrotator rotator %s/%s: %s", sh.Plan.ID, lp.ID, targetList(lp.Targets))),
		MemorySize:   jsii.Number(MemoryMB),
		Timeout:      awscdk.Duration_Seconds(jsii.Number(Timeout(s.sweep).Seconds())),
		LogGroup:     logs,
		Role:         r.Role,
		Environment:  &env,
		// The Scheduler invokes asynchronously, so without this Lambda would
		// re-run a sweep with a failed target twice, up to 6 h late. The next
		// scheduled sweep retries what is still due, sooner and in order.
		MaxEventAge:   awscdk.Duration_Seconds(jsii.Number(max(s.sweep, time.Minute).Seconds())),
		RetryAttempts: jsii.Number(0),
	})
	r.schedule(s, scope)
	// The first sweep must find the stack's secrets in place: a rotator
	// that created one first would make CloudFormation's CreateSecret fail.
	// The role names the secrets by ARN pattern, not by reference, so the
	// order is stated here, by logical ID in the same template.
	var after []any
	for _, t := range lp.Targets {
		after = append(after, "Secret"+sh.keys[t.Name])
	}
	r.Schedule.AddOverride(jsii.String("DependsOn"), after)
	r.alarms(s, scope)
	return r
}

// MaxStackNameLen keeps every rotator's function name within Lambda's 64
// characters; plan.MaxStackNameLen is its home.
const MaxStackNameLen = plan.MaxStackNameLen

// FunctionName is a rotator lane's function name. It is fixed at synth so
// that the reactor's package can carry the routes from target to rotator
// (lambdaenv.RoutesFile), which a deploy-time name could not be written to.
func FunctionName(stackName, shardID, laneID string) string {
	return plan.FunctionName(stackName, shardID, laneID)
}

// rotatorStatements is a lane's whole permission set, as the statements
// that go into its shard role's inline policy (fixed: logs, the source
// key, events, the key) and its two managed policies (the AssumeRole
// grants with any replica keys, and its secrets); see docs/infra.md for
// why each statement exists.
func rotatorStatements(s *Service, sh *Shard, lp plan.Lane, logs awslogs.LogGroup) (fixed []awsiam.PolicyStatement, grants [2][]awsiam.PolicyStatement) {
	// Sids are unique within a policy, and every lane of the shard adds
	// its log group to the one inline policy.
	fixed = []awsiam.PolicyStatement{awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("WriteLogsOf" + lp.ID),
		Actions:   jsii.Strings(LogActions...),
		Resources: &[]*string{logs.LogGroupArn()},
	})}
	// One statement per distinct action set, so each role ARN is written
	// once however many targets use it.
	type group struct {
		sid     string
		actions []string
		arns    []string
	}
	var groups []*group
	bySid := map[string]*group{}
	for _, t := range lp.Targets {
		actions, sid := AssumeActions(t)
		g := bySid[sid]
		if g == nil {
			g = &group{sid: sid, actions: actions}
			bySid[sid] = g
			groups = append(groups, g)
		}
		if !contains(g.arns, t.RoleArn) {
			g.arns = append(g.arns, t.RoleArn)
		}
	}
	for _, g := range groups {
		grants[0] = append(grants[0], awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String(g.sid),
			Actions:   jsii.Strings(g.actions...),
			Resources: jsii.Strings(g.arns...),
		}))
	}
	grants[0] = append(grants[0], replicaKeyStatements(s, lp.Targets)...)
	// Each secret by its name and Secrets Manager's six-character suffix:
	// as exact as its ARN, known at synth, and the same string for the
	// secret the stack creates and one the rotator re-creates. The pseudo
	// parameters are fetched once per lane, not per target: every jsii
	// call costs a round trip to node.
	prefix := "arn:" + *awscdk.Aws_PARTITION() + ":secretsmanager:" + *awscdk.Aws_REGION() + ":" + *awscdk.Aws_ACCOUNT_ID() + ":secret:"
	var secrets []*string
	for _, t := range lp.Targets {
		secrets = append(secrets, jsii.String(prefix+t.SecretName+SecretSuffixPattern))
	}
	if s.Source != nil && usesIAMUser(lp.Targets) && !sh.readsSourceKey {
		sh.readsSourceKey = true
		fixed = append(fixed, awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("ReadTheSourceKey"),
			Actions:   jsii.Strings("secretsmanager:GetSecretValue"),
			Resources: &[]*string{s.Source.KeySecret.Ref()},
		}))
	}
	// Read the current version's expiry and write the next one, and
	// create a secret that has no current version: the stack's empty one
	// (CreateSecret then answers ResourceExists and the rotator writes
	// with PutSecretValue) or one deleted outside the stack. IAM
	// authorises CreateSecret, and TagResource for its tags, against an
	// ARN whose random suffix cannot be known in advance; "-??????"
	// matches exactly that suffix of exactly this name, nothing wider, so
	// one statement serves all four actions and each target's ARN is
	// written once.
	grants[1] = append(grants[1], awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("OwnSecrets"),
		Actions:   jsii.Strings(append(append(append([]string{}, SecretActions...), VersionListActions...), CreateActions...)...),
		Resources: &secrets,
	}))
	if len(sh.Rotators) == 0 {
		// The shard's first lane adds what every lane shares once.
		fixed = append(fixed,
			lifecycleEvents(awscdk.Stack_Of(sh.Stack), "AnnounceRotations"),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:       jsii.String("UseTheKeyThroughSecretsManagerOnly"),
				Actions:   jsii.Strings(KeyActions...),
				Resources: &[]*string{s.Key.KeyArn()},
				Conditions: &map[string]any{
					"StringEquals": map[string]any{"kms:ViaService": viaService("secretsmanager")},
				},
			}),
		)
	}
	return fixed, grants
}

// SecretActions is what the rotator does to its own secrets: read the
// current version's expiry and write the next one. The engine never
// describes or deletes a secret; it lists a secret's versions only to
// count them (VersionListActions).
var SecretActions = []string{"secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"}

// VersionListActions let the rotator count its secrets' versions from
// Secrets Manager's own CreatedDate (ListSecretVersionIds) when the
// write history stored in a secret would hold a write back: anyone who can
// write the secret can forge that history (rotation.Current.VersionDates).
var VersionListActions = []string{"secretsmanager:ListSecretVersionIds"}

// CreateActions let the rotator create its own secrets by name; see
// rotatorStatements.
var CreateActions = []string{"secretsmanager:CreateSecret", "secretsmanager:TagResource"}

// SecretSuffixPattern is the IAM pattern of the six random characters
// Secrets Manager appends to a secret's name in its ARN.
const SecretSuffixPattern = "-??????"

// KeyActions is what Secrets Manager does with the key on the rotator's
// behalf: decrypt on reads, make and wrap a data key on writes.
var KeyActions = []string{"kms:Decrypt", "kms:GenerateDataKey"}

// AssumeActions is what the rotator needs on a target's role; see
// plan.AssumeActions, its one home (preflight checks trust policies
// against the same list).
func AssumeActions(t config.Target) ([]string, string) {
	return plan.AssumeActions(t)
}

func usesIAMUser(ts []config.Target) bool {
	for _, t := range ts {
		if t.SourceCredentials == config.SourceIAMUser {
			return true
		}
	}
	return false
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func targetList(ts []config.Target) string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Name
	}
	s := strings.Join(names, ", ")
	if len(s) > 200 {
		s = fmt.Sprintf("%s … (%d targets)", s[:180], len(ts))
	}
	return s
}

// schedule invokes the lane with an empty event — a sweep — every sweep
// interval, with its own least-privilege role.
func (r *Rotator) schedule(s *Service, scope constructs.Construct) {
	role := awsiam.NewRole(scope, jsii.String("SchedulerRole"), &awsiam.RoleProps{
		Description: jsii.String("stsrotator: lets EventBridge Scheduler start sweeps and dead-letter the undeliverable ones"),
		AssumedBy:   schedulerPrincipal(awscdk.Stack_Of(scope)),
		InlinePolicies: &map[string]awsiam.PolicyDocument{
			"Sweep": awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{Statements: &[]awsiam.PolicyStatement{
				awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
					Sid:       jsii.String("InvokeTheRotator"),
					Actions:   jsii.Strings("lambda:InvokeFunction"),
					Resources: &[]*string{r.Function.FunctionArn()},
				}),
				awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
					Sid:       jsii.String("DeadLetterUndeliveredSweeps"),
					Actions:   jsii.Strings("sqs:SendMessage"),
					Resources: &[]*string{s.DeadLetterQueue.QueueArn()},
				}),
				awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
					Sid:       jsii.String("EncryptDeadLettersThroughSQSOnly"),
					Actions:   jsii.Strings("kms:Decrypt", "kms:GenerateDataKey"),
					Resources: &[]*string{s.Key.KeyArn()},
					Conditions: &map[string]any{
						"StringEquals": map[string]any{"kms:ViaService": viaService("sqs")},
					},
				}),
			}}),
		},
	})
	r.Schedule = awsscheduler.NewCfnSchedule(scope, jsii.String("Schedule"), &awsscheduler.CfnScheduleProps{
		Description:        jsii.String("stsrotator sweep: rotate every due target of this lane"),
		ScheduleExpression: jsii.String(RateExpression(s.sweep)),
		FlexibleTimeWindow: &awsscheduler.CfnSchedule_FlexibleTimeWindowProperty{Mode: jsii.String("OFF")},
		State:              jsii.String("ENABLED"),
		Target: &awsscheduler.CfnSchedule_TargetProperty{
			Arn:     r.Function.FunctionArn(),
			RoleArn: role.RoleArn(),
			Input:   jsii.String("{}"),
			RetryPolicy: &awsscheduler.CfnSchedule_RetryPolicyProperty{
				MaximumRetryAttempts: jsii.Number(RetryAttempts),
				// A sweep older than one interval is superseded by the next.
				MaximumEventAgeInSeconds: jsii.Number(max(s.sweep, time.Minute).Seconds()),
			},
			DeadLetterConfig: &awsscheduler.CfnSchedule_DeadLetterConfigProperty{Arn: s.DeadLetterQueue.QueueArn()},
		},
	})
}

// RateExpression is the EventBridge Scheduler rate for an interval of
// whole minutes (config.SweepInterval truncates to minutes).
func RateExpression(d time.Duration) string {
	m := int(d / time.Minute)
	if m == 1 {
		return "rate(1 minute)"
	}
	return fmt.Sprintf("rate(%d minutes)", m)
}

// AlarmPeriod spans two sweeps, so every period holds at least one
// datapoint per target even when a sweep runs late.
func AlarmPeriod(sweep time.Duration) time.Duration {
	return (2*sweep + time.Minute - 1).Truncate(time.Minute)
}

// ValidityThreshold is the validity left below which a target is alarmed:
// a sweep short of its refreshBefore, i.e. after a due rotation has failed
// at least once more than the schedule allows for.
func ValidityThreshold(t config.Target, sweep time.Duration) time.Duration {
	return max(t.RefreshBefore-sweep, AlarmThresholdFloor)
}

// alarms notify the topic when the rotator fails; the validity alarms of
// its targets are in the shard's TargetTemplate.
func (r *Rotator) alarms(s *Service, scope constructs.Construct) {
	newAlarm(scope, "Errors", s.Topic, r.Function.MetricErrors(&awscloudwatch.MetricOptions{
		Statistic: jsii.String("Sum"), Period: awscdk.Duration_Minutes(jsii.Number(5)),
	}), 1, awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD, awscloudwatch.TreatMissingData_NOT_BREACHING,
		fmt.Sprintf("The stsrotator rotator %s failed a sweep; its log group has the error. Targets: %s", r.Plan.ID, targetList(r.Plan.Targets)))
}
