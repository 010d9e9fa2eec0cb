package stack

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsscheduler"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/stsrotator/stsrotator/infra/plan"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/lambdaenv"
	"github.com/stsrotator/stsrotator/shared/rotation"
)

// SourceKeyInterval is how often the source-key rotator runs: each run
// does at most one step (replace, deactivate, delete), and the previous
// key is deactivated one run after its successor has settled.
const SourceKeyInterval = config.SourceKeySettle

// SourceUser is the deployment's IAM user for targets with
// `sourceCredentials: iam-user`, its key's secret and the function that
// rotates that key. The template holds no access key: the rotator creates
// the first one on its first run (no AWS::IAM::AccessKey, so the secret
// half never passes through CloudFormation, its outputs or its events).
type SourceUser struct {
	User      awsiam.User
	Policies  []awsiam.ManagedPolicy
	KeySecret awssecretsmanager.CfnSecret
	Function  awslambda.Function
	Role      awsiam.Role
}

func newSourceUser(s *Service, p *plan.Plan, codeDir string) *SourceUser {
	scope := constructs.NewConstruct(s.Stack, jsii.String("Source"))
	src := &SourceUser{}
	// A literal name, no path: the iam-user targets' roles trust this
	// exact ARN (plan.AssumerArn).
	src.User = awsiam.NewUser(scope, jsii.String("User"), &awsiam.UserProps{
		UserName: jsii.String(plan.SourceUserName(s.stackName)),
	})
	why := "This IAM user exists only because targets ask for sourceCredentials: iam-user: AssumeRole signed by an IAM user is not role chaining, so it can last up to 12 hours. " +
		fmt.Sprintf("It may only call sts:AssumeRole (with sts:TagSession / sts:SetSourceIdentity where configured) on exactly those targets' roles; its one access key lives in its own secret and the SourceKeyRotator function replaces it every rotator.sourceKeyMaxAge (%g days), deactivating and deleting the previous one.", p.Config.Rotator.SourceKeyMaxAge.Hours()/24)
	for i, doc := range p.SourcePolicies {
		var stmts []awsiam.PolicyStatement
		for _, g := range doc {
			stmts = append(stmts, awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid: jsii.String(g.Sid), Actions: jsii.Strings(g.Actions...), Resources: jsii.Strings(g.RoleArns...),
			}))
		}
		src.Policies = append(src.Policies, awsiam.NewManagedPolicy(scope, jsii.String(fmt.Sprintf("AssumeTargetRoles%d", i)), &awsiam.ManagedPolicyProps{
			Description: jsii.String(fmt.Sprintf("stsrotator source user: AssumeRole on the iam-user targets' roles (%d of %d)", i+1, len(p.SourcePolicies))),
			Users:       &[]awsiam.IUser{src.User},
			Document:    awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{Statements: &stmts}),
		}))
	}

	src.KeySecret = awssecretsmanager.NewCfnSecret(scope, jsii.String("KeySecret"), &awssecretsmanager.CfnSecretProps{
		Description: jsii.String("stsrotator: the source user's current access key (JSON), written only by the SourceKeyRotator function"),
		KmsKeyId:    s.Key.KeyArn(),
		// Not tagged stsrotator:target: the reactor, which may read every
		// target secret by that tag, has no business with this one.
		Tags: &[]*awscdk.CfnTag{{Key: jsii.String(rotation.TagManagedBy), Value: jsii.String(rotation.ManagedBy)}},
	})
	cdknag.NagSuppressions_AddResourceSuppressions(src.KeySecret, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-SMG4"),
		Reason: jsii.String(why + " Rotation steps: create, prove with GetCallerIdentity, store here, deactivate the old key, delete it after a grace period; " +
			"Secrets Manager's native rotation would be a second, competing rotation of the same key."),
	}}, jsii.Bool(false))

	logs := awslogs.NewLogGroup(scope, jsii.String("Logs"), &awslogs.LogGroupProps{
		Retention:     awslogs.RetentionDays_ONE_MONTH,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	src.Role = awsiam.NewRole(scope, jsii.String("Role"), &awsiam.RoleProps{
		Path:        jsii.String(plan.SourceKeyRotatorRolePath(s.stackName)),
		Description: jsii.String("stsrotator source-key rotator: manages the source user's access keys and stores the current one"),
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		InlinePolicies: &map[string]awsiam.PolicyDocument{"RotateSourceKey": awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{Statements: &[]awsiam.PolicyStatement{
			// Passed to any other function, the role would mint the
			// source user's keys: see onlyTheShardsFunctions.
			onlyFromFunctions("OnlyTheSourceKeyFunctionUsesThisRole", SourceKeyRoleUseActions, []string{SourceKeyFunctionName(s.stackName)}),
			writeOwnLogs(logs),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:       jsii.String("ManageTheSourceUsersKeys"),
				Actions:   jsii.Strings(SourceKeyActions...),
				Resources: &[]*string{src.User.UserArn()},
			}),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid: jsii.String("ReadAndWriteTheKeySecret"), Actions: jsii.Strings(SecretActions...), Resources: &[]*string{src.KeySecret.Ref()},
			}),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid: jsii.String("UseTheKeyThroughSecretsManagerOnly"), Actions: jsii.Strings(KeyActions...), Resources: &[]*string{s.Key.KeyArn()},
				Conditions: &map[string]any{"StringEquals": map[string]any{"kms:ViaService": viaService("secretsmanager")}},
			}),
		}})},
	})
	restrictKeySecret(s, scope, src)

	src.Function = newGoFunction(scope, codeDir, &awslambda.FunctionProps{
		FunctionName: jsii.String(SourceKeyFunctionName(s.stackName)),
		Description:  jsii.String("stsrotator source-key rotator: keeps the source user's access key young (create, prove, store, deactivate, delete)"),
		MemorySize:   jsii.Number(MemoryMB),
		Timeout:      awscdk.Duration_Minutes(jsii.Number(2)),
		LogGroup:     logs,
		Role:         src.Role,
		Environment: &map[string]*string{
			lambdaenv.SourceUser:      src.User.UserName(),
			lambdaenv.SourceUserArn:   src.User.UserArn(),
			lambdaenv.SourceKeySecret: src.KeySecret.Ref(),
		},
		MaxEventAge:   awscdk.Duration_Seconds(jsii.Number(SourceKeyInterval.Seconds())),
		RetryAttempts: jsii.Number(0),
	})
	src.schedule(s, scope)
	s.alarm("SourceKeyRotationErrors", src.Function.MetricErrors(&awscloudwatch.MetricOptions{
		Statistic: jsii.String("Sum"), Period: awscdk.Duration_Minutes(jsii.Number(15)),
	}), 1, awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD, awscloudwatch.TreatMissingData_NOT_BREACHING,
		"The source-key rotator failed: the source user's current key is still stored and in use, but it was not replaced or cleaned up; its log group says which step failed and why.")
	return src
}

// SourceKeyFunctionName is the source-key rotator's literal function name.
func SourceKeyFunctionName(stackName string) string { return stackName + "-source-key" }

// SourceKeyRoleUseActions are what the source-key rotator role's
// credentials may do only from inside its own function.
var SourceKeyRoleUseActions = []string{"iam:*", "secretsmanager:*"}

// SourceKeyActions is what the source-key rotator may do to the source
// user, and nothing else in IAM.
var SourceKeyActions = []string{"iam:ListAccessKeys", "iam:CreateAccessKey", "iam:UpdateAccessKey", "iam:DeleteAccessKey"}

// restrictKeySecret lets only the source-key rotator and the rotator
// roles of the shards with iam-user targets (exact ARNs) read the key, and
// only the source-key rotator and the stack's CloudFormation execution
// role (exact ARN) write, rotate, re-stage, delete, restore, re-tag or
// re-policy the secret.
func restrictKeySecret(s *Service, scope constructs.Construct, src *SourceUser) {
	readers := []*string{src.Role.RoleArn()}
	seen := map[int]bool{}
	for _, t := range s.config.IAMUserTargets() {
		if i := plan.ShardOf(t.Name); !seen[i] {
			seen[i] = true
			readers = append(readers, s.Stack.FormatArn(&awscdk.ArnComponents{
				Service: jsii.String("iam"), Region: jsii.String(""), Resource: jsii.String("role"),
				ResourceName: jsii.String(plan.RotatorRoleName(s.stackName, i)),
			}))
		}
	}
	anyone := []awsiam.IPrincipal{awsiam.NewAnyPrincipal()}
	stmts := []awsiam.PolicyStatement{
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid: jsii.String("OnlyRotatorsRead"), Effect: awsiam.Effect_DENY, Principals: &anyone,
			Actions: jsii.Strings("secretsmanager:GetSecretValue"), Resources: jsii.Strings("*"),
			Conditions: &map[string]any{"ArnNotEquals": map[string]any{"aws:PrincipalArn": readers}},
		}),
		// Every action that changes what is stored, which version is
		// current, the secret's settings, tags or its policy, denied to
		// everyone but the source-key rotator and CloudFormation deploying
		// this stack with the CDK's execution role: without that exemption
		// the stack could never update or delete the secret or this policy
		// again. An exact ARN, not aws:CalledVia: any principal that may
		// create any stack makes calls via CloudFormation.
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid: jsii.String("OnlyTheSourceKeyRotatorWrites"), Effect: awsiam.Effect_DENY, Principals: &anyone,
			NotActions: jsii.Strings(plan.SecretReadActions...), Resources: jsii.Strings("*"),
			Conditions: &map[string]any{
				"ArnNotEquals": map[string]any{"aws:PrincipalArn": []any{src.Role.RoleArn(), plan.CfnExecRoleArn(s.qualifier)}},
			},
		}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid: jsii.String("DenyReadsWithoutTLS"), Effect: awsiam.Effect_DENY, Principals: &anyone,
			Actions: jsii.Strings("secretsmanager:GetSecretValue"), Resources: jsii.Strings("*"),
			Conditions: &map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
		}),
	}
	awssecretsmanager.NewCfnResourcePolicy(scope, jsii.String("KeySecretPolicy"), &awssecretsmanager.CfnResourcePolicyProps{
		SecretId:          src.KeySecret.Ref(),
		ResourcePolicy:    awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{Statements: &stmts}),
		BlockPublicPolicy: jsii.Bool(true),
	})
}

// schedule runs the source-key rotator every SourceKeyInterval with
// {"sourceKey":true}; undeliverable runs go to the dead-letter queue.
func (src *SourceUser) schedule(s *Service, scope constructs.Construct) {
	role := awsiam.NewRole(scope, jsii.String("SchedulerRole"), &awsiam.RoleProps{
		Description: jsii.String("stsrotator: lets EventBridge Scheduler start source-key rotations"),
		AssumedBy:   schedulerPrincipal(awscdk.Stack_Of(scope)),
		InlinePolicies: &map[string]awsiam.PolicyDocument{"Run": awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{Statements: &[]awsiam.PolicyStatement{
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Sid: jsii.String("InvokeTheSourceKeyRotator"), Actions: jsii.Strings("lambda:InvokeFunction"), Resources: &[]*string{src.Function.FunctionArn()}}),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Sid: jsii.String("DeadLetterUndeliveredRuns"), Actions: jsii.Strings("sqs:SendMessage"), Resources: &[]*string{s.DeadLetterQueue.QueueArn()}}),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid: jsii.String("EncryptDeadLettersThroughSQSOnly"), Actions: jsii.Strings("kms:Decrypt", "kms:GenerateDataKey"), Resources: &[]*string{s.Key.KeyArn()},
				Conditions: &map[string]any{"StringEquals": map[string]any{"kms:ViaService": viaService("sqs")}},
			}),
		}})},
	})
	awsscheduler.NewCfnSchedule(scope, jsii.String("Schedule"), &awsscheduler.CfnScheduleProps{
		Description:        jsii.String("stsrotator: rotate the source user's access key when due, retire the previous one"),
		ScheduleExpression: jsii.String(RateExpression(SourceKeyInterval)),
		FlexibleTimeWindow: &awsscheduler.CfnSchedule_FlexibleTimeWindowProperty{Mode: jsii.String("OFF")},
		State:              jsii.String("ENABLED"),
		Target: &awsscheduler.CfnSchedule_TargetProperty{
			Arn:     src.Function.FunctionArn(),
			RoleArn: role.RoleArn(),
			Input:   jsii.String(`{"sourceKey":true}`),
			RetryPolicy: &awsscheduler.CfnSchedule_RetryPolicyProperty{
				MaximumRetryAttempts:     jsii.Number(RetryAttempts),
				MaximumEventAgeInSeconds: jsii.Number(SourceKeyInterval.Seconds()),
			},
			DeadLetterConfig: &awsscheduler.CfnSchedule_DeadLetterConfigProperty{Arn: s.DeadLetterQueue.QueueArn()},
		},
	})
}
