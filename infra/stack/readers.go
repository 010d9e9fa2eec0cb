package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/stsrotator/stsrotator/infra/plan"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/events"
)

func readerAccounts(ts []config.Target) []string { return plan.ReaderAccounts(ts) }

// allowReadersThroughSecretsManager lets readers decrypt secret values, but
// only when Secrets Manager asks on their behalf: which secret a reader may
// read is decided by that secret's resource policy, so the key does not
// repeat the per-secret rules (which would not fit a key policy's 32 KB for
// thousands of targets). This is the same shape as AWS's own
// aws/secretsmanager key policy, extended to the readers' accounts.
func allowReadersThroughSecretsManager(key awskms.Key, ts []config.Target) {
	accounts := []*string{awscdk.Aws_ACCOUNT_ID()}
	for _, a := range readerAccounts(ts) {
		accounts = append(accounts, jsii.String(a))
	}
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("ReadersDecryptThroughSecretsManager"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
		Actions:    jsii.Strings("kms:Decrypt"),
		// In a key policy, "*" means this key.
		Resources: jsii.Strings("*"),
		Conditions: &map[string]any{
			"StringEquals": map[string]any{
				"kms:ViaService":    viaService("secretsmanager"),
				"kms:CallerAccount": &accounts,
			},
		},
	}), jsii.Bool(false))
}

// viaService is the kms:ViaService value of an AWS service in the stack's
// region and partition.
func viaService(service string) *string {
	return awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String(service + "."), awscdk.Aws_REGION(), jsii.String("."), awscdk.Aws_URL_SUFFIX()})
}

// ReportBusStatementID (plan.ReportBusStatementID) names the statement allowReadersToReport adds to
// the default bus's resource policy.
func ReportBusStatementID(stackName string) string { return plan.ReportBusStatementID(stackName) }

// reportBusArn is the bus consumers report to: the default bus of the
// stack's account and Region, where the report rule listens.
func reportBusArn(scope constructs.Construct) *string {
	return awscdk.Stack_Of(scope).FormatArn(&awscdk.ArnComponents{Service: jsii.String("events"), Resource: jsii.String("event-bus"),
		ResourceName: jsii.String(events.DefaultBus), ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME})
}

// allowReadersToReport lets every reader account put ExpiredToken
// reports, and nothing else, on the default bus: without it PutEvents
// from another account's consumer to this bus is refused
// (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-bus-perms.html).
// The conditions are EventBridge's own keys, as in AWS's example policy
// for one source and detail-type:
// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-bus-example-policy-cross-account-custom-bus-source.html
// An account that reads only through role or user ARNs gets a second
// statement narrowed to exactly those principals (aws:PrincipalArn), so
// nobody else there can report (plan.ReportBusStatements). With
// StatementId, CloudFormation adds each statement to the bus's policy and
// leaves any other statement there alone. The whole policy is limited to
// 10,240 characters (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html):
// about 250 reader accounts; plan.New has refused a config whose
// statements would not fit (quotas.EventBusPolicy) and quotacheck measures
// the template too. The reactor still checks each report's sender account
// against the target it names (reaction.Reads).
func allowReadersToReport(st awscdk.Stack, stackName string, ts []config.Target) []awscdk.CfnResource {
	root := func(a string) any {
		return awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("arn:"), awscdk.Aws_PARTITION(), jsii.String(":iam::" + a + ":root")})
	}
	var out []awscdk.CfnResource
	for _, stmt := range plan.ReportBusStatements(stackName, ts, root, reportBusArn(st)) {
		id := "ReadersReportExpiredToken"
		if stmt["Sid"] == plan.ReportBusRoleStatementID(stackName) {
			id = "RoleReadersReportExpiredToken"
		}
		sid := stmt["Sid"]
		// No Sid: CloudFormation names the statement StatementId, as in
		// the resource's documented example.
		delete(stmt, "Sid")
		// A plain CfnResource: awsevents.CfnEventBusPolicy prints a
		// deprecation warning on every synth (its legacy Principal
		// property), and the L2 EventBusPolicy cannot render an
		// AccountPrincipal in this CDK version.
		out = append(out, awscdk.NewCfnResource(st, jsii.String(id), &awscdk.CfnResourceProps{
			Type:       jsii.String("AWS::Events::EventBusPolicy"),
			Properties: &map[string]any{"EventBusName": events.DefaultBus, "StatementId": sid, "Statement": stmt},
		}))
	}
	return out
}

// ReportBusPolicySize is plan.ReportBusPolicySize.
func ReportBusPolicySize(ts []config.Target) int { return plan.ReportBusPolicySize(ts) }
